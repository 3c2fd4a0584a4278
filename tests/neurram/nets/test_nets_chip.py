import numpy as np
import pytest

from analog_models.params import AnalogParams
from neurram.nets import software as sw
from neurram.nets.chip import ChipNet, make_mid
from neurram.nets.graph import GraphError, MvmOp


@pytest.fixture(scope="module")
def ideal_net(digits_graph):
    net = ChipNet(digits_graph, make_mid("fast", 48, AnalogParams.ideal(), 0))
    net.program(method="backdoor")
    return net


def test_ideal_chip_runs_the_network(ideal_net, digits_graph, digits_split):
    x = digits_split.x_test[:6]
    logits = ideal_net.forward(x)
    ref = sw.forward(digits_graph, x)
    assert logits.shape == ref.shape == (6, 10)
    # the ideal core still quantises its outputs (6-bit ADC); the network's answers agree
    assert np.corrcoef(logits.ravel(), ref.ravel())[0, 1] > 0.95
    assert np.mean(logits.argmax(1) == ref.argmax(1)) >= 5 / 6


def test_layers_can_run_in_software_or_on_chip(ideal_net, digits_graph, digits_split):
    x = digits_split.x_test[:3]
    np.testing.assert_allclose(ideal_net.forward(x, chip_layers=()), digits_graph.run_numpy(x))
    i = ideal_net.op_index("conv2")
    a = ideal_net.forward(x, upto=i)
    b = ideal_net.forward(a, start=i, upto=i + 1, chip_layers=("conv2",))
    ref = digits_graph.run_numpy(a, start=i, upto=i + 1)
    assert b.shape == ref.shape and np.corrcoef(b.ravel(), ref.ravel())[0, 1] > 0.98


def test_program_one_layer_touches_only_its_cores(digits_graph):
    net = ChipNet(digits_graph, make_mid("fast", 48, None, 1))
    net.program(["conv3"], method="backdoor")
    cores = {b.core for b in net.placement.blocks if b.layer == "conv3"}
    assert set(net.mid.g_known) == cores and net.programmed == {"conv3"}
    op = next(o for o in digits_graph.mvm_ops() if o.name == "conv3")
    old = net.dep.layers["conv3"].matrix.copy()
    bumped = MvmOp(op.name, op.kind, op.weight * 0.9, op.bias, op.stride, op.padding, op.in_range,
                   op.in_bits)
    net.set_weights(bumped)
    assert "conv3" not in net.programmed
    new = net.dep.layers["conv3"].matrix
    assert new.shape == old.shape and np.allclose(new[:op.n_in], 0.9 * old[:op.n_in])
    with pytest.raises(GraphError, match="conv3"):
        net.set_weights(MvmOp(op.name, op.kind, op.weight * np.nan, op.bias, op.stride, op.padding,
                              op.in_range, op.in_bits))


def test_calibration_on_training_data_improves_the_layer(digits_graph, digits_split):
    net = ChipNet(digits_graph, make_mid("fast", 48, None, 2))
    net.program(["conv1"], method="write-verify")
    x = digits_split.x_test[:4]
    a = net.forward(x, upto=0)
    ref = net.dep.reference("conv1", a)
    err0 = np.sqrt(np.mean((net.dep.run("conv1", a) - ref) ** 2))
    cal = net.calibrate("conv1", net.forward(digits_split.x_train[:16], upto=0), n_vectors=256)
    err1 = np.sqrt(np.mean((net.dep.run("conv1", a) - ref) ** 2))
    assert err1 < err0
    # conv1 sits on several cores (replicas); they share one Vread after calibration
    assert len(net.vread_of("conv1")) == 1 and cal["shared_vread"] == net.vread_of("conv1")[0]


def test_vread_groups_split_blocks_by_their_own_vread():
    from neurram.nets.chip import _groups_of, _vread_groups
    v = [100, 150, 104, 148, 99]
    assert sorted(_vread_groups(v, 1)[0]) == [0, 1, 2, 3, 4]
    assert sorted(map(sorted, _vread_groups(v, 2))) == [[0, 2, 4], [1, 3]]
    assert len(_vread_groups([120, 120, 120], 3)) == 1          # no more groups than Vreads
    assert _groups_of([5, 7, 5]) == [[0, 2], [1]]

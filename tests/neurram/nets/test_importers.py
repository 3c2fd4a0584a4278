import numpy as np
import pytest
import torch
from torch import nn

from neurram.nets.chip import ChipNet, make_mid
from neurram.nets.graph import GraphError
from neurram.nets.importers import export_onnx, from_onnx, from_torch
from neurram.nets.model import QuantReLU
from neurram.nets.train import predict


def test_graph_reproduces_the_torch_model(digits_model, digits_graph, digits_split):
    x = digits_split.x_test[:64]
    np.testing.assert_allclose(digits_graph.run_numpy(x), predict(digits_model[0], x), atol=2e-4)
    kinds = [o.name for o in digits_graph.mvm_ops()]
    assert kinds == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "dense7"]
    assert digits_graph.input_range == pytest.approx(1.0) and digits_graph.input_bits == 3
    assert all(o.in_bits == 3 for o in digits_graph.mvm_ops())


def test_onnx_and_torch_give_the_same_conductances_and_placement(digits_model, digits_graph,
                                                                 digits_split, tmp_path):
    path = export_onnx(digits_model[0], tmp_path / "cnn.onnx", digits_split.image_shape)
    g_onnx = from_onnx(path)
    a = ChipNet(digits_graph, make_mid("fast", 48, None, 0))
    b = ChipNet(g_onnx, make_mid("fast", 48, None, 0))
    assert a.placement.report() == b.placement.report()
    for ba, bb in zip(a.placement.blocks, b.placement.blocks):
        ga, gb = a.dep.block_conductance(ba), b.dep.block_conductance(bb)
        assert ga.shape == gb.shape
        # ONNX stores float32: the two imports agree to float32 precision (µS)
        np.testing.assert_allclose(ga, gb, rtol=0, atol=2e-5)
    x = digits_split.x_test[:32]
    np.testing.assert_allclose(g_onnx.run_numpy(x), digits_graph.run_numpy(x), atol=1e-4)


def _seq(*layers):
    return nn.Sequential(QuantReLU(3, 1.0, trainable=False), *layers)


def test_unsupported_layer_is_named():
    m = _seq(nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 36, 10))
    with pytest.raises(GraphError, match=r"layer '2' \(Sigmoid\): unsupported"):
        from_torch(m, (1, 8, 8))


def test_nan_weights_are_named():
    m = _seq(nn.Conv2d(1, 4, 3), nn.ReLU6(), nn.Flatten(), nn.Linear(4 * 36, 10))
    with torch.no_grad():
        m[4].weight[0, 0] = float("nan")
    with pytest.raises(GraphError, match=r"layer 'dense2' \(4\): weight contains NaN"):
        from_torch(m, (1, 8, 8))


def test_model_too_big_says_how_many_cores():
    m = _seq(nn.Flatten(), nn.Linear(64, 4000), nn.ReLU6(), nn.Linear(4000, 4000))
    g = from_torch(m, (1, 8, 8))
    mid = make_mid("fast", 48, None, 0)
    with pytest.raises(GraphError, match=r"need \d+ cores .* chip has 48"):
        ChipNet(g, mid)
    assert not mid.g_known    # nothing was programmed or measured


def test_wrong_input_shape_and_unclipped_relu():
    m = _seq(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 10))
    with pytest.raises(GraphError, match="layer 'dense2'.*not a clipped ReLU"):
        from_torch(m, (1, 8, 8))
    g = from_torch(m, (1, 8, 8), relu_range=2.0)
    assert g.mvm_ops()[1].in_range == 2.0
    with pytest.raises(GraphError, match="layer 'conv1'.*expects 1 input channels"):
        from_torch(m, (3, 8, 8), relu_range=2.0)
    with pytest.raises(GraphError, match=r"input must have shape \(N, 1, 8, 8\)"):
        g.run_numpy(np.zeros((2, 1, 9, 9)))


def test_branches_are_rejected():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return x + self.c(x)

    with pytest.raises(GraphError, match="chain"):
        from_torch(Residual(), (1, 8, 8))


def test_clipped_relus_define_the_next_input_range():
    m = _seq(nn.Conv2d(1, 4, 3), nn.Hardtanh(0, 2.5), nn.Conv2d(4, 4, 3), nn.ReLU6(), nn.Flatten(),
             nn.Linear(64, 10))
    g = from_torch(m, (1, 8, 8), act_bits=4)
    assert [(o.in_range, o.in_bits) for o in g.mvm_ops()] == [(pytest.approx(1.0), 3), (2.5, 4), (6.0, 4)]


def test_batchnorm_is_folded():
    torch.manual_seed(0)
    # pooling in front of the quantiser keeps the model chip-exact (the chip quantises every
    # layer input, so an average of quantised values would be quantised again)
    m = _seq(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.AvgPool2d(2), QuantReLU(3, 2.0),
             nn.Flatten(), nn.Linear(36, 10), nn.BatchNorm1d(10))
    for bn in (m[2], m[7]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
    m.eval()
    g = from_torch(m, (1, 8, 8))
    assert len(g.ops) == 5      # conv+bn, act, pool, flatten, dense+bn
    x = np.random.default_rng(0).uniform(0, 1, (5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = m(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(g.run_numpy(x), ref, atol=1e-4)

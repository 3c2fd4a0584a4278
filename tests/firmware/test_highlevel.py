"""High level against the golden model: mapped dense / conv layers, split and placed."""

import numpy as np
import pytest

from firmware.highlevel import Deployment
from firmware.midlevel import MvmConfig, WriteVerifyConfig
from tests.firmware.conftest import golden_mid


def _rel_rmse(y, ref):
    return float(np.sqrt(np.mean((y - ref) ** 2)) / ref.std())


def test_dense_split_over_cores_with_bias():
    mid = golden_mid(n_cores=4, ideal=True)
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((300, 20)), rng.standard_normal(20) * 0.5
    dep = Deployment(mid, MvmConfig(in_bits=4, out_bits=8, vdecr=2048))
    layer = dep.add_dense("fc", w, b)
    assert layer.n_bias == 1 and layer.conductance_shape == (2 * 301, 20)
    pl = dep.place(replicate=False)
    assert len(pl.blocks) == 3 and len(pl.cores_used()) == 3
    dep.program(method="backdoor")
    x = rng.uniform(-1, 1, size=(10, 300))
    y = dep.run("fc", x)
    ref = dep.reference("fc", x)
    assert y.shape == (10, 20)
    # partial sums of the three segments are accumulated: the result tracks x @ w + b
    assert _rel_rmse(y, ref) < 0.1
    assert _rel_rmse(y, x @ w + b) < 0.2
    # one segment alone is far off: the accumulation is what makes the layer right
    blk = pl.blocks[0]
    assert blk.rows == (0, 100)
    q = np.round(np.clip(x, -1, 1) * 7) / 7
    assert _rel_rmse(q[:, :100] @ layer.matrix[:100], ref) > 0.5


def test_conv_layer_with_batchnorm_and_replicas():
    mid = golden_mid(n_cores=3, ideal=True)
    rng = np.random.default_rng(1)
    k = rng.standard_normal((3, 3, 2, 4))
    bn = dict(gamma=rng.uniform(0.5, 1.5, 4), beta=rng.normal(size=4) * 0.1,
              mean=rng.normal(size=4) * 0.1, var=rng.uniform(0.5, 1.5, 4))
    dep = Deployment(mid, MvmConfig(in_bits=4, out_bits=8, vdecr=2048))
    layer = dep.add_conv("conv", k, rng.normal(size=4) * 0.1, padding=1, batchnorm=bn,
                         input_hw=(6, 6))
    assert layer.intensity == 36
    pl = dep.place()
    assert {b.replica for b in pl.blocks} == {0, 1, 2}    # replicated on the spare cores
    dep.program(method="backdoor")
    x = rng.uniform(-1, 1, size=(2, 6, 6, 2))
    y = dep.run("conv", x)
    assert y.shape == (2, 6, 6, 4)
    assert _rel_rmse(y, dep.reference("conv", x)) < 0.1


def test_backward_transposed_product():
    mid = golden_mid(n_cores=1, ideal=True)
    rng = np.random.default_rng(2)
    w = rng.standard_normal((50, 30))
    dep = Deployment(mid, MvmConfig(in_bits=4, out_bits=8, vdecr=2048))
    dep.add_dense("rbm", w)
    dep.place(replicate=False)
    dep.program(method="backdoor")
    h = rng.uniform(-1, 1, size=(5, 30))
    v = dep.run("rbm", h, direction="BWD")
    assert v.shape == (5, 50)
    assert _rel_rmse(v, dep.reference("rbm", h, direction="BWD")) < 0.1


def test_write_verify_deployment_reports_every_cell():
    mid = golden_mid(n_cores=1, ideal=False, seed=4)
    rng = np.random.default_rng(3)
    dep = Deployment(mid)
    dep.add_dense("tiny", rng.standard_normal((3, 2)))
    dep.place(replicate=False)
    reports = dep.program(method="write-verify", wv=WriteVerifyConfig(max_pulses=50))
    assert len(reports) == 1
    blk, rep = reports[0]
    assert rep.n_cells == 12 and rep.ok.sum() + len(rep.failed) == 12
    x = rng.uniform(-1, 1, size=(4, 3))
    y = dep.run("tiny", x)
    assert y.shape == (4, 2) and np.all(np.isfinite(y))


def test_bad_layers_rejected():
    mid = golden_mid(n_cores=1, ideal=True)
    dep = Deployment(mid)
    with pytest.raises(ValueError, match="NaN"):
        dep.add_dense("a", np.array([[np.inf]]))
    with pytest.raises(ValueError, match="gmin < gmax"):
        dep.add_dense("b", np.ones((2, 2)), gmin=5, gmax=2)
    with pytest.raises(ValueError, match="cores"):
        dep.add_dense("c", np.ones((300, 300)))
        dep.place()
    with pytest.raises(ValueError, match="expects 2 inputs"):
        d2 = Deployment(golden_mid(n_cores=1, ideal=True))
        d2.add_dense("d", np.ones((2, 2)))
        d2.place()
        d2.program(method="backdoor")
        d2.run("d", np.ones((1, 3)))


_PLACE_EQUAL_LAYERS = """
import numpy as np
from firmware.highlevel import Layer, place
layers = [Layer(f"conv{i}", np.ones((10, 8)), 0, 1.0, kind="conv", intensity=49.0) for i in range(6)]
pl = place(layers, 20)
print([(b.layer, b.core, b.replica) for b in pl.blocks])
"""


def test_replica_placement_does_not_depend_on_the_hash_seed():
    """Layers of equal intensity get their replicas in the model's order: the placement
    (which cores hold which layer, so every programmed chip instance) is the same in
    every interpreter, whatever PYTHONHASHSEED orders sets of names in."""
    import ast
    import os
    import subprocess
    import sys

    outs = {subprocess.run([sys.executable, "-c", _PLACE_EQUAL_LAYERS], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout
            for h in range(4)}
    assert len(outs) == 1
    blocks = ast.literal_eval(outs.pop())
    # 6 layers on 6 cores and 14 spare: two more copies of every layer, then a third of
    # the first two, in the model's order
    reps = {f"conv{i}": max(r for n, _, r in blocks if n == f"conv{i}") for i in range(6)}
    assert reps == {"conv0": 3, "conv1": 3, "conv2": 2, "conv3": 2, "conv4": 2, "conv5": 2}

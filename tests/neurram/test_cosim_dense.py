"""End to end through the firmware in cosimulation: a dense layer with more than 256
inputs (so it is split), run by the same firmware code (``neurram.mvm_cli.job``) on the
cocotb cosimulation and on the golden model; every output code must agree."""

import base64

import numpy as np
import pytest

pytestmark = pytest.mark.cosim


def _run_both(n_cores, **kw):
    from cosim.session import run_with_cosim
    from cosim.transport import GoldenTransport
    from neurram import mvm_cli

    kwargs = dict(rows=300, cols=8, vectors=3, in_bits=4, out_bits=6, direction="FWD",
                  seed=11, program="backdoor", backend="cosim", calibrate=True,
                  calib_vectors=4, progress=False)
    kwargs.update(kw)
    cos = run_with_cosim("neurram.mvm_cli:job", kwargs, n_cores=n_cores, seed=11)
    gold = mvm_cli.job(GoldenTransport(n_cores=n_cores, params=mvm_cli._params(None), seed=11),
                       **kwargs)
    c1 = np.frombuffer(base64.b64decode(cos["codes_b64"]), np.int16)
    c2 = np.frombuffer(base64.b64decode(gold["codes_b64"]), np.int16)
    return cos, c1, c2


def _check_layer(cos, c1, c2, n_blocks):
    blocks = cos["placement"]["blocks"]
    assert len(blocks) == n_blocks
    # rows 0..299 (+ no bias) are covered exactly once by the segments
    covered = sorted((b["rows"][0], b["rows"][1]) for b in blocks)
    assert covered[0][0] == 0 and covered[-1][1] == 300
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
    assert c1.size == 3 * n_blocks * 256 and np.array_equal(c1, c2)   # bit-exact vs golden
    y, ideal = np.array(cos["y"]), np.array(cos["ideal"])
    # the partial sums are accumulated: the split layer still computes x @ W
    assert np.sqrt(np.mean((y - ideal) ** 2)) < 0.35 * ideal.std()


def test_split_dense_layer_time_multiplexed_on_one_core():
    """300 inputs = 3 segments of 200 differential rows, merged side by side on one core
    (the paper's horizontal merge) and accessed one after the other."""
    cos, c1, c2 = _run_both(1)
    assert {b["merge"] for b in cos["placement"]["blocks"]} >= {"horizontal"}
    _check_layer(cos, c1, c2, 3)


@pytest.mark.slow   # needs the 4-core build: `make regress`
def test_split_dense_layer_parallel_on_three_cores():
    cos, c1, c2 = _run_both(4)
    assert {b["core"] for b in cos["placement"]["blocks"]} == {0, 1, 2}
    _check_layer(cos, c1, c2, 3)

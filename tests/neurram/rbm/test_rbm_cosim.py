"""One Gibbs step of the RBM (backward MVM with stochastic hidden units, forward MVM with
stochastic visible units, on the same programmed cells) through the firmware on the
cocotb cosimulation of the RTL, on the golden frame path and on the batched backend:
every output code and every sample must agree."""

import numpy as np
import pytest

pytestmark = pytest.mark.cosim   # ~10 s; the 1-core build is shared with the other cosim tests

KW = dict(seed=3, n_hidden=16, images=2, lfsr_seed=5)
CHIP_SEED = 11


def test_gibbs_step_codes_equal_on_cosim_golden_and_fast():
    from cosim.session import run_with_cosim
    from cosim.transport import GoldenTransport
    from neurram.rbm import cosim_job

    cos = run_with_cosim("neurram.rbm.cosim_job:gibbs_step", KW, n_cores=1, seed=CHIP_SEED)
    gold = cosim_job.gibbs_step(GoldenTransport(n_cores=1, seed=CHIP_SEED), **KW)
    fast = cosim_job.gibbs_step_fast(CHIP_SEED, **KW)
    assert cos["mvms"] == gold["mvms"] == fast["mvms"] == 2        # one backward, one forward
    for c, g, f in zip(cos["codes"], gold["codes"], fast["codes"]):
        assert np.array_equal(c, g) and np.array_equal(g, f)
    assert cos["hidden"] == gold["hidden"] == fast["hidden"]
    assert cos["visible"] == gold["visible"] == fast["visible"]
    # the step did something: some hidden and visible units fire, not all
    h = np.array(cos["hidden"])
    assert 0 < h.mean() < 1

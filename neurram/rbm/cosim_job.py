"""One Gibbs step of a small RBM through the firmware, on any chip backend.

:func:`gibbs_step` runs on the cocotb cosimulation (``cosim.session.run_with_cosim
("neurram.rbm.cosim_job:gibbs_step", ...)``), on the golden frame path
(``GoldenTransport``) and, through :func:`gibbs_step_fast`, on the batched backend; the
cosimulation test compares their output codes bit for bit. The RBM is a seeded random
74 x ``n_hidden`` model on the 8 x 8 digits layout (one core), loaded by backdoor, with
fixed operating points (no calibration MVMs, to keep the cosimulation short).
"""

from __future__ import annotations

import numpy as np

from . import chip as chipmod
from .mapping import map_rbm
from .model import RBM, N_LABELS, corrupt, initial_visible, quantise_visible
from .sampler import ChipRBM

SHAPE = (8, 8)
#: operating points (DAC codes) of the two directions for the seeded test model
OPERATING = {"BWD": dict(vread=60, vdecr=1000, vnoise=6, noise_steps=16, out_bits=6),
             "FWD": dict(vread=150, vdecr=500, vnoise=5, noise_steps=16, out_bits=6)}


def _model(seed: int, n_hidden: int) -> RBM:
    rng = np.random.default_rng(seed)
    nv = SHAPE[0] * SHAPE[1] + N_LABELS
    w = np.clip(rng.normal(0, 0.4, (nv, n_hidden)), -1, 1).astype(np.float32)
    return RBM(w, rng.normal(0, 0.5, n_hidden).astype(np.float32),
               rng.normal(-1, 0.5, nv).astype(np.float32), 1.0)


def _step(backend, *, seed: int, n_hidden: int, images: int, lfsr_seed: int) -> dict:
    rbm = _model(seed, n_hidden)
    m = map_rbm(rbm, SHAPE)
    crbm = ChipRBM(m, backend, lfsr_seed=lfsr_seed, visible_mode="stochastic")
    crbm.program("backdoor")
    for d, kw in OPERATING.items():
        crbm.assume_operating_point(d, **kw)
    rng = np.random.default_rng(seed + 1)
    x = (rng.random((images, SHAPE[0] * SHAPE[1])) < 0.3).astype(np.float32)
    c = corrupt(x, rng.integers(0, 10, images), SHAPE, "noise20", seed=seed)
    mid = backend.mid
    mid.record_codes = True
    mid.codes_log.clear()
    h = crbm.sample_hidden(quantise_visible(initial_visible(c)))
    v = crbm.sample_visible(h)
    codes = [np.asarray(r).reshape(len(r), -1) for r in mid.codes_log]
    return {"codes": [r.tolist() for r in codes], "hidden": h.tolist(), "visible": v.tolist(),
            "mvms": len(codes)}


def gibbs_step(transport, *, seed: int = 3, n_hidden: int = 16, images: int = 2,
               lfsr_seed: int = 5) -> dict:
    """Frame path (golden or cosimulation) behind ``transport``."""
    return _step(chipmod.frame_backend(transport), seed=seed, n_hidden=n_hidden, images=images,
                 lfsr_seed=lfsr_seed)


def gibbs_step_fast(chip_seed: int, **kw) -> dict:
    """The batched backend with the chip seed of the transport's chip."""
    return _step(chipmod.fast_backend(1, seed=chip_seed), **kw)

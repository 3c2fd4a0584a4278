"""The analog models of a whole chip: one seeded :class:`~analog_models.CoreModel` per core.

Every backend that simulates the chip (the golden model, the cosimulation harness, the
batched backend :mod:`firmware.fastchip`) makes its cores here, so the same chip seed
gives the same cells, neurons and noise streams everywhere and their output codes can be
compared bit for bit.
"""

from __future__ import annotations

import numpy as np

from rtl.analog_bus import N_LINES

from .core import CoreModel
from .params import AnalogParams

CORE_SEED_STRIDE = 1_000_003   # seed of core i = seed * stride + i

#: Host waits at least this long (1 ms) let freshly programmed cells relax (every backend
#: applies it at the same point, keeping them bit-exact).
RELAX_WAIT_NS = 1_000_000.0


def core_seed(seed: int, core: int) -> int:
    return (int(seed) * CORE_SEED_STRIDE + int(core)) & 0x7FFFFFFF


def initial_conductance(params, seed: int) -> np.ndarray:
    """The as-formed state of a fresh array: cells spread over [g_min, g_max] (seeded).

    A fresh chip holds no weights; an arbitrary but reproducible state makes an MVM on
    an unprogrammed core non-trivial, so a missing programming step shows in the results.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E72]))
    return rng.uniform(params.g_min, params.g_max, size=(N_LINES, N_LINES))


def make_core_models(n_cores: int, params=None, seed: int = 0) -> list:
    """One ``analog_models.CoreModel`` per core, seeded per core from ``seed``."""
    params = params if params is not None else AnalogParams()
    models = []
    for i in range(n_cores):
        s = core_seed(seed, i)
        models.append(CoreModel(initial_conductance(params, s), params, seed=s))
    return models

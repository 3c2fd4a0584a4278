"""Golden model of the stochastic-activation noise source (the two LFSR chains).

The chains, taps and seed expansion are described in :mod:`rtl.lfsr` (the RTL); this
module is their numpy model, which the controller's golden model and the analog models'
vectorised path use to inject the chip's noise bits. Numpy only.
"""

from __future__ import annotations

import numpy as np

from .contract.constants import N_LINES
from .contract.corelet import NEURON_SL
from .contract.registers import CORE

SEED_BITS = 16
DEFAULT_SEED_A = CORE.reg("SEED_A").field("seed").reset
DEFAULT_SEED_B = CORE.reg("SEED_B").field("seed").reset
CHAIN_TAPS = (255, 253, 250, 245)   # chain A feedback taps; chain B uses 255-t
_SEED_TAPS = (16, 14, 13, 11)       # x[i] = XOR of x[i-t]

# Column of each neuron: the bus carries noise neuron-indexed.
NEURON_COLUMN = NEURON_SL


def _seed_masks(count: int) -> list[int]:
    """Mask of seed bits XORed into expansion bit x[i], for i < count."""
    masks = [1 << i for i in range(SEED_BITS)]
    for i in range(SEED_BITS, count):
        m = 0
        for t in _SEED_TAPS:
            m ^= masks[i - t]
        masks.append(m)
    return masks


_MASKS = _seed_masks(2 * N_LINES)


def _seed_columns(masks: list[int]) -> list[int]:
    """Transpose: bit c of column i is set when chain bit c depends on seed bit i."""
    return [sum(1 << c for c, mk in enumerate(masks) if (mk >> i) & 1)
            for i in range(SEED_BITS)]


def _effective_seed(seed: int) -> int:
    return seed if seed != 0 else 0xFFFF


def expand_seeds(seed_a: int, seed_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Chain states (A, B) as bool arrays indexed by column, after loading the seeds."""
    for name, s in (("seed_a", seed_a), ("seed_b", seed_b)):
        if not isinstance(s, (int, np.integer)) or not 0 <= s < (1 << SEED_BITS):
            raise ValueError(f"{name} must be a 16-bit integer, not {s!r}")
    sa, sb = _effective_seed(int(seed_a)), _effective_seed(int(seed_b))
    a = np.array([bin(_MASKS[c] & sa).count("1") & 1 for c in range(N_LINES)], dtype=bool)
    b = np.zeros(N_LINES, dtype=bool)
    for c in range(N_LINES):
        b[N_LINES - 1 - c] = bin(_MASKS[N_LINES + c] & sb).count("1") & 1
    return a, b


class LfsrModel:
    """Golden model of :class:`LfsrPair`: chain state, load and one-step advance."""

    def __init__(self, seed_a: int = DEFAULT_SEED_A, seed_b: int = DEFAULT_SEED_B):
        self.load(seed_a, seed_b)

    def load(self, seed_a: int, seed_b: int) -> None:
        self.a, self.b = expand_seeds(seed_a, seed_b)

    def columns(self) -> np.ndarray:
        """Column bits ``A ^ B`` (bool, column-indexed)."""
        return self.a ^ self.b

    def noise(self) -> np.ndarray:
        """Noise bits as the bus carries them (bool, neuron-indexed)."""
        return self.columns()[NEURON_COLUMN]

    def advance(self) -> None:
        fa = np.logical_xor.reduce(self.a[list(CHAIN_TAPS)])
        fb = np.logical_xor.reduce(self.b[[N_LINES - 1 - t for t in CHAIN_TAPS]])
        self.a = np.concatenate(([fa], self.a[:-1]))
        self.b = np.concatenate((self.b[1:], [fb]))


def generate(seed_a: int, seed_b: int, steps: int) -> np.ndarray:
    """Neuron-indexed noise bits of ``steps`` consecutive steps after a seed load.

    Row ``t`` is what :class:`LfsrPair` shows on ``noise`` after ``t`` advances, i.e. the
    bits of the ``t``-th NOISE step of a stochastic MVM following ``lfsr_load``.
    Returns ``np.ndarray[steps, 256]`` of uint8.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, not {steps!r}")
    model = LfsrModel(seed_a, seed_b)
    out = np.zeros((steps, N_LINES), dtype=np.uint8)
    for t in range(steps):
        out[t] = model.noise()
        model.advance()
    return out

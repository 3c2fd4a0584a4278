"""Stochastic-activation noise source: two counter-propagating LFSR chains (SPEC §4).

The chip places one LFSR register per column in the SL periphery and links them into two
chains that shift in opposite directions across the 256 columns; each column XORs its two
registers. One chain alone would hand neuron ``c+1`` at step ``t+1`` the bit neuron ``c``
had at step ``t``; the counter-propagating chain breaks that diagonal correlation, which
is why the paper uses two.

Chains (our choice of polynomial, the paper gives none):

* chain A shifts towards higher columns: ``A'[0] = A[255]^A[253]^A[250]^A[245]``,
  ``A'[c] = A[c-1]`` (Fibonacci form of x^256 + x^254 + x^251 + x^246 + 1).
* chain B is its mirror image and shifts towards lower columns:
  ``B'[255] = B[0]^B[2]^B[5]^B[10]``, ``B'[c] = B[c+1]``.
* column bit ``col[c] = A[c] ^ B[c]``; the noise bit of neuron ``k`` is the bit of its SL
  column, ``noise[k] = col[16*(k%16) + k//16]`` (the bus is neuron-indexed).

Seed expansion (``lfsr_load``): the 16-bit seed ``s`` starts the maximal-length 16-bit
recurrence ``x[i] = s_i`` for i < 16, ``x[i] = x[i-16]^x[i-14]^x[i-13]^x[i-11]`` (x^16 +
x^14 + x^13 + x^11 + 1). Chain A takes ``A[c] = x[c](seed_a)`` and chain B takes
``B[255-c] = x[256+c](seed_b)``, so equal seeds still give unrelated chains. The
recurrence is invertible (it contains ``x[i-16]``), so a non-zero seed never yields 16
consecutive zeros and the chain state is never all-zero; a zero seed is replaced by
``0xFFFF`` for the same reason. Every chain bit is an XOR of seed bits fixed at
elaboration, so the load is one cycle of plain XOR trees. After reset the chains hold the
expansion of the register reset seeds (0xACE1, 0x1D0F).

:class:`LfsrPair` is the RTL; :class:`LfsrModel` and :func:`generate` the golden model.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import N_LINES, neuron_sl

SEED_BITS = 16
DEFAULT_SEED_A = 0xACE1
DEFAULT_SEED_B = 0x1D0F
CHAIN_TAPS = (255, 253, 250, 245)   # chain A feedback taps; chain B uses 255-t
_SEED_TAPS = (16, 14, 13, 11)       # x[i] = XOR of x[i-t]

# Column of each neuron: the bus carries noise neuron-indexed.
NEURON_COLUMN = np.array([neuron_sl(k) for k in range(N_LINES)], dtype=np.int64)


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


# Chain A bit c = x[c]; chain B bit c = x[511 - c] (B[255-c] = x[256+c]).
_SEED_COLUMNS_A = [Const(v, N_LINES) for v in _seed_columns(_MASKS[:N_LINES])]
_SEED_COLUMNS_B = [Const(v, N_LINES) for v in
                   _seed_columns([_MASKS[2 * N_LINES - 1 - c] for c in range(N_LINES)])]


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


def _bits_to_int(bits) -> int:
    return int(sum(1 << i for i, v in enumerate(bits) if v))


class LfsrPair(wiring.Component):
    """Two counter-propagating 256-bit LFSR chains, XORed per column.

    Parameters
    ----------
    domain : str
        Clock domain of the chain registers (the core passes its gated domain).

    Members
    -------
    seed_a, seed_b : In(16)
        SEED_A / SEED_B register values, used by ``load``.
    load : In(1)
        Load both chains from the seed expansion (has priority over ``advance``).
    advance : In(1)
        Advance both chains by one step at the end of this cycle.
    cols : Out(256)
        Column bits ``A ^ B`` (column-indexed).
    noise : Out(256)
        Noise bits, neuron-indexed: ``noise[k] = cols[16*(k%16) + k//16]``.
    """

    def __init__(self, *, domain: str = "sync"):
        if not isinstance(domain, str) or not domain:
            raise TypeError(f"domain must be a non-empty str, not {domain!r}")
        self._domain = domain
        super().__init__({
            "seed_a": In(SEED_BITS),
            "seed_b": In(SEED_BITS),
            "load": In(1),
            "advance": In(1),
            "cols": Out(N_LINES),
            "noise": Out(N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        a0, b0 = expand_seeds(DEFAULT_SEED_A, DEFAULT_SEED_B)
        a = Signal(N_LINES, init=_bits_to_int(a0))
        b = Signal(N_LINES, init=_bits_to_int(b0))
        sd = m.d[self._domain]

        sa = Signal(SEED_BITS)
        sb = Signal(SEED_BITS)
        m.d.comb += [
            sa.eq(self.seed_a | (self.seed_a == 0).replicate(SEED_BITS)),
            sb.eq(self.seed_b | (self.seed_b == 0).replicate(SEED_BITS)),
        ]
        # The expansion is linear over GF(2): chain = XOR of the columns of seed bits that
        # are set. Sixteen wide constant masks keep it a few word operations in Verilator
        # (the seed registers are on the ungated clock, so the simulator re-evaluates this
        # on every edge); a per-bit XOR tree was ~40% of the idle core's simulation time.
        load_a = 0
        load_b = 0
        for i in range(SEED_BITS):
            load_a ^= Mux(sa[i], _SEED_COLUMNS_A[i], 0)
            load_b ^= Mux(sb[i], _SEED_COLUMNS_B[i], 0)

        fa = a[CHAIN_TAPS[0]] ^ a[CHAIN_TAPS[1]] ^ a[CHAIN_TAPS[2]] ^ a[CHAIN_TAPS[3]]
        fb = b[255 - CHAIN_TAPS[0]] ^ b[255 - CHAIN_TAPS[1]] ^ b[255 - CHAIN_TAPS[2]] ^ b[255 - CHAIN_TAPS[3]]
        with m.If(self.load):
            sd += [a.eq(load_a), b.eq(load_b)]
        with m.Elif(self.advance):
            # Whole-vector shifts: one wide operation per chain, cheap under Verilator.
            sd += [a.eq(Cat(fa, a[:-1])), b.eq(Cat(b[1:], fb))]

        cols = Signal(N_LINES)
        m.d.comb += [
            cols.eq(a ^ b),
            self.cols.eq(cols),
            self.noise.eq(Cat(*[cols[int(c)] for c in NEURON_COLUMN])),
        ]
        return m

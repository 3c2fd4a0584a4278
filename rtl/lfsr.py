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

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .contract.constants import N_LINES
from .lfsr_model import (_MASKS, CHAIN_TAPS, DEFAULT_SEED_A, DEFAULT_SEED_B, NEURON_COLUMN,
                         SEED_BITS, LfsrModel, _seed_columns, expand_seeds, generate)

__all__ = ["CHAIN_TAPS", "DEFAULT_SEED_A", "DEFAULT_SEED_B", "LfsrModel", "LfsrPair",
           "NEURON_COLUMN", "SEED_BITS", "expand_seeds", "generate"]

# Chain A bit c = x[c]; chain B bit c = x[511 - c] (B[255-c] = x[256+c]).
_SEED_COLUMNS_A = [Const(v, N_LINES) for v in _seed_columns(_MASKS[:N_LINES])]
_SEED_COLUMNS_B = [Const(v, N_LINES) for v in
                   _seed_columns([_MASKS[2 * N_LINES - 1 - c] for c in range(N_LINES)])]


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

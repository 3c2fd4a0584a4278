"""LFSR chains: from any non-zero seed (a zero seed is replaced), neither chain is ever
all-zero, whatever the sequence of loads, advances and resets."""

from __future__ import annotations

import contextlib

from amaranth.hdl import Assert, Const, Elaboratable, Module, Signal

import rtl.lfsr
from rtl.lfsr import SEED_BITS, LfsrPair

from . import probe
from .mutate import patched
from .sby import Proof


class LfsrHarness(Elaboratable):
    def __init__(self):
        self.seed_a = Signal(SEED_BITS)
        self.seed_b = Signal(SEED_BITS)
        self.load = Signal()
        self.advance = Signal()
        self.ports = [self.seed_a, self.seed_b, self.load, self.advance]

    def elaborate(self, platform):
        m = Module()
        dut = LfsrPair()
        m.submodules.dut, p = probe.elaborate(dut, rtl.lfsr, platform)
        m.d.comb += [dut.seed_a.eq(self.seed_a), dut.seed_b.eq(self.seed_b),
                     dut.load.eq(self.load), dut.advance.eq(self.advance)]
        m.d.comb += [Assert(p["a"] != 0, "chain A all-zero"),
                     Assert(p["b"] != 0, "chain B all-zero")]
        return m


def _harness():
    h = LfsrHarness()
    return h, h.ports


@contextlib.contextmanager
def _drop_seed_bit0():
    """The seed expansion forgets seed bit 0 in chain A (seed 0x0001 loads zeros)."""
    saved = list(rtl.lfsr._SEED_COLUMNS_A)
    rtl.lfsr._SEED_COLUMNS_A[0] = Const(0, rtl.lfsr.N_LINES)
    try:
        yield
    finally:
        rtl.lfsr._SEED_COLUMNS_A[:] = saved


def _tap_off_the_end():
    """Chain A's feedback misses its last register (x^255 instead of x^256): a chain
    holding only bit 255 shifts to all-zero (not reachable within the base case's depth
    from a load, so induction is what fails)."""
    return patched(rtl.lfsr, "CHAIN_TAPS", (254, 253, 250, 245))


PROOFS = [
    Proof("lfsr_nonzero", _harness, "prove", 3,
          "LFSR chains A and B are never all-zero (loads of any seed, advances, resets)",
          mutants={"seed_bit0_dropped": _drop_seed_bit0, "feedback_tap_255": _tap_off_the_end}),
]

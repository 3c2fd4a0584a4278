"""Clock gate: the gated clock never glitches.

The harness gives ``clk`` a free value at every step (``multiclock``), drives the gate's
inputs from rising-edge flops (the environment the core gives it: ``en``, POWER.enable,
``power_down`` and the flopped reset are all registers of ``clk``) and checks that the
latched enable never changes while ``clk`` is high. Then ``gclk = clk & en_l`` rises only
with ``clk`` and falls only with ``clk``: every gated pulse is a whole clock pulse.
"""

from __future__ import annotations

import contextlib

from amaranth.hdl import (Assert, ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal,
                          Signal)

import rtl.clockgate
from rtl.clockgate import ClockGate

from .sby import Proof


class ClockGateHarness(Elaboratable):
    def __init__(self):
        self.clk = Signal()
        self.en = Signal()
        self.power_enable = Signal()
        self.power_down = Signal()
        self.rst = Signal()
        self.xfer = Signal(3)
        self.ports = [self.clk, self.en, self.power_enable, self.power_down, self.rst,
                      self.xfer]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.domains.gate = ClockDomain("gate")
        m.d.comb += [ClockSignal("sync").eq(self.clk), ClockSignal("gate").eq(self.clk)]
        rst_q = Signal()
        m.d.sync += rst_q.eq(self.rst)
        m.d.comb += ResetSignal("gate").eq(rst_q)

        m.submodules.dut = dut = rtl.clockgate.ClockGate(n_xfer=3, domain="gate")
        en, pe, pd, xf = Signal(), Signal(), Signal(), Signal(3)
        m.d.sync += [en.eq(self.en), pe.eq(self.power_enable), pd.eq(self.power_down),
                     xf.eq(self.xfer)]
        m.d.comb += [dut.en.eq(en), dut.power_enable.eq(pe), dut.power_down.eq(pd),
                     dut.xfer_i.eq(xf)]

        # The latched enable as the rising edge saw it (updated in the step clk rises).
        en_l = ~dut.clk_gated
        en_at_rise = Signal()
        xfer_at_rise = Signal(3)
        m.d.sync += [en_at_rise.eq(en_l), xfer_at_rise.eq(dut.xfer_o)]
        m.d.comb += [
            Assert(~self.clk | (en_l == en_at_rise), "enable changed while clk is high"),
            Assert(dut.gclk == (self.clk & en_l)),
            # The command crossing is stable across the rising edge that samples it.
            Assert(~self.clk | (dut.xfer_o == xfer_at_rise), "crossing changed while clk high"),
        ]
        return m


def _harness():
    h = ClockGateHarness()
    return h, h.ports


@contextlib.contextmanager
def _latch_on_rising_edge():
    """The enable latch is a rising-edge flop (transparent while clk is high)."""
    original = rtl.clockgate.ClockDomain

    def rising(*args, clk_edge="pos", **kwargs):
        return original(*args, clk_edge="pos", **kwargs)

    rtl.clockgate.ClockDomain = rising
    try:
        yield
    finally:
        rtl.clockgate.ClockDomain = original


PROOFS = [
    Proof("clockgate_glitch_free", _harness, "prove", 4,
          "the gate's enable latch (and the command crossing) never changes while clk is "
          "high, so gclk = clk & en_l only passes whole clock pulses",
          mutants={"latch_rising_edge": _latch_on_rising_edge}, multiclock=True),
]

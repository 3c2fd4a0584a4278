"""ClockGate: no gated edge while disabled, no glitch whenever the enable changes."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.sim import Simulator

from rtl.clockgate import ClockGate, ClockGateModel


class _Top(Elaboratable):
    def __init__(self):
        self.cd = ClockDomain("sync")
        self.cg = ClockGate(n_xfer=2)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        m.submodules.cg = self.cg
        return m


def test_gating_and_glitches():
    top = _Top()
    cg, clk = top.cg, top.cd.clk
    rng = np.random.default_rng(7)
    log = {"rises": [], "wake_at_fall": [], "glitch": [], "xfer": []}

    async def monitor(ctx):
        # Sample every 0.25 ns, offset from the ns grid on which clk and en change, so no
        # sample races a change; the zero-delay model has no sub-sample pulses to miss.
        await ctx.delay(0.125e-9)
        prev = None
        wake = None
        while True:
            c, g, e, pe, pd = (ctx.get(s) for s in (clk, cg.gclk, cg.en, cg.power_enable,
                                                    cg.power_down))
            if g and not c:
                log["glitch"].append(("gclk high while clk low",))
            if prev is not None:
                pc, pg, pe_, ppe, ppd = prev
                if c != pc:
                    if c:     # rising edge of clk
                        if wake is not None:
                            log["wake_at_fall"].append(wake)
                            log["rises"].append(bool(g))
                    else:     # falling edge: the latch holds what wake was just before
                        wake = bool(pe_ or ppe == ppd)
                elif g != pg:
                    log["glitch"].append(("gclk moved without clk", c, g))
            prev = (c, g, e, pe, pd)
            await ctx.delay(0.25e-9)

    async def driver(ctx):
        ctx.set(cg.power_enable, 1)
        en = 0
        for i in range(400):
            edge = ctx.posedge(clk) if rng.integers(2) else ctx.negedge(clk)
            await edge
            await ctx.delay(float(rng.integers(1, 5)) * 1e-9)   # mid-phase, never on an edge
            en = int(rng.random() < 0.5)
            ctx.set(cg.en, en)
            if i == 300:
                ctx.set(cg.en, 0)
                ctx.set(cg.power_enable, 0)    # power change pending: wakes the clock
            if i >= 300:
                ctx.set(cg.en, 0)
            if i == 350:
                ctx.set(cg.power_down, 1)      # the controller has followed
            xi = int(rng.integers(4))
            ctx.set(cg.xfer_i, xi)
            await ctx.negedge(clk)
            log["xfer"].append((xi, ctx.get(cg.xfer_o)))
        # A long disabled stretch: not one gated edge.
        ctx.set(cg.power_enable, 1)
        ctx.set(cg.power_down, 0)
        ctx.set(cg.en, 0)
        await ctx.negedge(clk)
        n_before = sum(log["rises"])
        for _ in range(50):
            await ctx.tick()
        assert sum(log["rises"]) == n_before
        assert ctx.get(cg.clk_gated) == 1

    sim = Simulator(top)
    sim.add_clock(10e-9)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()

    assert log["glitch"] == []
    expected = ClockGateModel.passed_edges(log["wake_at_fall"])
    observed = [i for i, r in enumerate(log["rises"]) if r]
    assert observed == expected
    # Both outcomes occurred, including power-change wake-ups with en = 0.
    assert 0 < len(observed) < len(log["rises"])
    assert all(xi == xo for xi, xo in log["xfer"])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_args():
    with pytest.raises(ValueError):
        ClockGate(n_xfer=0)
    with pytest.raises(TypeError):
        ClockGate(domain=3)

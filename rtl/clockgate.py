"""Idle-mode clock gate and power-gate status of one core (SPEC §3, architecture §1).

Clock gate: a modelled latch-based integrated clock-gating cell. The enable is captured
while ``clk`` is low and ANDed with ``clk``::

    always @(negedge clk) en_l <= wake;      // the cell's latch, transparent while clk=0
    gclk = clk & en_l;

A negative-edge flop stands in for the low-transparent latch: both present to the AND
gate the enable as it was during the low phase, and ``wake`` is driven by rising-edge
flops, so the two cannot differ. Because ``en_l`` only changes while ``clk`` is low, the
AND never produces a shortened or extra pulse, whenever the enable changes.

``wake`` is ``en | rst | power change pending``: the controller asks for its clock while
busy or while a command is pending; reset keeps the clock running so the gated flops'
synchronous reset takes effect; and a pending POWER change wakes the controller for the
one cycle in which it announces the POWER event.

Command crossing: the gated flops update one delta cycle after the ungated ones in an
event-driven simulator (the gated clock is derived combinationally from ``clk``), so a
gated flop sampling an ungated flop that changes on the same edge would race. Every
signal that the ungated register block hands the controller on a single edge (the CMD
pulses) is therefore re-launched on the falling edge here (``xfer_i`` -> ``xfer_o``);
the controller samples it half a cycle later at the next rising edge, in the Amaranth
simulator and in Verilator alike. Static configuration needs no crossing.

Power gate: ``power_down`` itself is the controller's register (it announces every change
with a POWER event, docs/analog_bus.md); this block reports ``pwr_gated`` and wakes the
controller while POWER.enable and ``power_down`` disagree.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ClockGate(wiring.Component):
    """Latch-based clock gate with a falling-edge command crossing.

    Parameters
    ----------
    n_xfer : int
        Width of the command crossing ``xfer_i`` -> ``xfer_o`` (>= 1).
    domain : str
        The ungated domain whose clock is gated (``sync``).

    Members
    -------
    en : In(1)
        The controller wants its clock (busy, or a command is pending).
    power_enable : In(1)
        POWER.enable.
    power_down : In(1)
        The controller's current ``power_down`` output.
    gclk : Out(1)
        Gated clock ``clk & en_l``.
    wake : Out(1)
        The enable before the latch (``en | rst | power change pending``): the block
        needs the next clock edge. A gate in front of this block's whole clock (the chip
        gating an idle core) opens on it.
    clk_gated : Out(1)
        Status: the gated clock is stopped (``~en_l``).
    pwr_gated : Out(1)
        Status: the analog circuits are power-gated (``power_down``).
    xfer_i : In(n_xfer)
        Single-cycle signals of the ungated domain for the controller.
    xfer_o : Out(n_xfer)
        ``xfer_i`` re-launched on the falling edge of ``clk``.
    """

    def __init__(self, *, n_xfer: int = 3, domain: str = "sync"):
        if not isinstance(n_xfer, int) or n_xfer < 1:
            raise ValueError(f"n_xfer must be a positive int, not {n_xfer!r}")
        if not isinstance(domain, str) or not domain:
            raise TypeError(f"domain must be a non-empty str, not {domain!r}")
        self._domain = domain
        super().__init__({
            "en": In(1),
            "power_enable": In(1),
            "power_down": In(1),
            "gclk": Out(1),
            "wake": Out(1),
            "clk_gated": Out(1),
            "pwr_gated": Out(1),
            "xfer_i": In(n_xfer),
            "xfer_o": Out(n_xfer),
        })

    def elaborate(self, platform):
        m = Module()
        m.domains.cg_neg = ClockDomain("cg_neg", clk_edge="neg", reset_less=True, local=True)
        m.d.comb += ClockSignal("cg_neg").eq(ClockSignal(self._domain))

        wake = self.wake
        en_l = Signal()
        m.d.comb += wake.eq(self.en | ResetSignal(self._domain)
                            | (self.power_enable == self.power_down))
        m.d.cg_neg += [
            en_l.eq(wake),
            self.xfer_o.eq(self.xfer_i),
        ]
        m.d.comb += [
            self.gclk.eq(ClockSignal(self._domain) & en_l),
            self.clk_gated.eq(~en_l),
            self.pwr_gated.eq(self.power_down),
        ]
        return m


class ClockGateModel:
    """Golden model: which rising edges of ``clk`` pass the gate.

    ``wake_at_fall[i]`` is the value of ``wake`` at the falling edge before rising edge
    ``i``; the edge passes iff it was 1.
    """

    @staticmethod
    def passed_edges(wake_at_fall) -> list[int]:
        return [i for i, w in enumerate(wake_at_fall) if w]

"""WL pulse generator on a tapped delay line (SPEC §3: pulse width 1 ns to 10 ns).

The pulse starts with ``armed`` (a flop of the controller's clock) and ends when the
armed edge has travelled ``width`` taps down the delay line::

    pulse = armed & ~taps[width-1]       # taps[t] = armed delayed by (t+1) ns

Why a delay line and not a 1 GHz counter: the WL pulse is the only sub-cycle timing of
the core. A 1 GHz clock would make every one of the ~10^4 cycles of an MVM cost ten fast
edges in simulation (and in silicon, power in a clock tree that is idle almost always);
the delay line costs two events per pulse and nothing between pulses. The macro
``neurram_delay_line`` (input ``a``, output ``taps[9:0]``) is a blackbox in the RTL; its
behavioural model ``rtl/macros/neurram_delay_line.v`` (``#1`` per tap) runs under
Verilator ``--timing``, so the pulse has its true width in simulation time.

``armed`` is high for one clock cycle, so the clock period must be at least 10 ns (the
paper's 100 MHz board clock) for a 10 ns pulse to complete. ``width`` is registered when
the pulse is started, so a register write during a pulse cannot shorten it.

For the Amaranth simulator, which has no blackbox, ``macro=False`` replaces the instance
with an input port ``delay_taps`` that the testbench drives with ``ctx.delay(1e-9)`` steps.
"""

from __future__ import annotations

from amaranth.hdl import Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

N_TAPS = 10
MACRO_NAME = "neurram_delay_line"


def pulse_width_ns(width: int) -> float:
    """Golden model: the pulse width for a WL_NS code (1..10), in ns."""
    if not isinstance(width, int) or not 1 <= width <= N_TAPS:
        raise ValueError(f"width must be 1..{N_TAPS}, not {width!r}")
    return float(width)


class PulseGenerator(wiring.Component):
    """Delay-line pulse generator.

    Parameters
    ----------
    domain : str
        Clock domain of ``armed`` (the core passes its gated controller domain).
    macro : bool
        True: instantiate the ``neurram_delay_line`` blackbox. False: expose its taps as
        the input ``delay_taps`` (Amaranth-simulator testbenches model the delays).

    Members
    -------
    start : In(1)
        Start a pulse: ``armed`` is high during the next clock cycle.
    width : In(4)
        Pulse width in ns, 1..10, sampled with ``start``.
    pulse : Out(1)
        The pulse, ``armed & ~taps[width-1]``.
    delay_a : Out(1)
        The delay line's input (``armed``).
    delay_taps : In(10)
        Only with ``macro=False``: the delay line's taps.
    """

    def __init__(self, *, domain: str = "sync", macro: bool = True):
        if not isinstance(domain, str) or not domain:
            raise TypeError(f"domain must be a non-empty str, not {domain!r}")
        if not isinstance(macro, bool):
            raise TypeError(f"macro must be a bool, not {macro!r}")
        self._domain = domain
        self._macro = macro
        members = {
            "start": In(1),
            "width": In(4),
            "pulse": Out(1),
            "delay_a": Out(1),
        }
        if not macro:
            members["delay_taps"] = In(N_TAPS)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        armed = Signal()
        width = Signal(4, init=N_TAPS)
        m.d[self._domain] += armed.eq(self.start)
        with m.If(self.start):
            m.d[self._domain] += width.eq(self.width)

        if self._macro:
            taps = Signal(N_TAPS)
            m.submodules.delay_line = Instance(MACRO_NAME, i_a=armed, o_taps=taps)
        else:
            taps = self.delay_taps

        # Out-of-range widths (refused at start by the controller) select no tap: the
        # pulse then lasts the whole armed cycle rather than glitching.
        end = Signal()
        with m.Switch(width):
            for w in range(1, N_TAPS + 1):
                with m.Case(w):
                    m.d.comb += end.eq(taps[w - 1])
        m.d.comb += [
            self.delay_a.eq(armed),
            self.pulse.eq(armed & ~end),
        ]
        return m

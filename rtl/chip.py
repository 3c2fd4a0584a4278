"""Chip top: SPI pins, one SPI slave + frame decoder, N cores, the analog bus of each core.

The one-core Verilog (``neurram_core``) is this top with ``n_cores=1``, so a host talks to
one core and to the 48-core chip with the same frames (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, ClockDomain, DomainRenamer, Module, ResetSignal, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import AnalogBusSignature
from .bus import RegBusSignature
from .clockgate import ClockGate
from .frame import FrameDecoder, _check_n_cores
from .spi import SpiSlave

#: The register bus's one-cycle strobes (the rest of the initiator's outputs is data a
#: core samples only in a strobe's cycle).
BUS_STROBES = ("we", "re", "rf_we", "rf_re", "rf_commit", "rf_abort")
#: The initiator's data outputs, in the order the per-core clock gate relaunches them.
BUS_DATA = tuple(name for name, member in RegBusSignature().members.items()
                 if member.flow == Out and name not in BUS_STROBES)


def _default_core_factory(core_id: int):
    from .core import Core

    return Core(core_id)


class Chip(wiring.Component):
    """The chip top.

    Parameters
    ----------
    n_cores : int
        Number of cores, 1..48.
    core_factory : callable, optional
        ``core_factory(core_id)`` returns a component with the :class:`rtl.core.Core`
        interface (``bus: In(RegBusSignature())``, ``analog: Out(AnalogBusSignature())``,
        ``start_ext: In(1)``, ``busy: Out(1)``); default :class:`rtl.core.Core`. Tests
        pass a test double.

    Members
    -------
    sclk, cs_n, mosi : In(1)
        SPI pins (mode 0, asynchronous to ``clk``; SCLK at most clk/4).
    miso : Out(1)
        SPI data out.
    analog : Out(AnalogBusSignature()).array(n_cores), or Out(AnalogBusSignature()) when
        ``n_cores == 1``
        The analog bus of each core; flattened in Verilog as ``analog__3__bl_drv`` (core
        3), or ``analog__bl_drv`` for the one-core top.

    ``CHIP_CMD.start_sel`` pulses ``start_ext`` of every core selected in ``CORE_SEL0-2``
    in the same cycle; each core's ``busy`` is visible in ``BUSY0-2``.

    Per-core clock gating (``gate_cores``, default: on for a multi-core chip whose cores
    have a ``clk_req`` output): each core runs on its own clock, ``clk`` through a
    :class:`~rtl.clockgate.ClockGate` (the core's own latch-based gate, proven
    glitch-free in ``formal/clockgate.py``) that passes an edge only when the core will
    act on it: a register-bus strobe to it, a start in the next cycle
    (``FrameDecoder.start_next``), or its ``clk_req`` (busy, a command pending, reset, a
    POWER change). The gate's falling-edge crossing relaunches the bus strobes, the bus
    data (zero unless a strobe is present, so an idle core's inputs never change) and
    the reset; the core samples them at the next rising edge exactly as it would sample
    the decoder's flops, so every core acts in the same cycle as with the free-running
    clock. ``start_ext`` stays on the rising-edge launch: the core samples it only on
    falling edges (its own gate). An idle core then sees no clock edge and no input
    change at all; a simulator skips it (a hierarchically verilated core tile is not
    called).
    """

    def __init__(self, n_cores: int, core_factory: Callable | None = None,
                 gate_cores: bool | None = None):
        _check_n_cores(n_cores)
        if core_factory is not None and not callable(core_factory):
            raise TypeError(f"core_factory must be callable, not {core_factory!r}")
        self.n_cores = n_cores
        self.core_factory = core_factory or _default_core_factory
        if gate_cores is not None and not isinstance(gate_cores, bool):
            raise TypeError(f"gate_cores must be a bool or None, not {gate_cores!r}")
        analog = Out(AnalogBusSignature())
        super().__init__({
            "sclk": In(1),
            "cs_n": In(1, init=1),
            "mosi": In(1),
            "miso": Out(1),
            "analog": analog.array(n_cores) if n_cores > 1 else analog,
        })
        # Built here (not in elaborate) so tests can reach the submodules.
        self.spi = SpiSlave()
        self.decoder = FrameDecoder(n_cores)
        self.cores = [self.core_factory(i) for i in range(n_cores)]
        can_gate = all("clk_req" in c.signature.members for c in self.cores)
        if gate_cores and not can_gate:
            raise ValueError("gate_cores needs cores with a clk_req output")
        self.gate_cores = can_gate and n_cores > 1 if gate_cores is None else gate_cores
        self.core_gates = [ClockGate(n_xfer=self._xfer_bits()) for _ in self.cores] \
            if self.gate_cores else []

    @staticmethod
    def _xfer_bits() -> int:
        members = RegBusSignature().members
        return len(BUS_STROBES) + sum(Shape.cast(members[n].shape).width for n in BUS_DATA) + 1   # + rst

    def _gate_core(self, m: Module, i: int, core, dec):
        """Core ``i`` on its own gated clock domain ``core<i>`` (see the class docstring)."""
        domain = f"core{i}"
        cd = ClockDomain(domain, local=True)
        m.domains += cd
        m.submodules[f"core{i}"] = DomainRenamer(domain)(core)
        m.submodules[f"core{i}_clockgate"] = cg = self.core_gates[i]
        ini, tgt = dec.bus[i], core.bus
        strobes = Cat(*(getattr(ini, n) for n in BUS_STROBES))
        data = Cat(*(getattr(ini, n) for n in BUS_DATA))
        m.d.comb += [
            cg.xfer_i.eq(Cat(strobes, data & strobes.any().replicate(len(data)), ResetSignal())),
            cg.en.eq(strobes.any() | dec.start_next[i] | core.clk_req),
            # no power gate at this level: the core's own gate reports it
            cg.power_enable.eq(1), cg.power_down.eq(0),
            cd.clk.eq(cg.gclk),
        ]
        out = Cat(*(getattr(tgt, n) for n in BUS_STROBES), *(getattr(tgt, n) for n in BUS_DATA),
                  cd.rst)
        m.d.comb += out.eq(cg.xfer_o)
        for name, member in RegBusSignature().members.items():
            if member.flow == In:
                m.d.comb += getattr(ini, name).eq(getattr(tgt, name))

    def elaborate(self, platform):
        m = Module()
        m.submodules.spi = spi = self.spi
        m.submodules.decoder = dec = self.decoder
        m.d.comb += [
            spi.sclk.eq(self.sclk),
            spi.cs_n.eq(self.cs_n),
            spi.mosi.eq(self.mosi),
            self.miso.eq(spi.miso),
            dec.rx_data.eq(spi.rx_data),
            dec.rx_valid.eq(spi.rx_valid),
            dec.tx_load.eq(spi.tx_load),
            dec.cs_start.eq(spi.cs_start),
            dec.cs_end.eq(spi.cs_end),
            dec.cs_partial.eq(spi.cs_partial),
            spi.tx_data.eq(dec.tx_data),
        ]
        for i, core in enumerate(self.cores):
            if self.gate_cores:
                self._gate_core(m, i, core, dec)
            else:
                m.submodules[f"core{i}"] = core
                wiring.connect(m, dec.bus[i], core.bus)
            analog = self.analog[i] if self.n_cores > 1 else self.analog
            wiring.connect(m, wiring.flipped(analog), core.analog)
            m.d.comb += [
                core.start_ext.eq(dec.start[i]),
                dec.busy[i].eq(core.busy),
            ]
        return m

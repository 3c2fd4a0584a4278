"""Chip top: SPI pins, one SPI slave + frame decoder, N cores, the analog bus of each core.

The one-core Verilog (``neurram_core``) is this top with ``n_cores=1``, so a host talks to
one core and to the 48-core chip with the same frames (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, ClockDomain, DomainRenamer, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import AnalogBusSignature
from .contract.constants import SYNCHRONISED_INPUT_ATTR
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
    glitch-free in ``formal/clockgate.py``) that passes an edge only while the core may
    act on it: a frame that may strobe or start it is being received
    (``FrameDecoder.frame_cores``), a bus strobe to it, a start in the next cycle
    (``FrameDecoder.start_next``), or its ``clk_req`` (busy, a command pending, reset, a
    POWER change). Every input of the core comes from a flop of the core's own clock: the
    bus strobes, the bus data (zero unless a strobe is present), ``start_ext`` and the
    reset are relaunched on its falling edge (the core samples them at the next rising
    edge exactly as it would sample the decoder's flops, and its own gate samples
    ``start_ext`` on that falling edge as it would sample the decoder's start), and the
    comparator outputs ``analog[i].cmp`` are registered on its rising edge (a one-cycle
    synchroniser; the testbench then adds none). An idle core therefore sees no clock
    edge and none of its inputs is even scheduled for evaluation (Verilator evaluates a
    hierarchical block's wrapper whenever the clock domain of one of its inputs ticks).
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
        # The gate's own falling-edge crossing is not used (one dummy bit): the core's
        # inputs are relaunched on the falling edge of the core's own clock instead.
        self.core_gates = [ClockGate(n_xfer=1) for _ in self.cores] if self.gate_cores else []
        for i in range(n_cores if self.gate_cores else 0):
            # registered on the core's own clock in _gate_core: the testbench adds no flop
            self._analog(i).cmp.attrs[SYNCHRONISED_INPUT_ATTR] = 1

    def _gate_core(self, m: Module, i: int, core, dec):
        """Core ``i`` on its own gated clock domain ``core<i>`` (see the class docstring)."""
        domain = f"core{i}"
        cd = ClockDomain(domain, local=True)
        # The relaunch of the core's inputs: the falling edge of the core's clock.
        neg = ClockDomain(f"core{i}_neg", clk_edge="neg", reset_less=True, local=True)
        m.domains += [cd, neg]
        m.submodules[f"core{i}"] = DomainRenamer(domain)(core)
        m.submodules[f"core{i}_clockgate"] = cg = self.core_gates[i]
        ini, tgt = dec.bus[i], core.bus
        strobes = Cat(*(getattr(ini, n) for n in BUS_STROBES))
        data = Cat(*(getattr(ini, n) for n in BUS_DATA))
        m.d.comb += [
            cg.xfer_i.eq(0),
            cg.en.eq(dec.frame_cores[i] | strobes.any() | dec.start_next[i] | core.clk_req),
            # no power gate at this level: the core's own gate reports it
            cg.power_enable.eq(1), cg.power_down.eq(0),
            cd.clk.eq(cg.gclk),
            neg.clk.eq(cg.gclk),
        ]
        relaunched = Cat(*(getattr(tgt, n) for n in BUS_STROBES),
                         *(getattr(tgt, n) for n in BUS_DATA), core.start_ext, cd.rst)
        m.d[neg.name] += relaunched.eq(Cat(strobes, data & strobes.any().replicate(len(data)),
                                           dec.start_next[i], ResetSignal()))
        for name, member in RegBusSignature().members.items():
            if member.flow == In:
                m.d.comb += getattr(ini, name).eq(getattr(tgt, name))
        # The comparator outputs (asynchronous to the chip) registered on the core's clock.
        m.d[domain] += core.analog.cmp.eq(self._analog(i).cmp)
        for name, member in AnalogBusSignature().members.items():
            if member.flow == Out:
                m.d.comb += getattr(self._analog(i), name).eq(getattr(core.analog, name))

    def _analog(self, i: int):
        return self.analog[i] if self.n_cores > 1 else self.analog

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
                wiring.connect(m, wiring.flipped(self._analog(i)), core.analog)
                m.d.comb += core.start_ext.eq(dec.start[i])
            m.d.comb += dec.busy[i].eq(core.busy)
        return m

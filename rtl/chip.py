"""Chip top: SPI pins, one SPI slave + frame decoder, N cores, the analog bus of each core.

The one-core Verilog (``neurram_core``) is this top with ``n_cores=1``, so a host talks to
one core and to the 48-core chip with the same frames (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import AnalogBusSignature
from .frame import FrameDecoder, _check_n_cores
from .spi import SpiSlave


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
    """

    def __init__(self, n_cores: int, core_factory: Callable | None = None):
        _check_n_cores(n_cores)
        if core_factory is not None and not callable(core_factory):
            raise TypeError(f"core_factory must be callable, not {core_factory!r}")
        self.n_cores = n_cores
        self.core_factory = core_factory or _default_core_factory
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
            m.submodules[f"core{i}"] = core
            wiring.connect(m, dec.bus[i], core.bus)
            analog = self.analog[i] if self.n_cores > 1 else self.analog
            wiring.connect(m, wiring.flipped(analog), core.analog)
            m.d.comb += [
                core.start_ext.eq(dec.start[i]),
                dec.busy[i].eq(core.busy),
            ]
        return m

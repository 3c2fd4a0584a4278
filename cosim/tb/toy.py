"""A toy SPI device in Amaranth, used to prove the harness before (and beside) the chip.

It synchronises SCLK/CS/MOSI with 2-flop synchronisers like the chip, echoes every byte it
receives one byte later on MISO (mode 0), and counts received bytes on ``analog__ev_seq``
so the event-driven wake-up path can be exercised too.
"""

# (no `from __future__ import annotations`: Amaranth reads the member annotations)

from amaranth import Elaboratable, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ToySpiEcho(wiring.Component):
    """Ports: ``spi_sclk``, ``spi_cs_n``, ``spi_mosi`` (In), ``spi_miso`` (Out),
    ``analog__ev_seq`` (Out 8): bytes received, ``last`` (Out 8): last byte received."""

    spi_sclk: In(1)
    spi_cs_n: In(1)
    spi_mosi: In(1)
    spi_miso: Out(1)
    analog__ev_seq: Out(8)
    last: Out(8)

    def elaborate(self, platform):
        m = Module()
        s_sclk = Signal(3)
        s_cs = Signal(3, init=0b111)
        s_mosi = Signal(2)
        m.d.sync += [s_sclk.eq((s_sclk << 1) | self.spi_sclk), s_cs.eq((s_cs << 1) | self.spi_cs_n),
                     s_mosi.eq((s_mosi << 1) | self.spi_mosi)]
        rise = s_sclk[1] & ~s_sclk[2]
        cs_active = ~s_cs[1]
        rx = Signal(8)
        cnt = Signal(3)
        tx = Signal(8)
        m.d.comb += self.spi_miso.eq(tx[7])
        with m.If(~cs_active):
            m.d.sync += [cnt.eq(0), tx.eq(self.last)]
        with m.Else():
            # MISO moves on right after the sampling edge: with 2-flop synchronisers a
            # change after the falling edge would reach the pin too late for clk/4 SCLK.
            with m.If(rise):
                m.d.sync += [rx.eq((rx << 1) | s_mosi[1]), cnt.eq(cnt + 1), tx.eq(tx << 1)]
                with m.If(cnt == 7):
                    m.d.sync += [self.last.eq((rx << 1) | s_mosi[1]),
                                 tx.eq((rx << 1) | s_mosi[1]),
                                 self.analog__ev_seq.eq(self.analog__ev_seq + 1)]
        return m


def toy_verilog() -> str:
    return verilog.convert(ToySpiEcho(), name="toy_spi_echo", emit_src=False)

"""A one-core 'bus chip' (SPI slave + frame decoder + core registers + files).

The real chip (``rtl.chip``) adds the controller and the analog bus; this smaller top is
built from the same RTL blocks so the SPI / frame / register half of the harness and of
the regression can be checked (against ``rtl.frame.FrameModel``) on its own. It has no
analog bus: its tb top simply has none of those ports.
"""

# (no `from __future__ import annotations`: Amaranth reads the member annotations)

from amaranth import Module, Mux, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class BusChip(wiring.Component):
    """Ports: ``spi_sclk``, ``spi_cs_n``, ``spi_mosi`` (In), ``spi_miso`` (Out)."""

    spi_sclk: In(1)
    spi_cs_n: In(1, init=1)
    spi_mosi: In(1)
    spi_miso: Out(1)

    def elaborate(self, platform):
        from rtl.frame import FrameDecoder
        from rtl.regblock import RegBlock
        from rtl.regfile import RegisterFile
        from rtl.spi import SpiSlave

        m = Module()
        m.submodules.spi = spi = SpiSlave()
        m.submodules.fd = fd = FrameDecoder(1)
        m.submodules.regs = regs = RegBlock("neurram_core")
        m.submodules.bl = bl = RegisterFile()
        m.submodules.sl = sl = RegisterFile()
        m.d.comb += [spi.sclk.eq(self.spi_sclk), spi.cs_n.eq(self.spi_cs_n),
                     spi.mosi.eq(self.spi_mosi), self.spi_miso.eq(spi.miso)]
        for name in ("rx_data", "rx_valid", "tx_load", "cs_start", "cs_end", "cs_partial"):
            m.d.comb += getattr(fd, name).eq(getattr(spi, name))
        m.d.comb += spi.tx_data.eq(fd.tx_data)
        bus = fd.bus[0]
        m.d.comb += [regs.addr.eq(bus.addr), regs.wdata.eq(bus.wdata), regs.we.eq(bus.we),
                     regs.re.eq(bus.re), bus.rdata.eq(regs.rdata)]
        sel_q = Signal()
        with m.If(bus.rf_re):
            m.d.sync += sel_q.eq(bus.rf_sel)
        for i, rf in enumerate((bl, sl)):
            m.d.comb += [rf.index.eq(bus.rf_index), rf.wdata.eq(bus.rf_wdata),
                         rf.stage_we.eq(bus.rf_we & (bus.rf_sel == i)), rf.commit.eq(bus.rf_commit),
                         rf.abort.eq(bus.rf_abort), rf.re.eq(bus.rf_re & (bus.rf_sel == i))]
        m.d.comb += bus.rf_rdata.eq(Mux(sel_q, sl.rdata, bl.rdata))
        return m


def buschip_verilog() -> str:
    return verilog.convert(BusChip(), name="neurram_buschip", emit_src=False)

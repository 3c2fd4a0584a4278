"""Shared helpers of the bus-side RTL tests: an SPI host driving real pin waveforms."""

from __future__ import annotations

import numpy as np


class SpiHost:
    """Drives SCLK / CS_n / MOSI of a simulated design cycle by cycle (mode 0, MSB first).

    ``half`` is the number of clk cycles per SCLK level (2 = clk/4), or ``(lo, hi)`` bounds
    for random half periods drawn from ``rng``. MISO is sampled
    one clk cycle before the rising edge (a stricter check than sampling at the edge).
    """

    def __init__(self, sclk, cs_n, mosi, miso, half=2, rng: np.random.Generator | None = None):
        self.sclk, self.cs_n, self.mosi, self.miso = sclk, cs_n, mosi, miso
        self.half = half
        self.rng = rng

    def _half(self):
        if isinstance(self.half, int):
            return self.half
        lo, hi = self.half
        return int(self.rng.integers(lo, hi + 1))

    async def frame(self, ctx, data: bytes, extra_bits: int = 0, partial_byte: int = 0,
                    cs_setup: int = 2, cs_hold: int = 2, cs_idle: int = 6) -> bytes:
        """Clock one frame; returns the MISO bytes (a partial byte MSB-aligned)."""
        bits = []
        for byte in data:
            bits += [(byte >> (7 - i)) & 1 for i in range(8)]
        bits += [(partial_byte >> (7 - i)) & 1 for i in range(extra_bits)]
        ctx.set(self.sclk, 0)
        ctx.set(self.cs_n, 0)
        await ctx.tick().repeat(cs_setup)
        got = []
        for b in bits:
            ctx.set(self.sclk, 0)
            ctx.set(self.mosi, b)
            # sample one clk cycle before the rise: MISO must be stable for a whole cycle
            # before the edge that samples it (no race with the same-cycle update)
            await ctx.tick().repeat(self._half() - 1)
            got.append(ctx.get(self.miso))
            await ctx.tick()
            ctx.set(self.sclk, 1)
            await ctx.tick().repeat(self._half())
        ctx.set(self.sclk, 0)
        await ctx.tick().repeat(cs_hold)
        ctx.set(self.cs_n, 1)
        await ctx.tick().repeat(cs_idle)
        out = bytearray()
        for i in range(0, len(got), 8):
            chunk = got[i:i + 8]
            v = 0
            for b in chunk:
                v = (v << 1) | b
            out.append(v << (8 - len(chunk)))
        return bytes(out)


# ---------------------------------------------------------------------------------------
# A test-double core (register block + BL/SL register files) with the Core interface

from amaranth.hdl import Elaboratable, Module, Signal  # noqa: E402
from amaranth.lib import wiring  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402

from rtl import regmap  # noqa: E402
from rtl.analog_bus import AnalogBusSignature  # noqa: E402
from rtl.bus import RegBusSignature  # noqa: E402
from rtl.frame import CoreTargetModel, FrameDecoder  # noqa: E402
from rtl.regblock import RegBlock  # noqa: E402
from rtl.regfile import RegisterFile  # noqa: E402


class CoreDouble(wiring.Component):
    """Stands in for rtl.core.Core: real RegBlock + two RegisterFiles behind the bus.

    busy is set by start_ext or CMD.start and cleared by CMD.abort (abort wins)."""

    def __init__(self, core_id: int):
        self.core_id = core_id
        super().__init__({
            "bus": In(RegBusSignature()),
            "analog": Out(AnalogBusSignature()),
            "start_ext": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = regs = RegBlock(regmap.core_map())
        m.submodules.bl = bl = RegisterFile()
        m.submodules.sl = sl = RegisterFile()
        self.regs, self.files = regs, (bl, sl)
        b = self.bus
        m.d.comb += [regs.addr.eq(b.addr), regs.wdata.eq(b.wdata), regs.we.eq(b.we),
                     regs.re.eq(b.re), b.rdata.eq(regs.rdata)]
        for k, f in enumerate((bl, sl)):
            sel = b.rf_sel == k
            m.d.comb += [f.index.eq(b.rf_index), f.wdata.eq(b.rf_wdata),
                         f.stage_we.eq(b.rf_we & sel), f.re.eq(b.rf_re & sel),
                         f.commit.eq(b.rf_commit), f.abort.eq(b.rf_abort)]
        rd_sl = Signal()
        with m.If(b.rf_re):
            m.d.sync += rd_sl.eq(b.rf_sel)
        m.d.comb += b.rf_rdata.eq(Mux(rd_sl, sl.rdata, bl.rdata))
        with m.If(regs.hw.cmd.abort):
            m.d.sync += self.busy.eq(0)
        with m.Elif(self.start_ext | regs.hw.cmd.start):
            m.d.sync += self.busy.eq(1)
        m.d.comb += [regs.hw.status.busy.eq(self.busy),
                     self.analog.vread.eq(regs.hw.vread.code),
                     self.analog.bl_drv.as_value().eq(bl.q.as_value()[:768])]
        return m


from amaranth.hdl import Mux  # noqa: E402


class DoubleTarget(CoreTargetModel):
    """Golden target matching CoreDouble's busy behaviour."""

    def start(self, core):
        super().start(core)
        self.busy_flags[core] = True

    def reg_write(self, core, addr, data):
        super().reg_write(core, addr, data)
        if addr == regmap.core_map().reg("CMD").addr:
            if data & 2:
                self.busy_flags[core] = False
            elif data & 1:
                self.busy_flags[core] = True

    def reg_read(self, core, addr):
        self.regs[core].set_hw("STATUS", "busy", int(self.busy_flags[core]))
        return super().reg_read(core, addr)


class DecoderBench(Elaboratable):
    """FrameDecoder + n CoreDoubles."""

    def __init__(self, n_cores: int):
        self.dec = FrameDecoder(n_cores)
        self.cores = [CoreDouble(i) for i in range(n_cores)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec = self.dec
        for i, c in enumerate(self.cores):
            m.submodules[f"core{i}"] = c
            wiring.connect(m, self.dec.bus[i], c.bus)
            m.d.comb += [c.start_ext.eq(self.dec.start[i]), self.dec.busy[i].eq(c.busy)]
        return m


class ByteSlave:
    """Drives the FrameDecoder's byte interface exactly as rtl.spi.SpiSlave does."""

    def __init__(self, dec, gap: int = 32, end_delay: int = 2):
        self.dec = dec
        self.gap = gap
        self.end_delay = end_delay

    async def frame(self, ctx, mosi: bytes, extra_bits: int = 0, wait_done=True) -> bytes:
        d = self.dec
        loaded = []

        async def load():
            loaded.append(ctx.get(d.tx_data))
            ctx.set(d.tx_load, 1)
            await ctx.tick()
            ctx.set(d.tx_load, 0)

        await load()
        ctx.set(d.cs_start, 1)
        await ctx.tick()
        ctx.set(d.cs_start, 0)
        for byte in mosi:
            await ctx.tick().repeat(self.gap - 2)
            await load()
            ctx.set(d.rx_data, byte)
            ctx.set(d.rx_valid, 1)
            await ctx.tick()
            ctx.set(d.rx_valid, 0)
        delay = self.end_delay + (self.gap // 2 if extra_bits else 0)
        if delay:
            await ctx.tick().repeat(delay)
        ctx.set(d.cs_end, 1)
        ctx.set(d.cs_partial, int(extra_bits != 0))
        await ctx.tick()
        ctx.set(d.cs_end, 0)
        ctx.set(d.cs_partial, 0)
        self.last_err = None
        if wait_done:
            for _ in range(64):
                if ctx.get(d.done):
                    self.last_err = ctx.get(d.done_err)
                    break
                await ctx.tick()
            else:
                raise AssertionError("frame never finished")
            await ctx.tick().repeat(4)
        else:
            await ctx.tick()
        out = bytes(loaded[:len(mosi)])
        if extra_bits:
            keep = (0xFF << (8 - extra_bits)) & 0xFF
            out += bytes([loaded[len(mosi)] & keep])
        return out

"""Frame decoder + register block: a frame changes only what it addresses; a bad frame
changes nothing but the sticky SPI error; the next good frame works.

The harness drives :class:`rtl.frame.FrameDecoder` (one core) with free bytes and CS
events under the timing the SPI slave guarantees (one event per cycle, events spaced as
documented), connects core 0's bus to a real :class:`rtl.regblock.RegBlock` of the core
map, and checks every change of that block's registers, of the register-file strobes and
of ``SPI_ERR`` against a frame monitor: the frame format of docs/spi.md restated here,
independently of the decoder, as the property to check. Bounded (BMC): the depth covers
two or more complete frames.
"""

from __future__ import annotations

from amaranth.hdl import (Assert, Assume, Cat, ClockDomain, ClockSignal, Const, Elaboratable,
                          Module, Mux, ResetSignal, Signal)

import rtl.frame
from rtl import regmap
from rtl.frame import HEADER_RF, Op, SpiErr
from rtl.regblock import RegBlock

from .mutate import patched, resized
from .sby import Proof

# Event spacing the harness allows, in cycles (SpiSlave at SCLK <= clk/4 gives >= 32 between
# bytes and >= 16 from CS rise to the next frame's first byte). Closer spacing than the
# slave can produce is allowed wherever the decoder does not need the time, so the bound
# covers more frames.
GAP = 1          # between header bytes and CS events
DATA_GAP = 9     # before a burst's data bytes and CS rise (the unpacker emits <= 8 entries)
CS_GAP = 4       # from CS rise to the next CS fall
MAX_IDX = 31


def _in_set(m, value, values, name):
    out = Signal(name=name)
    m.d.comb += out.eq(Cat(*[value == v for v in sorted(values)]).any() if values else 0)
    return out


class FrameHarness(Elaboratable):
    """``wide_bursts``: bursts of 8- to 10-bit entries only (at most one entry per data
    byte), so their data bytes need the header's spacing alone and a whole burst fits in
    a short bound; ``registers=False`` leaves out the register block's checks."""

    def __init__(self, *, wide_bursts: bool = False, registers: bool = True):
        self.wide_bursts = wide_bursts
        self.registers = registers
        self.rx_data = Signal(8)
        self.ev = Signal(2)          # 0 none, 1 byte, 2 CS fall, 3 CS rise
        self.partial = Signal()
        self.tx_load = Signal()
        self.busy = Signal()
        self.rf_rdata = Signal(10)
        self.ports = [self.rx_data, self.ev, self.partial, self.tx_load, self.busy,
                      self.rf_rdata]

    def elaborate(self, platform):
        m = Module()
        m.domains.obs = ClockDomain("obs", reset_less=True)
        m.d.comb += ClockSignal("obs").eq(ClockSignal("sync"))
        m.d.comb += Assume(~ResetSignal("sync"))
        core_map, chip_map = regmap.core_map(), regmap.chip_map()

        m.submodules.dec = dec = rtl.frame.FrameDecoder(1)
        m.submodules.regs = regs = RegBlock(core_map)
        bus = dec.bus[0]
        rx_valid, cs_start, cs_end = (self.ev == 1), (self.ev == 2), (self.ev == 3)
        m.d.comb += [
            dec.rx_data.eq(self.rx_data), dec.rx_valid.eq(rx_valid), dec.cs_start.eq(cs_start),
            dec.cs_end.eq(cs_end), dec.cs_partial.eq(self.partial & cs_end),
            dec.tx_load.eq(self.tx_load), dec.busy.eq(self.busy),
            regs.addr.eq(bus.addr), regs.wdata.eq(bus.wdata), regs.we.eq(bus.we),
            regs.re.eq(bus.re), bus.rdata.eq(regs.rdata), bus.rf_rdata.eq(self.rf_rdata),
        ]

        # ---- environment: what SpiSlave guarantees ------------------------------------
        in_frame = Signal()
        gap = Signal(range(64))
        since_end = Signal(range(64), init=63)
        idx = Signal(range(MAX_IDX + 1))
        byte = [Signal(8, name=f"byte{i}") for i in range(HEADER_RF)]
        m.d.obs += [gap.eq(Mux(self.ev != 0, 0, Mux(gap == 63, 63, gap + 1))),
                    since_end.eq(Mux(cs_end, 0, Mux(since_end == 63, 63, since_end + 1)))]
        is_rf = (byte[0] == Op.RF_WRITE) | (byte[0] == Op.RF_READ)
        if self.wide_bursts:
            need = GAP
            m.d.comb += Assume(~(rx_valid & is_rf & (idx == HEADER_RF - 1))
                               | (self.rx_data >= 8))
        else:
            need = Mux(is_rf & (idx >= HEADER_RF - 1), DATA_GAP, GAP)
        m.d.comb += [
            Assume(~cs_start | (~in_frame & (since_end >= CS_GAP))),
            Assume(~(rx_valid | cs_end) | in_frame),
            Assume((self.ev == 0) | (gap >= need)),
            Assume(~self.tx_load | in_frame),
        ]
        with m.If(cs_start):
            m.d.obs += [in_frame.eq(1), idx.eq(0)]
        with m.If(cs_end):
            m.d.obs += in_frame.eq(0)
        with m.If(rx_valid):
            m.d.obs += idx.eq(Mux(idx == MAX_IDX, MAX_IDX, idx + 1))
            for i in range(HEADER_RF):
                with m.If(idx == i):
                    m.d.obs += byte[i].eq(self.rx_data)

        # ---- the frame format (docs/spi.md), restated --------------------------------
        op, core, addr, b3, b4, b5 = byte
        to_core = (core == 0) | (core == regmap.CORE_BROADCAST)
        to_chip = core == regmap.CORE_CHIP
        core_w = _in_set(m, addr, [r.addr for r in core_map.registers if r.sw_writable], "core_w")
        chip_w = _in_set(m, addr, [r.addr for r in chip_map.registers if r.sw_writable], "chip_w")
        core_m = _in_set(m, addr, [r.addr for r in core_map.registers], "core_m")
        chip_m = _in_set(m, addr, [r.addr for r in chip_map.registers], "chip_m")
        count = b4 + 1
        rf_ok = (addr <= 1) & (b3 + count <= regmap.RF_ENTRIES) & (b5 >= 1) \
            & (b5 <= regmap.RF_MAX_WIDTH)
        nbytes = (count * b5 + 7) >> 3
        good_reg_write = (op == Op.REG_WRITE) & (idx == 5) & (
            (to_core & core_w) | (to_chip & chip_w))
        # Reads may run on past their data (MISO then carries zeros); writes may not.
        good_reg_read = (op == Op.REG_READ) & (idx >= 6) & (
            ((core == 0) & core_m) | (to_chip & chip_m))
        good_rf_write = (op == Op.RF_WRITE) & to_core & rf_ok & (idx == HEADER_RF + nbytes)
        good_rf_read = (op == Op.RF_READ) & (core == 0) & rf_ok & (idx >= HEADER_RF + 1 + nbytes)
        good = ~self.partial & ((idx == 0) | good_reg_write | good_reg_read | good_rf_write
                                | good_rf_read)

        # Frame outcomes, delayed to when the design acts on them (``x[k]`` is the frame
        # end k+1 cycles ago): the decoder sees CS rise (cycle 0), finishes the frame (1),
        # strobes the bus and SPI_ERR in cycle 2 (``[1]``); the register block shows the
        # write in cycle 3 (``[2]``); clear_err's pulse clears SPI_ERR in cycle 4 (``[3]``).
        ended = Signal(4)
        bad = Signal(4)
        core_write = Signal(4)
        rf_commit = Signal(4)
        clear = Signal(5)
        chip_cmd = chip_map.reg("CHIP_CMD")
        clears = (cs_end & good & good_reg_write & to_chip & (addr == chip_cmd.addr)
                  & Cat(b4, b3)[chip_cmd.field("clear_err").lsb])
        waddr = [Signal(8, name=f"waddr{k}") for k in range(4)]
        wdata = [Signal(16, name=f"wdata{k}") for k in range(4)]
        # The interlock: the decoder finishes a burst in cycle 1 and refuses it when the
        # core is busy then (``refused[0]`` in cycle 2, with the commit it replaces).
        refused = Signal(2)
        busy1 = Signal()
        m.d.obs += [refused.eq(Cat(rf_commit[0] & self.busy, refused[:-1])), busy1.eq(self.busy)]
        m.d.obs += [
            ended.eq(Cat(cs_end, ended[:-1])),
            bad.eq(Cat(cs_end & ~good, bad[:-1])),
            core_write.eq(Cat(cs_end & good & good_reg_write & to_core, core_write[:-1])),
            rf_commit.eq(Cat(cs_end & good & good_rf_write, rf_commit[:-1])),
            clear.eq(Cat(clears, clear[:-1])),
            waddr[0].eq(addr), wdata[0].eq(Cat(b4, b3)),
        ]
        for k in range(1, 4):
            m.d.obs += [waddr[k].eq(waddr[k - 1]), wdata[k].eq(wdata[k - 1])]

        # ---- register block: each register changes only when a good frame wrote it -----
        for r in (core_map.registers if self.registers else ()):
            outs = [f for f in r.fields if f.kind in ("out", "pulse")]
            if not outs:
                continue
            hw = getattr(regs.hw, r.name.lower())
            now = Cat(*[getattr(hw, f.name) for f in outs])
            expect = Cat(*[wdata[2][f.lsb:f.lsb + f.width] for f in outs])
            init = sum((f.reset if f.kind == "out" else 0) << sum(g.width for g in outs[:i])
                       for i, f in enumerate(outs))
            prev = Signal(len(now), name=f"prev_{r.name.lower()}", init=init)
            m.d.obs += prev.eq(now)
            hit = core_write[2] & (waddr[2] == r.addr)
            pulses = [f for f in outs if f.kind == "pulse"]
            if pulses:   # a pulse field is 1 exactly in the cycle after its write
                m.d.comb += Assert(now == Mux(hit, expect, 0),
                                   f"{r.name} pulsed without a good frame writing it")
            else:
                m.d.comb += [
                    Assert(hit | (now == prev), f"{r.name} changed without a good frame "
                           "addressing it"),
                    Assert(~hit | (now == expect), f"good frame did not write {r.name}"),
                ]

        # ---- register-file strobes ----------------------------------------------------
        first = b3
        m.d.comb += [
            Assert(~bus.rf_we | (in_frame & (op == Op.RF_WRITE) & to_core & rf_ok
                                 & (bus.rf_index >= first)
                                 & (bus.rf_index < first + count)
                                 & (bus.rf_sel == addr[0])),
                   "register-file stage outside the addressed entries"),
            Assert(bus.rf_commit == (rf_commit[1] & ~refused[0]),
                   "commit differs from a good burst's end into an idle core"),
            Assert(~bus.rf_commit | ~busy1, "commit into a core busy when the burst ended"),
            Assert(bus.rf_abort == (bad[1] | refused[0]),
                   "abort differs from a bad or refused frame's end"),
        ]

        # ---- SPI_ERR: sticky code of the last bad frame, count of bad frames ----------
        prev_code = Signal(4)
        prev_count = Signal(8)
        m.d.obs += [prev_code.eq(dec.err_code), prev_count.eq(dec.err_count)]
        failed = bad[1] | refused[0]
        m.d.comb += [
            Assert(~bad[1] | (dec.err_code != 0), "a bad frame left SPI_ERR.code at 0"),
            Assert(~refused[0] | (dec.err_code == SpiErr.CORE_BUSY),
                   "a burst refused by the interlock did not set CORE_BUSY"),
            Assert(failed | clear[3] | (dec.err_code == prev_code),
                   "SPI_ERR.code changed without a bad frame or clear_err"),
            Assert(~clear[3] | (dec.err_code == 0)),
            Assert(dec.err_count == Mux(clear[3], 0, Mux(failed & (prev_count != 255),
                                                          prev_count + 1, prev_count))),
            Assert(~dec.done | (dec.done_err == 0) == ~failed),
        ]
        return m


def _harness(**kw):
    def build():
        h = FrameHarness(**kw)
        return h, h.ports
    return build


def _ro_registers_writable():
    """The decoder's writable-address ROM of the core map lists every mapped register
    (a write to ID or STATUS is then accepted as a good frame)."""
    original = rtl.frame._rom_bit

    def rom(m, index, addrs, name):
        if name == "writable_core":
            addrs = [r.addr for r in regmap.core_map().registers]
        return original(m, index, addrs, name)
    return patched(rtl.frame, "_rom_bit", rom)


PROOFS = [
    Proof("frame_regblock", _harness(), "bmc", 26,
          "every register of the core's block changes only when a good frame wrote it, to "
          "that frame's data; register-file stages hit only the burst's entries; commit / "
          "abort exactly at a good burst's / a bad frame's end, and no commit into a core "
          "busy when the burst ended (refused: abort, SPI_ERR CORE_BUSY); SPI_ERR changes "
          "only on a bad or refused frame (to its non-zero code, count + 1) or clear_err",
          mutants={"ro_registers_writable": _ro_registers_writable,
                   "frame_length_2_bits": lambda: resized(rtl.frame, "flen", 2)}),
    # The bound of frame_regblock holds no complete burst (a data byte needs 9 idle cycles
    # after the header's 6 bytes); this one, with wide entries, holds one: CS falls at step
    # 1 at the earliest, 7 bytes at 3..15, CS rises at 17, the commit or the refusal shows
    # at 19 (a burst of two data bytes at 21: step 21 alone took over 10 minutes here).
    Proof("frame_busy_interlock", _harness(wide_bursts=True, registers=False), "bmc", 21,
          "register-file strobes and SPI_ERR as in frame_regblock, over frames including "
          "complete bursts (entries of 8-10 bits): a good burst commits exactly when its "
          "core was not busy at its end; into a busy core it is refused (abort, SPI_ERR "
          "CORE_BUSY, count + 1)",
          mutants={"busy_interlock_dropped": lambda: resized(rtl.frame, "busy_hit", 0)}),
]

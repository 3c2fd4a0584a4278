"""SPI frame decoder (docs/architecture.md §2, docs/spi.md) and its golden model.

:class:`FrameDecoder` sits behind :class:`rtl.spi.SpiSlave`: it decodes the bytes of each
frame, drives one :class:`rtl.bus.RegBusSignature` bus per core, holds the chip control
registers (its own :class:`rtl.regblock.RegBlock` on ``neurram_chip``) and detects every
malformed frame. A bad frame changes nothing but ``SPI_ERR``; writes commit only when CS
rises on an exactly complete frame, and a register-file burst only into cores that are not
busy (register writes and reads, and register-file reads, are served while busy: the
running operation uses the configuration captured at its start, and reads change nothing).

:class:`~rtl.frame_model.FrameModel` (``rtl/frame_model.py``, re-exported here) is the
golden model: ``transfer(mosi) -> miso`` on a target object that provides the per-core
register and register-file operations.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import regmap
from .bus import RegBusSignature
from .contract import frames
from .contract.constants import MAX_CORES
from .contract.frames import Opcode as Op
from .contract.frames import RF_HEADER as HEADER_RF
from .contract.frames import REG_READ_LEN, REG_WRITE_LEN
from .contract.registers import SpiErr
from .frame_model import CoreTargetModel, FrameModel, FrameTarget, check_n_cores
from .regblock import RegBlock

__all__ = ["CoreTargetModel", "FrameDecoder", "FrameModel", "FrameTarget", "HEADER_RF", "MAX_CORES",
           "Op", "SpiErr", "frame_reg_read", "frame_reg_write", "frame_rf_read", "frame_rf_write",
           "pack_entries", "unpack_entries"]


_check_n_cores = check_n_cores   # the name rtl.chip and rtl.generate import


def _rom_bit(m: Module, index, addrs, name: str) -> Signal:
    """1 when ``index`` is one of ``addrs`` (a small combinational ROM)."""
    out = Signal(name=name)
    with m.Switch(index):
        for a in sorted(addrs):
            with m.Case(a):
                m.d.comb += out.eq(1)
    return out


class FrameDecoder(wiring.Component):
    """Frame decoder, chip control registers and per-core register buses.

    Parameters
    ----------
    n_cores : int
        Number of cores, 1..48.

    Members
    -------
    rx_data : In(8), rx_valid : In(1), tx_load : In(1), cs_start : In(1), cs_end : In(1), cs_partial : In(1)
        From :class:`rtl.spi.SpiSlave` (same names).
    tx_data : Out(8)
        To :class:`rtl.spi.SpiSlave`: the byte after the one being shifted out (0 unless
        the frame returns data there).
    bus : Out(RegBusSignature()).array(n_cores)
        One register bus per core (initiator side).
    busy : In(n_cores)
        Busy flag of each core (the BUSY0-2 registers); an RF_WRITE that ends while one of
        its cores is busy is refused (SPI_ERR.code CORE_BUSY, nothing committed).
    start : Out(n_cores)
        One-cycle start pulse of every core selected in CORE_SEL0-2, the cycle after a
        committed write of CHIP_CMD.start_sel.
    start_next : Out(n_cores)
        ``start`` one cycle ahead (what it will be in the next cycle), from flops: the
        chip's per-core clock gates open a cycle before a start reaches the core.
    frame_cores : Out(n_cores)
        The cores the frame being received may strobe or start: while a frame is active,
        the cores it addresses (every core for a broadcast), or for a chip-register frame
        the cores selected in CORE_SEL0-2 (its CHIP_CMD.start_sel write starts them). Every
        bus strobe and every ``start_next`` of a core comes in a cycle after one in which
        this bit was set.
    err_code : Out(4), err_count : Out(8)
        The SPI_ERR register (sticky code of the last bad frame, bad-frame count).
    done : Out(1)
        One-cycle pulse when a frame has been fully handled (after CS rose); ``done_err``
        is that frame's error code (0 = good).
    done_err : Out(4)

    Timing assumptions (met by SpiSlave at SCLK <= clk/4): bytes arrive at least 32 clk
    cycles apart, and a new frame's first byte arrives at least 16 cycles after the
    previous frame's CS rise.
    """

    def __init__(self, n_cores: int):
        _check_n_cores(n_cores)
        self.n_cores = n_cores
        super().__init__({
            "rx_data": In(8),
            "rx_valid": In(1),
            "tx_load": In(1),
            "tx_data": Out(8),
            "cs_start": In(1),
            "cs_end": In(1),
            "cs_partial": In(1),
            "bus": Out(RegBusSignature()).array(n_cores),
            "busy": In(n_cores),
            "start": Out(n_cores),
            "start_next": Out(n_cores),
            "frame_cores": Out(n_cores),
            "err_code": Out(4),
            "err_count": Out(8),
            "done": Out(1),
            "done_err": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.n_cores
        core_map, chip_map = regmap.core_map(), regmap.chip_map()
        m.submodules.chip_regs = chip = RegBlock(chip_map)

        # ---- frame state
        active = Signal()            # between cs_start and the end of the frame's handling
        idx = Signal(11)             # bytes received in this frame (saturating)
        err = Signal(4)              # first error of this frame
        op = Signal(8)
        core = Signal(8)
        is_chip = Signal()
        tsel = Signal(n)             # cores addressed by this frame (broadcast: all)
        addr = Signal(8)
        wdata = Signal(16)
        rf_sel = Signal()
        rf_start = Signal(8)
        count = Signal(9)
        width = Signal(4)
        flen = Signal(11)            # length of the complete frame in bytes
        end_req = Signal()
        end_partial = Signal()

        # ---- strobes (registered) and their shared data
        we = Signal()
        re = Signal()
        rf_we = Signal()
        rf_re = Signal()
        rf_commit = Signal()
        abort_all = Signal()
        rf_index = Signal(8)
        rf_wdata = Signal(10)
        m.d.sync += [we.eq(0), re.eq(0), rf_we.eq(0), rf_re.eq(0), rf_commit.eq(0),
                     abort_all.eq(0), self.done.eq(0)]

        for i, b in enumerate(self.bus):
            sel = tsel[i] & ~is_chip
            m.d.comb += [
                b.addr.eq(addr),
                b.wdata.eq(wdata),
                b.we.eq(we & sel),
                b.re.eq(re & sel),
                b.rf_sel.eq(rf_sel),
                b.rf_index.eq(rf_index),
                b.rf_wdata.eq(rf_wdata),
                b.rf_we.eq(rf_we & sel),
                b.rf_re.eq(rf_re & sel),
                b.rf_commit.eq(rf_commit & sel),
                b.rf_abort.eq(abort_all),
            ]
        m.d.comb += [
            chip.addr.eq(addr),
            chip.wdata.eq(wdata),
            chip.we.eq(we & is_chip),
            chip.re.eq(re & is_chip),
        ]

        # The addressed core's read data (only one core is addressed by a read).
        core_idx = Signal(range(max(n, 2)))   # at least 1 bit (no [-1:0] port)
        for i in range(n):
            with m.If(tsel[i]):
                m.d.comb += core_idx.eq(i)
        rdata = Signal(16)
        rf_rdata = Signal(10)
        m.d.comb += [
            rdata.eq(Mux(is_chip, chip.rdata, Array(b.rdata for b in self.bus)[core_idx])),
            rf_rdata.eq(Array(b.rf_rdata for b in self.bus)[core_idx]),
        ]

        # ---- chip control registers
        err_code = Signal(4)
        err_count = Signal(8)
        core_sel = Signal(48)
        busy48 = Signal(48)
        m.d.comb += [
            self.err_code.eq(err_code),
            self.err_count.eq(err_count),
            chip.hw.n_cores.n.eq(n),
            chip.hw.spi_err.code.eq(err_code),
            chip.hw.spi_err.count.eq(err_count),
            busy48.eq(self.busy),
            chip.hw.busy0.mask.eq(busy48[0:16]),
            chip.hw.busy1.mask.eq(busy48[16:32]),
            chip.hw.busy2.mask.eq(busy48[32:48]),
            core_sel.eq(Cat(chip.hw.core_sel0.mask, chip.hw.core_sel1.mask, chip.hw.core_sel2.mask)),
            self.start.eq(Mux(chip.hw.chip_cmd.start_sel, core_sel[:n], 0)),
        ]
        # The RegBlock's singlepulse rule (pulse <= we & hit & wdata bit) one cycle early;
        # CORE_SEL cannot change in between (one register write per frame).
        start_sel = chip_map.reg("CHIP_CMD").field("start_sel")
        start_write = Signal()
        m.d.comb += [
            start_write.eq(chip.we & (addr == chip_map.reg("CHIP_CMD").addr)
                           & wdata[start_sel.lsb]),
            self.start_next.eq(Mux(start_write, core_sel[:n], 0)),
            self.frame_cores.eq(Mux(active, Mux(is_chip, core_sel[:n], tsel), 0)),
        ]
        with m.If(chip.hw.chip_cmd.clear_err):
            m.d.sync += [err_code.eq(0), err_count.eq(0)]

        # ---- MISO side: the byte after the one being shifted out
        tx_full = Signal()
        lo_byte = Signal(8)
        lo_valid = Signal()
        rd_wait = Signal()           # a register read was issued; data next-next cycle
        rd_cap = Signal()
        m.d.sync += rd_cap.eq(re)
        with m.If(self.tx_load):
            m.d.sync += [self.tx_data.eq(Mux(lo_valid, lo_byte, 0)), tx_full.eq(lo_valid),
                         lo_valid.eq(0)]

        # ---- register-file burst write: unpack entries from the bit stream
        ubuf = Signal(17)
        ubits = Signal(5)
        remaining = Signal(9)
        unpacking = Signal()
        can_emit = Signal()
        m.d.comb += can_emit.eq(unpacking & (remaining != 0) & (ubits >= width))
        with m.If(can_emit & ~self.rx_valid):
            shifted = Signal(17)
            m.d.comb += shifted.eq(ubuf >> (ubits - width)[:5])
            mask = Signal(10)
            m.d.comb += mask.eq(~(Const(0x3FF, 10) << width))
            m.d.sync += [
                rf_we.eq(1),
                rf_wdata.eq(shifted[:10] & mask),
                rf_index.eq(rf_index + 1),
                ubits.eq(ubits - width),
                remaining.eq(remaining - 1),
            ]

        # ---- register-file burst read: pack entries into bytes
        packing = Signal()
        pbuf = Signal(17)
        pbits = Signal(5)
        premaining = Signal(9)
        pfirst = Signal()            # the first read uses rf_start itself
        p_inflight = Signal()
        p_cap = Signal()
        m.d.sync += p_cap.eq(rf_re)
        m.d.comb += p_inflight.eq(rf_re | p_cap)
        fill_ok = Signal()
        m.d.comb += fill_ok.eq(packing & ~tx_full & ~self.tx_load & ~self.cs_start)
        extract = Signal()
        flush = Signal()
        m.d.comb += [
            extract.eq(fill_ok & (pbits >= 8)),
            flush.eq(fill_ok & (pbits != 0) & (pbits < 8) & (premaining == 0) & ~p_inflight),
        ]
        with m.If(packing):
            bits_after = Signal(5)
            m.d.comb += bits_after.eq(pbits - Mux(extract, 8, 0) - Mux(flush, pbits, 0)
                                      + Mux(p_cap, width, 0))
            with m.If(p_cap):
                wmask = Signal(10)
                m.d.comb += wmask.eq(~(Const(0x3FF, 10) << width))
                m.d.sync += pbuf.eq((pbuf << width) | (rf_rdata & wmask))
            m.d.sync += pbits.eq(bits_after)
            with m.If(extract):
                m.d.sync += [self.tx_data.eq(pbuf >> (pbits - 8)[:5]), tx_full.eq(1)]
            with m.Elif(flush):
                m.d.sync += [self.tx_data.eq(pbuf << (8 - pbits)[:4]), tx_full.eq(1)]
            # one read every 2 cycles while the buffer holds less than a byte (<= 17 bits)
            with m.If((premaining != 0) & ~rf_re & (bits_after < 8)):
                m.d.sync += [
                    rf_re.eq(1),
                    rf_index.eq(Mux(pfirst, rf_start, rf_index + 1)),
                    pfirst.eq(0),
                    premaining.eq(premaining - 1),
                ]

        # register read data to MISO: d_hi for the byte after next, d_lo after it
        with m.If(rd_cap & rd_wait):
            m.d.sync += [
                self.tx_data.eq(rdata[8:16]), tx_full.eq(1),
                lo_byte.eq(rdata[0:8]), lo_valid.eq(1), rd_wait.eq(0),
            ]

        # ---- byte decoding
        b = self.rx_data
        mapped_core = _rom_bit(m, b, [r.addr for r in core_map.registers], "mapped_core")
        writable_core = _rom_bit(m, b, [r.addr for r in core_map.registers if r.sw_writable],
                                 "writable_core")
        mapped_chip = _rom_bit(m, b, [r.addr for r in chip_map.registers], "mapped_chip")
        writable_chip = _rom_bit(m, b, [r.addr for r in chip_map.registers if r.sw_writable],
                                 "writable_chip")
        is_write = Signal()
        is_reg = Signal()
        m.d.comb += [
            is_write.eq((op == Op.REG_WRITE) | (op == Op.RF_WRITE)),
            is_reg.eq((op == Op.REG_WRITE) | (op == Op.REG_READ)),
        ]
        data_bits = Signal(12)
        m.d.comb += data_bits.eq(count * b[:4])

        def fail(code):
            m.d.sync += err.eq(code)

        with m.If(self.rx_valid & active & ~end_req):
            with m.If(idx != 2047):
                m.d.sync += idx.eq(idx + 1)
            with m.If(err == 0):
                with m.Switch(idx):
                    with m.Case(0):
                        m.d.sync += op.eq(b)
                        with m.Switch(b):
                            with m.Case(Op.REG_WRITE):
                                m.d.sync += flen.eq(REG_WRITE_LEN)
                            with m.Case(Op.REG_READ):
                                m.d.sync += flen.eq(REG_READ_LEN)
                            with m.Case(Op.RF_WRITE, Op.RF_READ):
                                m.d.sync += flen.eq(HEADER_RF)
                            with m.Default():
                                fail(SpiErr.BAD_OPCODE)
                    with m.Case(1):
                        m.d.sync += [core.eq(b), is_chip.eq(b == regmap.CORE_CHIP)]
                        m.d.sync += tsel.eq(Cat(*[(b == i) | (b == regmap.CORE_BROADCAST)
                                                  for i in range(n)]))
                        with m.If(b == regmap.CORE_BROADCAST):
                            with m.If(~is_write):
                                fail(SpiErr.READ_BROADCAST)
                        with m.Elif(b == regmap.CORE_CHIP):
                            with m.If(~is_reg):
                                fail(SpiErr.ADDR_RANGE)
                        with m.Elif(b >= n):
                            fail(SpiErr.ADDR_RANGE)
                    with m.Case(2):
                        with m.If(is_reg):
                            m.d.sync += addr.eq(b)
                            mapped = Mux(is_chip, mapped_chip, mapped_core)
                            writable = Mux(is_chip, writable_chip, writable_core)
                            with m.If(~mapped):
                                fail(SpiErr.ADDR_RANGE)
                            with m.Elif((op == Op.REG_WRITE) & ~writable):
                                fail(SpiErr.WRITE_RO)
                            with m.Elif(op == Op.REG_READ):
                                m.d.sync += [re.eq(1), rd_wait.eq(1)]
                        with m.Else():
                            m.d.sync += rf_sel.eq(b[0])
                            with m.If(b > 1):
                                fail(SpiErr.ADDR_RANGE)
                    with m.Case(3):
                        with m.If(op == Op.REG_WRITE):
                            m.d.sync += wdata[8:16].eq(b)
                        with m.Elif(~is_reg):
                            m.d.sync += rf_start.eq(b)
                    with m.Case(4):
                        with m.If(op == Op.REG_WRITE):
                            m.d.sync += wdata[0:8].eq(b)
                        with m.Elif(~is_reg):
                            m.d.sync += count.eq(b + 1)
                            with m.If((rf_start + b)[8]):
                                fail(SpiErr.ADDR_RANGE)
                    with m.Case(5):
                        with m.If(op == Op.REG_WRITE):
                            fail(SpiErr.EXTRA_BYTES)
                        with m.Elif(~is_reg):
                            m.d.sync += width.eq(b[:4])
                            with m.If((b == 0) | (b > regmap.RF_MAX_WIDTH)):
                                fail(SpiErr.BAD_WIDTH)
                            with m.Elif(op == Op.RF_WRITE):
                                m.d.sync += [
                                    flen.eq(HEADER_RF + ((data_bits + 7) >> 3)),
                                    unpacking.eq(1), ubits.eq(0), remaining.eq(count),
                                    rf_index.eq(rf_start - 1),
                                ]
                            with m.Else():
                                m.d.sync += [
                                    flen.eq(HEADER_RF + 1 + ((data_bits + 7) >> 3)),
                                    packing.eq(1), pbits.eq(0), premaining.eq(count),
                                    pfirst.eq(1),
                                ]
                    with m.Default():
                        with m.If(op == Op.REG_WRITE):
                            fail(SpiErr.EXTRA_BYTES)
                        with m.Elif(op == Op.RF_WRITE):
                            with m.If(idx >= flen):
                                fail(SpiErr.EXTRA_BYTES)
                            with m.Else():
                                m.d.sync += [ubuf.eq(Cat(b, ubuf[:9])), ubits.eq(ubits + 8)]

        # ---- frame start / end
        start_req = Signal()         # a frame began while the previous one was being finished
        with m.If(self.cs_start & end_req):
            m.d.sync += start_req.eq(1)
        with m.If((self.cs_start | start_req) & ~end_req):
            m.d.sync += [
                start_req.eq(0),
                active.eq(1), idx.eq(0), err.eq(0), end_req.eq(0),
                op.eq(0), core.eq(0), is_chip.eq(0), tsel.eq(0),
                unpacking.eq(0), packing.eq(0), rd_wait.eq(0), lo_valid.eq(0),
                self.tx_data.eq(0), tx_full.eq(0), flen.eq(1),
            ]
        with m.If(self.cs_end & active):
            m.d.sync += [
                end_req.eq(1), end_partial.eq(self.cs_partial), packing.eq(0),
                self.tx_data.eq(0), tx_full.eq(0), lo_valid.eq(0), rd_wait.eq(0),
            ]
        # Interlock: a burst is not committed into a core that is running an operation
        # (its register files hold the inputs being read, the outputs being written, the
        # programming decoders); the whole frame is refused as a bad one instead.
        busy_hit = Signal()
        m.d.comb += busy_hit.eq((op == Op.RF_WRITE) & (tsel & self.busy).any())
        with m.If(end_req & ~can_emit):
            code = Signal(4)
            m.d.comb += code.eq(Mux(err != 0, err,
                                Mux(end_partial, SpiErr.CS_MID_BYTE,
                                    Mux((idx != 0) & (idx < flen), SpiErr.SHORT_FRAME,
                                        Mux(busy_hit, SpiErr.CORE_BUSY, 0)))))
            m.d.sync += [active.eq(0), end_req.eq(0), unpacking.eq(0),
                         self.done.eq(1), self.done_err.eq(code)]
            with m.If(code != 0):
                m.d.sync += [err_code.eq(code), abort_all.eq(1)]
                with m.If(err_count != 255):
                    m.d.sync += err_count.eq(err_count + 1)
            with m.Elif(idx != 0):
                with m.If(op == Op.REG_WRITE):
                    m.d.sync += we.eq(1)
                with m.Elif(op == Op.RF_WRITE):
                    m.d.sync += rf_commit.eq(1)
        return m


# ---------------------------------------------------------------------------------------
# Frame builders (host side): the contract's frame layouts under the names the tests use.
# They check only what the bytes need, so tests can build malformed frames with them.

pack_entries = frames.pack_entries
frame_reg_write = frames.reg_write
frame_reg_read = frames.reg_read
frame_rf_write = frames.rf_write
frame_rf_read = frames.rf_read


def unpack_entries(data: bytes, count: int, width: int) -> list[int]:
    """:func:`rtl.contract.frames.unpack_entries` as a list."""
    return frames.unpack_entries(data, count, width).tolist()

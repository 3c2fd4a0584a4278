"""Golden model of the SPI frame decoder (:class:`rtl.frame.FrameDecoder`) at frame level.

:class:`FrameModel` answers one CS-low period at a time with the RTL's rules: the opcode
and core bytes, then one handler per opcode for the rest of the frame, then the end of
the frame (errors, commit or abort). :class:`CoreTargetModel` is a target of plain
per-core models for the bus-side tests; ``cosim.golden`` plugs in full cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .contract.constants import CORE_BROADCAST, CORE_CHIP, MAX_CORES, RF_ENTRIES, RF_MAX_WIDTH
from .contract.frames import RF_HEADER, REG_READ_LEN, REG_WRITE_LEN, Opcode, data_bytes
from .contract.registers import CHIP, CORE, SpiErr
from .regblock import RegisterModel

__all__ = ["CoreTargetModel", "FrameModel", "FrameTarget", "check_n_cores"]

# Bits of each CORE_SEL / BUSY register (three of them cover MAX_CORES cores).
_MASK_BITS = CHIP.reg("CORE_SEL0").field("mask").width


def check_n_cores(n_cores) -> int:
    if not isinstance(n_cores, int) or isinstance(n_cores, bool):
        raise TypeError(f"n_cores must be an int, not {n_cores!r}")
    if not 1 <= n_cores <= MAX_CORES:
        raise ValueError(f"n_cores must be 1..{MAX_CORES}, not {n_cores!r}")
    return n_cores


class FrameTarget(Protocol):
    """What :class:`FrameModel` drives: the cores (0..n_cores-1)."""

    def reg_write(self, core: int, addr: int, data: int) -> None: ...
    def reg_read(self, core: int, addr: int) -> int: ...
    def rf_stage(self, core: int, file: int, index: int, value: int) -> None: ...
    def rf_commit(self, core: int) -> None: ...
    def rf_abort(self, core: int) -> None: ...
    def rf_read(self, core: int, file: int, index: int) -> int: ...
    # optional: busy(core) -> bool (BUSY0-2, the burst interlock), start(core) -> None
    # (CHIP_CMD.start_sel)


@dataclass
class _Frame:
    """State of the frame being received."""

    out: bytearray                 #: MISO bytes (one spare for a partial last byte)
    err: int = 0                   #: first error of the frame
    op: int | None = None
    core: int | None = None
    targets: list = field(default_factory=list)
    is_chip: bool = False
    flen: int = 1                  #: length of the complete frame
    addr: int = 0
    wdata: int = 0
    rf_file: int = 0
    rf_start: int = 0
    count: int = 0
    width: int = 0
    ubuf: int = 0                  #: RF_WRITE: bits received, not yet staged
    ubits: int = 0
    staged: int = 0

    def put(self, pos: int, byte: int) -> None:
        if pos < len(self.out):
            self.out[pos] = byte


class FrameModel:
    """Golden model of :class:`rtl.frame.FrameDecoder` (+ :class:`rtl.spi.SpiSlave`).

    ``transfer(mosi, extra_bits=0, partial_byte=0)`` is one CS-low period: ``mosi`` whole
    bytes, then ``extra_bits`` MSBs of ``partial_byte``; it returns the MISO bytes (a
    partial last byte MSB-aligned). The register-file stages happen during the frame and
    are committed or aborted at its end, exactly as the RTL does, so a target that models
    the live/shadow slots sees the same calls.
    """

    def __init__(self, target, n_cores: int):
        check_n_cores(n_cores)
        self.target = target
        self.n_cores = n_cores
        self.chip = RegisterModel(CHIP)
        self.chip.set_hw("N_CORES", "n", n_cores)
        self.last_err = 0
        self._body = {Opcode.REG_WRITE: self._reg_write_byte, Opcode.REG_READ: self._reg_read_byte,
                      Opcode.RF_WRITE: self._rf_write_byte, Opcode.RF_READ: self._rf_read_byte}

    @property
    def err_code(self) -> int:
        return self.chip.get("spi_err", "code")

    @property
    def err_count(self) -> int:
        return self.chip.get("spi_err", "count")

    def _busy(self, core: int) -> bool:
        return bool(self.target.busy(core)) if hasattr(self.target, "busy") else False

    # ---- chip control registers
    def _chip_read(self, addr):
        busy = 0
        for c in range(self.n_cores):
            busy |= int(self._busy(c)) << c
        for k in range(3):
            self.chip.set_hw(f"BUSY{k}", "mask", (busy >> (_MASK_BITS * k)) & ((1 << _MASK_BITS) - 1))
        return self.chip.read(addr)

    def _chip_write(self, addr, data):
        self.chip.write(addr, data)
        if ("chip_cmd", "clear_err") in self.chip.pulses:
            self.chip.set_hw("SPI_ERR", "code", 0)
            self.chip.set_hw("SPI_ERR", "count", 0)
        if ("chip_cmd", "start_sel") in self.chip.pulses and hasattr(self.target, "start"):
            sel = sum(self.chip.get(f"core_sel{k}", "mask") << (_MASK_BITS * k) for k in range(3))
            for c in range(self.n_cores):
                if sel >> c & 1:
                    self.target.start(c)

    # ---- the first two bytes
    @staticmethod
    def _opcode(f: _Frame, b: int) -> None:
        f.op = b
        if b == Opcode.REG_WRITE:
            f.flen = REG_WRITE_LEN
        elif b == Opcode.REG_READ:
            f.flen = REG_READ_LEN
        elif b in (Opcode.RF_WRITE, Opcode.RF_READ):
            f.flen = RF_HEADER
        else:
            f.err = SpiErr.BAD_OPCODE

    def _core_byte(self, f: _Frame, b: int) -> None:
        f.core = b
        is_write = f.op in (Opcode.REG_WRITE, Opcode.RF_WRITE)
        is_reg = f.op in (Opcode.REG_WRITE, Opcode.REG_READ)
        f.is_chip = b == CORE_CHIP
        if b == CORE_BROADCAST:
            f.targets = list(range(self.n_cores))
            if not is_write:
                f.err = SpiErr.READ_BROADCAST
        elif f.is_chip:
            if not is_reg:
                f.err = SpiErr.ADDR_RANGE
        elif b >= self.n_cores:
            f.err = SpiErr.ADDR_RANGE
        else:
            f.targets = [b]

    # ---- one handler per opcode for bytes 2.. of the frame
    def _reg_addr(self, f: _Frame, b: int, write: bool) -> None:
        amap = CHIP if f.is_chip else CORE
        f.addr = b
        if not amap.mapped(b):
            f.err = SpiErr.ADDR_RANGE
        elif write and not amap.writable(b):
            f.err = SpiErr.WRITE_RO

    def _reg_write_byte(self, f: _Frame, i: int, b: int) -> None:
        if i == 2:
            self._reg_addr(f, b, write=True)
        elif i == 3:
            f.wdata = b << 8
        elif i == 4:
            f.wdata |= b
        else:
            f.err = SpiErr.EXTRA_BYTES

    def _reg_read_byte(self, f: _Frame, i: int, b: int) -> None:
        if i != 2:
            return           # dummy and data bytes: the chip ignores MOSI
        self._reg_addr(f, b, write=False)
        if not f.err:
            word = self._chip_read(b) if f.is_chip else self.target.reg_read(f.core, b)
            f.put(REG_READ_LEN - 2, word >> 8)
            f.put(REG_READ_LEN - 1, word & 0xFF)

    @staticmethod
    def _rf_header(f: _Frame, i: int, b: int) -> bool:
        """Bytes 2-5 of a register-file burst; True when byte ``i`` was one of them."""
        if i == 2:
            f.rf_file = b & 1
            if b > 1:
                f.err = SpiErr.ADDR_RANGE
        elif i == 3:
            f.rf_start = b
        elif i == 4:
            f.count = b + 1
            if f.rf_start + f.count > RF_ENTRIES:
                f.err = SpiErr.ADDR_RANGE
        elif i == 5:
            f.width = b
            if b == 0 or b > RF_MAX_WIDTH:
                f.err = SpiErr.BAD_WIDTH
        else:
            return False
        return True

    def _rf_write_byte(self, f: _Frame, i: int, b: int) -> None:
        if self._rf_header(f, i, b):
            if i == 5 and not f.err:
                f.flen = RF_HEADER + data_bytes(f.count, f.width)
            return
        if i >= f.flen:
            f.err = SpiErr.EXTRA_BYTES
            return
        f.ubuf = (f.ubuf << 8) | b
        f.ubits += 8
        while f.ubits >= f.width and f.staged < f.count:
            v = (f.ubuf >> (f.ubits - f.width)) & ((1 << f.width) - 1)
            f.ubits -= f.width
            f.ubuf &= (1 << f.ubits) - 1
            for c in f.targets:
                self.target.rf_stage(c, f.rf_file, f.rf_start + f.staged, v)
            f.staged += 1

    def _rf_read_byte(self, f: _Frame, i: int, b: int) -> None:
        if not self._rf_header(f, i, b) or i != 5 or f.err:
            return           # MOSI bytes after the header are ignored
        nbytes = data_bytes(f.count, f.width)
        f.flen = RF_HEADER + 1 + nbytes
        bits = 0
        for k in range(f.count):
            v = self.target.rf_read(f.core, f.rf_file, f.rf_start + k) & ((1 << f.width) - 1)
            bits = (bits << f.width) | v
        bits <<= nbytes * 8 - f.count * f.width
        for k in range(nbytes):
            f.put(RF_HEADER + 1 + k, (bits >> (8 * (nbytes - 1 - k))) & 0xFF)

    # ---- the frame
    def transfer(self, mosi: bytes, extra_bits: int = 0, partial_byte: int = 0) -> bytes:
        mosi = bytes(mosi)
        if not 0 <= extra_bits < 8:
            raise ValueError(f"extra_bits must be 0..7, not {extra_bits!r}")
        f = _Frame(out=bytearray(len(mosi) + 1))
        for i, b in enumerate(mosi):
            if f.err:
                continue
            if i == 0:
                self._opcode(f, b)
            elif i == 1:
                self._core_byte(f, b)
            else:
                self._body[f.op](f, i, b)
        nb = len(mosi)
        self.last_err = self._finish(f, nb, extra_bits)
        miso = bytes(f.out[:nb])
        if extra_bits:
            keep = (0xFF << (8 - extra_bits)) & 0xFF
            miso += bytes([f.out[nb] & keep])
        return miso

    def _finish(self, f: _Frame, nb: int, extra_bits: int) -> int:
        """CS rose: the frame's error code; a good frame commits, a bad one aborts."""
        if f.err:
            code = int(f.err)
        elif extra_bits:
            code = SpiErr.CS_MID_BYTE
        elif nb != 0 and nb < f.flen:
            code = SpiErr.SHORT_FRAME
        elif nb != 0 and f.op == Opcode.RF_WRITE and any(self._busy(c) for c in f.targets):
            code = SpiErr.CORE_BUSY
        else:
            code = 0
        if code:
            self.chip.set_hw("SPI_ERR", "code", int(code))
            self.chip.set_hw("SPI_ERR", "count", min(self.err_count + 1, 255))
            for c in range(self.n_cores):
                self.target.rf_abort(c)
        elif nb:
            if f.op == Opcode.REG_WRITE:
                if f.is_chip:
                    self._chip_write(f.addr, f.wdata)
                else:
                    for c in f.targets:
                        self.target.reg_write(c, f.addr, f.wdata)
            elif f.op == Opcode.RF_WRITE:
                for c in f.targets:
                    self.target.rf_commit(c)
        return int(code)


class CoreTargetModel:
    """A :class:`FrameTarget` of plain golden models: per core a
    :class:`rtl.regblock.RegisterModel` and two :class:`rtl.regfile.RegisterFileModel`
    (BL, SL). Used by the bus-side tests; ``cosim.golden`` plugs in full cores."""

    def __init__(self, n_cores: int):
        from .regfile import RegisterFileModel
        check_n_cores(n_cores)
        self.regs = [RegisterModel(CORE) for _ in range(n_cores)]
        self.files = [[RegisterFileModel(), RegisterFileModel()] for _ in range(n_cores)]
        self.started = [0] * n_cores
        self.busy_flags = [False] * n_cores

    def reg_write(self, core, addr, data):
        self.regs[core].write(addr, data)

    def reg_read(self, core, addr):
        return self.regs[core].read(addr)

    def rf_stage(self, core, file, index, value):
        self.files[core][file].stage(index, value)

    def rf_commit(self, core):
        for f in self.files[core]:
            f.commit()

    def rf_abort(self, core):
        for f in self.files[core]:
            f.abort()

    def rf_read(self, core, file, index):
        return self.files[core][file].read(index)

    def busy(self, core):
        return self.busy_flags[core]

    def start(self, core):
        self.started[core] += 1

"""Low-level API: SPI frames, registers, register files and single-cell operations.

This is the bottom of the paper's three-level toolchain (SPEC §8): it knows the SPI frame
format (docs/architecture.md §2), the register map (generated from ``rtl/regmap.rdl``, used
here only by name) and the register-file data formats (§5), and nothing about neural
networks. Everything goes through a :class:`firmware.transport.Transport`, so the same
code drives the golden model, the cocotb cosimulation or a real board.

Examples
--------
>>> chip = Chip(transport)                       # doctest: +SKIP
>>> chip.write_fields(0, "CTRL", mode="MVM", dir="FWD")
>>> chip.load_rf(0, RegFile.BL, codes, width=4)
>>> chip.start(0); chip.wait_done(0)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

import numpy as np

from firmware import _regmap
from firmware.transport import Transport
from rtl.contract import frames
from rtl.contract.config import (CoreConfig, decode_outputs, encode_inputs, mvm_cycles,
                                 program_cycles)
from rtl.contract.constants import (CLK_NS, CORE_BROADCAST, CORE_CHIP, ENTRY_BITS, N_LINES,
                                    PROG_AMP_LSB_V, RF_FILES)
from rtl.contract.frames import Opcode, decode_reg_read, pack_entries, unpack_entries
from rtl.contract.regmap import REG_BITS, Register
from rtl.contract.registers import DESCRIPTIONS, ENUMS, Mode

__all__ = [
    "Opcode", "RegFile", "BROADCAST", "CHIP", "N_LINES", "ENTRY_BITS", "CLK_NS",
    "ChipError", "ConfigError", "SpiError",
    "pack_entries", "unpack_entries", "encode_reg_write", "encode_reg_read",
    "decode_reg_read", "encode_rf_write", "encode_rf_read", "decode_rf_read",
    "encode_inputs", "decode_outputs", "Chip",
]


class RegFile(enum.IntEnum):
    """Register file selector of an RF_WRITE / RF_READ frame."""

    BL = RF_FILES["BL"]   #: row (BL) register file
    SL = RF_FILES["SL"]   #: column (SL) register file


BROADCAST = CORE_BROADCAST   #: core byte addressing every core (writes only)
CHIP = CORE_CHIP             #: core byte addressing the chip control registers


class ChipError(RuntimeError):
    """The chip reported an error (base class)."""


class ConfigError(ChipError):
    """A start was refused: STATUS.err named a configuration error."""


class SpiError(ChipError):
    """SPI_ERR reported a bad frame."""


# ----------------------------------------------------------------------------- helpers
def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value!r}")
    return int(value)


def _check_core_byte(core: int, *, write: bool) -> int:
    core = _check_int("core", core, 0, 0xFF)
    if core == BROADCAST and not write:
        raise ValueError("core 0xFF (broadcast) can only be written, not read")
    return core


def encode_reg_write(core: int, addr: int, value: int) -> bytes:
    """REG_WRITE frame: ``op core addr d_hi d_lo``."""
    core = _check_core_byte(core, write=True)
    addr = _check_int("addr", addr, 0, 0xFF)
    value = _check_int("value", value, 0, 0xFFFF)
    return frames.reg_write(core, addr, value)


def encode_reg_read(core: int, addr: int) -> bytes:
    """REG_READ frame: ``op core addr dummy xx xx`` (data returned in the last two bytes)."""
    core = _check_core_byte(core, write=False)
    addr = _check_int("addr", addr, 0, 0xFF)
    return frames.reg_read(core, addr)


def _check_rf(file: int, start: int, count: int, width: int) -> tuple[int, int, int, int]:
    file = int(RegFile(_check_int("file", file, 0, 1)))
    start = _check_int("start", start, 0, N_LINES - 1)
    count = _check_int("count", count, 1, N_LINES)
    if start + count > N_LINES:
        raise ValueError(f"start + count must be <= {N_LINES}, got {start} + {count}")
    width = _check_int("width", width, 1, ENTRY_BITS)
    return file, start, count, width


def encode_rf_write(core: int, file: int, start: int, values, width: int) -> bytes:
    """RF_WRITE frame: ``op core file start count-1 width`` + packed entries."""
    core = _check_core_byte(core, write=True)
    values = np.asarray(values)
    file, start, count, width = _check_rf(file, start, values.size, width)
    return frames.rf_write(core, file, start, values, width)


def encode_rf_read(core: int, file: int, start: int, count: int, width: int) -> bytes:
    """RF_READ frame: ``op core file start count-1 width dummy`` + one byte per data byte."""
    core = _check_core_byte(core, write=False)
    file, start, count, width = _check_rf(file, start, count, width)
    return frames.rf_read(core, file, start, count, width)


def decode_rf_read(miso: bytes, count: int, width: int) -> np.ndarray:
    """Entries from the MISO bytes of an RF_READ frame."""
    return frames.decode_rf_read(miso, count, width)


# ------------------------------------------------------------------------- the driver
class Chip:
    """Low-level driver of one NeuRRAM chip behind a :class:`Transport`.

    Parameters
    ----------
    transport : Transport
        SPI + board access (golden model, cosimulation or a board).
    clk_ns : float
        System clock period, used to convert pulse widths to PROG_WIDTH cycles.
    poll_ns : float
        Chip time between STATUS polls while waiting for an operation.
    check_id : bool
        Read CHIP_ID and ID of core 0 and refuse to work with a wrong chip.

    Notes
    -----
    The driver keeps a host-side copy (shadow) of every writable register it has written
    or read, so a field update is a single write frame and a write of an unchanged value is
    skipped. :meth:`invalidate` drops the copy (e.g. after a chip reset).
    """

    def __init__(self, transport: Transport, *, clk_ns: float = CLK_NS,
                 poll_ns: float = 200.0, check_id: bool = True):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a firmware.transport.Transport, got {type(transport).__name__}")
        if not (isinstance(clk_ns, (int, float)) and clk_ns > 0 and math.isfinite(clk_ns)):
            raise ValueError(f"clk_ns must be a positive number, got {clk_ns!r}")
        if not (isinstance(poll_ns, (int, float)) and poll_ns > 0 and math.isfinite(poll_ns)):
            raise ValueError(f"poll_ns must be a positive number, got {poll_ns!r}")
        self.transport = transport
        self.clk_ns = float(clk_ns)
        self.poll_ns = float(poll_ns)
        self.map = _regmap.load()
        self.enums = self.map.enums
        self._shadow: dict[tuple[int, str], int] = {}
        self.frames = 0   #: SPI frames sent (statistics)
        if check_id:
            chip_id = self.read_chip_reg("CHIP_ID")
            want = self.map.chip["CHIP_ID"].reset
            if chip_id != want:
                raise ChipError(f"CHIP_ID reads {chip_id:#06x}, expected {want:#06x}: no NeuRRAM chip?")
        n = self.read_chip_reg("N_CORES")
        self.n_cores = n if n > 0 else int(getattr(transport, "n_cores", 1))
        if check_id:
            core_id = self.read_reg(0, "ID")
            want = self.map.core["ID"].reset
            if core_id != want:
                raise ChipError(f"core 0 ID reads {core_id:#06x}, expected {want:#06x}")

    # ------------------------------------------------------------------ SPI primitives
    def _spi(self, mosi: bytes) -> bytes:
        self.frames += 1
        miso = self.transport.spi(mosi)
        if len(miso) != len(mosi):
            raise ChipError(f"transport returned {len(miso)} MISO bytes for {len(mosi)} MOSI bytes")
        return miso

    def check_core(self, core, *, broadcast: bool = False) -> int:
        """Validate a core index (``broadcast`` also allows :data:`BROADCAST`)."""
        if broadcast and isinstance(core, (int, np.integer)) and not isinstance(core, bool) \
                and int(core) == BROADCAST:
            return BROADCAST
        allowed = f"0..{self.n_cores - 1}" + (" or 0xFF (broadcast)" if broadcast else "")
        if isinstance(core, bool) or not isinstance(core, (int, np.integer)):
            raise TypeError(f"core must be an int in {allowed}, got {core!r}")
        if not 0 <= int(core) < self.n_cores:
            raise ValueError(f"core must be in {allowed}, got {core!r}")
        return int(core)

    def _reg(self, space: str, name: str) -> Register:
        regs = self.map.core if space == "core" else self.map.chip
        if name not in regs:
            raise ValueError(f"unknown {space} register {name!r}; choose from {', '.join(regs)}")
        return regs[name]

    def _enc_fields(self, reg: Register, base: int, fields: dict) -> int:
        value = base
        for fname, fval in fields.items():
            if fname not in reg.by_name:
                raise ValueError(f"register {reg.name} has no field {fname!r}; "
                                 f"choose from {', '.join(reg.by_name)}")
            f = reg.by_name[fname]
            if not f.writable:
                raise ValueError(f"{reg.name}.{fname} is read-only")
            if isinstance(fval, str):
                fval = self._enum_value(reg, fname, fval)
            fval = _check_int(f"{reg.name}.{fname}", int(fval) if isinstance(fval, enum.IntEnum) else fval,
                              0, f.max)
            value = (value & ~f.mask) | (fval << f.lsb)
        return value

    def _enum_value(self, reg: Register, fname: str, label: str) -> int:
        f = reg.by_name[fname]
        if f.enum_name is None:
            raise ValueError(f"{reg.name}.{fname} takes an int, not the label {label!r}")
        e = ENUMS[f.enum_name]
        if label not in e.__members__:
            raise ValueError(f"{reg.name}.{fname} must be one of {', '.join(e.__members__)}, got {label!r}")
        return int(e[label])

    # ------------------------------------------------------------ register access
    def write_reg(self, core: int, name: str, value: int) -> None:
        """Write a whole core register (``core`` may be :data:`BROADCAST`)."""
        core = self.check_core(core, broadcast=True)
        reg = self._reg("core", name)
        if not reg.writable:
            raise ValueError(f"register {name} is read-only")
        value = _check_int("value", value, 0, 0xFFFF)
        self._spi(encode_reg_write(core, reg.addr, value))
        if all(f.singlepulse for f in reg.fields):
            return   # single-pulse command bits read back 0: nothing to remember
        cores = range(self.n_cores) if core == BROADCAST else (core,)
        for c in cores:
            self._shadow[(c, name)] = value

    def read_reg(self, core: int, name: str) -> int:
        """Read a whole core register over SPI (always a frame, never the shadow)."""
        core = self.check_core(core)
        reg = self._reg("core", name)
        value = decode_reg_read(self._spi(encode_reg_read(core, reg.addr)))
        if reg.writable and name != "CMD":
            self._shadow[(core, name)] = value
        return value

    def _current(self, core: int, name: str) -> int:
        if (core, name) not in self._shadow:
            self.read_reg(core, name)
        return self._shadow[(core, name)]

    def write_fields(self, core: int, name: str, **fields) -> None:
        """Update some fields of a core register, keeping the others.

        Field values may be ints or enum labels (``mode="MVM"``). With ``core`` =
        :data:`BROADCAST` one frame is sent when every core holds the same value of the
        register, otherwise one frame per core. A write that changes nothing is skipped.
        """
        core = self.check_core(core, broadcast=True)
        reg = self._reg("core", name)
        if name == "CMD":
            self.write_reg(core, name, self._enc_fields(reg, 0, fields))
            return
        cores = list(range(self.n_cores)) if core == BROADCAST else [core]
        new = {c: self._enc_fields(reg, self._current(c, name), fields) for c in cores}
        if all(self._shadow.get((c, name)) == new[c] for c in cores):
            return
        if core == BROADCAST and len(set(new.values())) == 1:
            self.write_reg(BROADCAST, name, new[cores[0]])
        else:
            for c in cores:
                if self._shadow.get((c, name)) != new[c]:
                    self.write_reg(c, name, new[c])

    def read_field(self, core: int, name: str, field: str) -> int:
        """Read one field of a core register over SPI."""
        reg = self._reg("core", name)
        if field not in reg.by_name:
            raise ValueError(f"register {name} has no field {field!r}; choose from {', '.join(reg.by_name)}")
        f = reg.by_name[field]
        return (self.read_reg(core, name) >> f.lsb) & f.max

    def fields(self, name: str, value: int, space: str = "core") -> dict:
        """Split a register value into its fields."""
        reg = self._reg(space, name)
        return {fn: (value >> f.lsb) & f.max for fn, f in reg.by_name.items()}

    def write_chip_reg(self, name: str, value: int) -> None:
        """Write a chip control register (core byte 0xFE)."""
        reg = self._reg("chip", name)
        if not reg.writable:
            raise ValueError(f"chip register {name} is read-only")
        value = _check_int("value", value, 0, 0xFFFF)
        self._spi(encode_reg_write(CHIP, reg.addr, value))

    def write_chip_fields(self, name: str, **fields) -> None:
        """Write chip register fields (unnamed fields 0: the chip registers are commands/masks)."""
        reg = self._reg("chip", name)
        self.write_chip_reg(name, self._enc_fields(reg, 0, fields))

    def read_chip_reg(self, name: str) -> int:
        """Read a chip control register."""
        reg = self._reg("chip", name)
        return decode_reg_read(self._spi(encode_reg_read(CHIP, reg.addr)))

    def invalidate(self) -> None:
        """Forget the host-side register copy (next field update reads the chip)."""
        self._shadow.clear()

    # ------------------------------------------------------------- register files
    def load_rf(self, core: int, file: int, values, *, width: int = ENTRY_BITS, start: int = 0) -> None:
        """Write entries ``start..start+len(values)-1`` of a register file in one burst.

        The burst commits only when the complete frame arrived (architecture §2), so a
        failed transfer leaves the file unchanged.
        """
        core = self.check_core(core, broadcast=True)
        self._spi(encode_rf_write(core, file, start, np.asarray(values), width))

    def read_rf(self, core: int, file: int, *, start: int = 0, count: int = N_LINES,
                width: int = ENTRY_BITS) -> np.ndarray:
        """Read ``count`` entries of a register file (low ``width`` bits of each)."""
        core = self.check_core(core)
        miso = self._spi(encode_rf_read(core, file, start, count, width))
        return decode_rf_read(miso, count, width)

    # ---------------------------------------------------------- run / status
    def status(self, core: int) -> dict:
        """STATUS fields of a core."""
        return self.fields("STATUS", self.read_reg(core, "STATUS"))

    def start(self, core: int) -> None:
        """Start the operation selected by CTRL.mode on one core (or broadcast)."""
        self.write_fields(core, "CMD", start=1)

    def abort(self, core: int) -> None:
        """Abort the running operation of a core (or all cores with broadcast)."""
        self.write_fields(core, "CMD", abort=1)

    def _raise_cfg(self, core: int, err: int) -> None:
        errs = self.enums["CfgErr"]
        label = errs(err).name if err in errs._value2member_map_ else str(err)
        raise ConfigError(f"core {core}: start refused, STATUS.err = {err} ({label})")

    def wait_done(self, core: int, *, first_ns: float = 0.0, timeout_ns: float = 1e7) -> dict:
        """Poll STATUS until the last started operation finished; never hang.

        Parameters
        ----------
        core : int
            Core to poll.
        first_ns : float
            Chip time to let pass before the first poll (the expected duration), so a
            long operation costs one poll instead of many.
        timeout_ns : float
            Chip time after which :class:`TimeoutError` is raised (the core is aborted).

        Returns
        -------
        dict
            The final STATUS fields.

        Raises
        ------
        ConfigError
            STATUS.err reports that the start was refused.
        TimeoutError
            The core stayed busy (or never finished) for ``timeout_ns``.
        """
        core = self.check_core(core)
        waited = 0.0
        if first_ns > 0:
            self.transport.wait_ns(first_ns)
            waited = first_ns
        step = self.poll_ns
        while True:
            st = self.status(core)
            if st["err"]:
                self._raise_cfg(core, st["err"])
            if st["done"] and not st["busy"]:
                return st
            if waited >= timeout_ns:
                self.abort(core)
                raise TimeoutError(f"core {core} not done after {waited:.0f} ns of chip time "
                                   f"(STATUS {st}); aborted")
            self.transport.wait_ns(step)
            waited += step
            step = min(step * 2, max(self.poll_ns, timeout_ns / 16))

    def run(self, core: int, *, expected_ns: float = 0.0, timeout_ns: float | None = None) -> dict:
        """Start one core and wait for it (see :meth:`wait_done`)."""
        self.start(core)
        if timeout_ns is None:
            timeout_ns = max(1e6, 20 * expected_ns)
        return self.wait_done(core, first_ns=expected_ns, timeout_ns=timeout_ns)

    def select_cores(self, cores: Iterable[int]) -> list[int]:
        """Write the CORE_SEL mask for :meth:`start_parallel`; returns the sorted cores."""
        cores = sorted({self.check_core(c) for c in cores})
        if not cores:
            raise ValueError("cores must name at least one core")
        sel_regs = [n for n in self.map.chip if n.startswith("CORE_SEL")]
        per = self.map.chip[sel_regs[0]].by_name["mask"].width
        for i, name in enumerate(sorted(sel_regs)):
            mask = sum(1 << (c - per * i) for c in cores if per * i <= c < per * (i + 1))
            self.write_chip_fields(name, mask=mask)
        return cores

    def busy_mask(self) -> int:
        """BUSY0..2 as one integer (bit i = core i busy)."""
        regs = sorted(n for n in self.map.chip if n.startswith("BUSY"))
        per = self.map.chip[regs[0]].by_name["mask"].width
        mask = 0
        for i, name in enumerate(regs):
            if per * i >= self.n_cores:
                break
            mask |= self.read_chip_reg(name) << (per * i)
        return mask

    def start_parallel(self, cores: Iterable[int], *, expected_ns: float = 0.0,
                       timeout_ns: float | None = None) -> dict:
        """Start several cores in the same cycle (CHIP_CMD.start_sel) and wait for all.

        Returns
        -------
        dict
            Core -> final STATUS fields.
        """
        cores = self.select_cores(cores)
        self.write_chip_fields("CHIP_CMD", start_sel=1)
        if timeout_ns is None:
            timeout_ns = max(1e6, 20 * expected_ns)
        if expected_ns > 0:
            self.transport.wait_ns(expected_ns)
        waited, step = expected_ns, self.poll_ns
        want = sum(1 << c for c in cores)
        while self.busy_mask() & want:
            if waited >= timeout_ns:
                for c in cores:
                    self.abort(c)
                raise TimeoutError(f"cores {cores} still busy after {waited:.0f} ns; aborted")
            self.transport.wait_ns(step)
            waited += step
            step = min(step * 2, max(self.poll_ns, timeout_ns / 16))
        return {c: self.wait_done(c, timeout_ns=timeout_ns) for c in cores}

    # ------------------------------------------------------------- chip services
    def spi_error(self) -> tuple[int, int]:
        """``(code, count)`` of SPI_ERR: sticky code of the last bad frame and bad frames seen."""
        f = self.fields("SPI_ERR", self.read_chip_reg("SPI_ERR"), space="chip")
        return f["code"], f["count"]

    def clear_spi_error(self) -> None:
        """Clear SPI_ERR."""
        self.write_chip_fields("CHIP_CMD", clear_err=1)

    def check_spi(self) -> None:
        """Raise :class:`SpiError` if any bad frame was seen since the last clear."""
        code, count = self.spi_error()
        if code or count:
            errs = self.enums["SpiErr"]
            label = errs(code).name if code in errs._value2member_map_ else str(code)
            why = DESCRIPTIONS["spi_err_e"].get(code)
            raise SpiError(f"SPI_ERR: {count} bad frame(s), last code {code} ({label}"
                           + (f": {why})" if why else ")"))

    def set_power(self, core: int, enable: bool) -> None:
        """Power-gate (``enable=False``) or power a core; its weights stay in the RRAM."""
        self.write_fields(core, "POWER", enable=int(bool(enable)))

    def seed_lfsr(self, core: int, seed_a: int, seed_b: int) -> None:
        """Load the two LFSR chains of a core (a zero seed would lock an LFSR, refused)."""
        seed_a = _check_int("seed_a", seed_a, 1, 0xFFFF)
        seed_b = _check_int("seed_b", seed_b, 1, 0xFFFF)
        self.write_fields(core, "SEED_A", seed=seed_a)
        self.write_fields(core, "SEED_B", seed=seed_b)
        self.write_fields(core, "CMD", lfsr_load=1)

    def board_dac(self, name: str, volts: float) -> None:
        """Set a board DAC (e.g. ``"vref"``) through the transport."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a DAC name string, got {name!r}")
        if not math.isfinite(float(volts)):
            raise ValueError(f"volts must be finite, got {volts!r}")
        self.transport.board_dac(name, float(volts))

    # ------------------------------------------------------------- programming
    def _amp_code(self, volts: float) -> int:
        f = self.map.core["PROG"].by_name["amp"]
        lsb_v = PROG_AMP_LSB_V
        if not isinstance(volts, (int, float, np.floating)) or not math.isfinite(volts):
            raise ValueError(f"amplitude must be a finite voltage, got {volts!r}")
        code = int(round(volts / lsb_v))
        if not 0 < code <= f.max:
            raise ValueError(f"amplitude must be in {lsb_v:.2f}..{f.max * lsb_v:.2f} V, got {volts!r}")
        return code

    def _width_cycles(self, width_ns: float) -> int:
        f = self.map.core["PROG_WIDTH"].by_name["cycles"]
        if not isinstance(width_ns, (int, float, np.floating)) or not math.isfinite(width_ns):
            raise ValueError(f"width_ns must be finite, got {width_ns!r}")
        cyc = int(round(width_ns / self.clk_ns))
        if not 1 <= cyc <= f.max:
            raise ValueError(f"width_ns must be in {self.clk_ns:g}..{f.max * self.clk_ns:g} ns, got {width_ns!r}")
        return cyc

    def select_cell(self, core: int, row: int, col: int) -> None:
        """Select one cell for programming (the core's 8-bit row / column decoders)."""
        row = _check_int("row", row, 0, N_LINES - 1)
        col = _check_int("col", col, 0, N_LINES - 1)
        self.write_fields(core, "CTRL", mode="PROGRAM")
        self.write_fields(core, "PROG_ADDR", row=row, col=col)

    def pulse(self, core: int, op: str, amp_v: float, width_ns: float) -> None:
        """Apply one SET / RESET / READ pulse to the selected cell and wait for its end."""
        ops = self.enums["ProgOp"]
        if op not in ops.__members__:
            raise ValueError(f"op must be one of {', '.join(ops.__members__)}, got {op!r}")
        code, cyc = self._amp_code(amp_v), self._width_cycles(width_ns)
        self.write_fields(core, "CTRL", mode="PROGRAM")
        self.write_fields(core, "PROG", op=op, amp=code)
        self.write_fields(core, "PROG_WIDTH", cycles=cyc)
        self.run(core, expected_ns=program_cycles(CoreConfig(mode=Mode.PROGRAM, prog_cycles=cyc))
                 * self.clk_ns)

    def set_pulse(self, core: int, row: int, col: int, amp_v: float, width_ns: float = 1000.0) -> None:
        """SET pulse (raise the conductance) on cell (row, col)."""
        self.select_cell(core, row, col)
        self.pulse(core, "SET", amp_v, width_ns)

    def reset_pulse(self, core: int, row: int, col: int, amp_v: float, width_ns: float = 1000.0) -> None:
        """RESET pulse (lower the conductance) on cell (row, col)."""
        self.select_cell(core, row, col)
        self.pulse(core, "RESET", amp_v, width_ns)

    def read_cell(self, core: int, row: int, col: int, *, amp_v: float = 0.2,
                  width_ns: float = 1000.0) -> float:
        """READ pulse on cell (row, col); return the board ADC's conductance in µS."""
        self.select_cell(core, row, col)
        self.pulse(core, "READ", amp_v, width_ns)
        return float(self.transport.board_adc_uS(core))

    # ------------------------------------------------------------- neuron test
    def neuron_convert(self, core: int, codes, *, in_bits: int = 4, out_bits: int = 6,
                       direction: str = "FWD", signed: bool = True, vread: int | None = None,
                       vdecr: int | None = None) -> np.ndarray:
        """Neuron-test mode: convert driver levels straight through the neurons (no RRAM).

        Parameters
        ----------
        codes : array of 256 int
            Input register codes (already encoded, see :func:`encode_inputs`) for the input
            file of ``direction`` (FWD: BL, BWD: SL).
        Returns
        -------
        ndarray of 256 int
            Output codes read from the output file (FWD: SL, BWD: BL).
        """
        dirs = self.enums["Dir"]
        if direction not in ("FWD", "BWD"):
            raise ValueError(f"direction must be 'FWD' or 'BWD' in neuron-test mode, got {direction!r}")
        _check_int("in_bits", in_bits, 1, 8)
        _check_int("out_bits", out_bits, 1, ENTRY_BITS)
        codes = np.asarray(codes)
        if codes.shape != (N_LINES,):
            raise ValueError(f"codes must have shape ({N_LINES},), got {codes.shape}")
        src = RegFile.BL if direction == "FWD" else RegFile.SL
        self.load_rf(core, src, codes, width=in_bits)
        self.write_fields(core, "BITS", in_bits=in_bits, out_bits=out_bits)
        if vread is not None:
            self.write_fields(core, "VREAD", code=vread)
        if vdecr is not None:
            self.write_fields(core, "VDECR", code=vdecr)
        self.write_fields(core, "CTRL", mode="NEURON_TEST", dir=int(dirs[direction]),
                          in_signed=int(bool(signed)), two_phase=0, diff_in=0, stoch=0, act=0)
        nt = CoreConfig(mode=Mode.NEURON_TEST, dir=int(dirs[direction]), in_bits=in_bits,
                        out_bits=out_bits, in_signed=int(bool(signed)))
        self.run(core, expected_ns=mvm_cycles(nt) * self.clk_ns)
        dst = RegFile.SL if direction == "FWD" else RegFile.BL
        return self.read_rf(core, dst, width=out_bits)

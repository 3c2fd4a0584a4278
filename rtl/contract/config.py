"""One core's configuration and the rules the controller applies to it.

:class:`CoreConfig` holds the register fields the controller uses (:data:`CONFIG_FIELDS`,
widths and reset values from ``rtl/regmap.rdl``). Its methods and the functions below are
the single definition of

* the start-time check (:meth:`CoreConfig.validate`, the STATUS.err codes, in the order
  the RTL checks them);
* the segments of an MVM and the register file each one writes (:meth:`CoreConfig.segments`),
  their shift-and-add weights (:attr:`Segment.weight`) and the split / LSB-segment width at
  which a two-phase result is exact to one output LSB (:func:`two_phase_plan`,
  :func:`two_phase_exact`);
* the exact cycle count of an operation (:func:`mvm_cycles`, :func:`program_cycles`);
* the input encoding (:func:`encode_inputs`, :func:`line_sign_magnitude`,
  :func:`input_levels`) and the output code (:func:`output_bit`, :func:`output_codes`,
  :func:`decode_outputs`).

The RTL controller, its golden model, the analog models, the firmware and the cosim
harness all use these; nothing else restates them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np

from .constants import BL_FILE, ENTRY_BITS, N_LINES, SL_FILE
from .events import Level
from .registers import CORE, DESCRIPTIONS, Act, CfgErr, Dir, Mode

# Config name -> (register, field). The dataclass, the RTL configuration port and the
# core's wiring to its register block are all built from this list.
_CONFIG_NAMES: tuple[tuple[str, str, str], ...] = (
    ("mode", "ctrl", "mode"),
    ("dir", "ctrl", "dir"),
    ("act", "ctrl", "act"),
    ("stoch", "ctrl", "stoch"),
    ("diff_in", "ctrl", "diff_in"),
    ("in_signed", "ctrl", "in_signed"),
    ("two_phase", "ctrl", "two_phase"),
    ("in_bits", "bits", "in_bits"),
    ("out_bits", "bits", "out_bits"),
    ("split", "bits", "split"),
    ("out_bits_lsb", "bits", "out_bits_lsb"),
    ("n_rows", "rows", "n_rows"),
    ("vread", "vread", "code"),
    ("vdecr", "vdecr", "code"),
    ("wl_ns", "timing", "wl_ns"),
    ("sample_cyc", "timing", "sample_cyc"),
    ("integ_cyc", "timing", "integ_cyc"),
    ("noise_steps", "noise", "steps"),
    ("vnoise", "noise", "vnoise"),
    ("seed_a", "seed_a", "seed"),
    ("seed_b", "seed_b", "seed"),
    ("prog_op", "prog", "op"),
    ("prog_amp", "prog", "amp"),
    ("prog_row", "prog_addr", "row"),
    ("prog_col", "prog_addr", "col"),
    ("prog_cycles", "prog_width", "cycles"),
    ("power_enable", "power", "enable"),
)

#: ``(name, register, field, width, reset)`` of every configuration field, from the RDL.
CONFIG_FIELDS: tuple[tuple[str, str, str, int, int], ...] = tuple(
    (name, reg, fld, CORE.reg(reg).field(fld).width, CORE.reg(reg).field(fld).reset)
    for name, reg, fld in _CONFIG_NAMES)
_RESET = {name: reset for name, _, _, _, reset in CONFIG_FIELDS}
_WIDTH = {name: width for name, _, _, width, _ in CONFIG_FIELDS}

# Value ranges the controller checks at start (the cfg_err_e descriptions in the RDL).
IN_BITS_MAX = 8
OUT_BITS_MAX = ENTRY_BITS
WL_NS_MAX = 10


class RangeCheck(NamedTuple):
    """One start-time range check: ``lo <= field <= hi`` or STATUS.err = ``code``.

    ``hi = None`` means "below the magnitude bits" (the split of a two-phase MVM);
    ``two_phase`` checks apply only to two-phase MVMs.
    """

    code: CfgErr
    field: str
    lo: int
    hi: int | None
    two_phase: bool = False


#: The range checks of an MVM / neuron-test start, in the order the controller applies
#: them (after BUSY, DISABLED, MODE_IDLE; a PROGRAM start is not range-checked). The
#: RTL's error logic is built from this table.
RANGE_CHECKS: tuple[RangeCheck, ...] = (
    RangeCheck(CfgErr.IN_BITS, "in_bits", 1, IN_BITS_MAX),
    RangeCheck(CfgErr.OUT_BITS, "out_bits", 1, OUT_BITS_MAX),
    RangeCheck(CfgErr.SPLIT, "split", 1, None, two_phase=True),
    RangeCheck(CfgErr.OUT_BITS_LSB, "out_bits_lsb", 1, OUT_BITS_MAX, two_phase=True),
    RangeCheck(CfgErr.N_ROWS, "n_rows", 1, N_LINES),
    RangeCheck(CfgErr.WL_NS, "wl_ns", 1, WL_NS_MAX),
)


class Segment(NamedTuple):
    """One conversion of an MVM: input bit planes ``base .. base+planes-1``, ``out_bits``
    output bits written to register file ``dest`` (0 BL, 1 SL)."""

    base: int
    planes: int
    out_bits: int
    dest: int

    @property
    def weight(self) -> int:
        """Shift-and-add weight of this segment's result: ``2**base`` (the MSB segment of a
        two-phase MVM counts ``2**split`` times its LSB segment)."""
        return 1 << self.base

    def inputs(self, values) -> np.ndarray:
        """The integer inputs this segment converts: the sign of each input value with
        its magnitude bits ``base .. base+planes-1`` (the sum of ``weight * inputs`` over
        the segments is the value itself)."""
        v = np.asarray(values, dtype=np.int64)
        return np.sign(v) * ((np.abs(v) >> self.base) & ((1 << self.planes) - 1))


class TwoPhasePlan(NamedTuple):
    """``split`` (LSB-segment magnitude bits) and ``out_bits_lsb`` of a two-phase MVM."""

    split: int
    out_bits_lsb: int


def two_phase_plan(mag_bits: int, out_bits: int, split: int | None = None) -> TwoPhasePlan:
    """The two-phase operating rule: the split and LSB-segment width at which the
    shift-and-added result is within one output LSB of the exact product.

    Both segments convert with the one VDECR code, so both have the full scale
    ``FS = 2 * gain * Vdecr`` and a ``k``-bit conversion the step ``FS / 2**(k-1)``
    (docs/verification.md, "Two-phase ideal core"). The result ``2**split * MSB + LSB``
    counts in steps of ``2**split`` MSB steps (its LSB); the MSB segment errs by at most
    half of that, the LSB segment by half its own step, so the sum stays within one LSB
    iff ``out_bits_lsb >= out_bits - split``. The LSB segment's inputs reach
    ``2**split - 1`` against ``2**(mag_bits - split) - 1`` for the MSB segment, so its range
    never exceeds the MSB segment's iff ``split <= mag_bits - split``.

    ``split`` defaults to ``mag_bits // 2`` (the largest that fits, and the fewest
    sample-and-integrate cycles); ``out_bits_lsb`` is then ``max(1, out_bits - split)``.
    Other settings are legal (the controller runs any split and width its range checks
    accept; :func:`two_phase_exact` tells which are exact) but lose accuracy.
    """
    for name, v, hi in (("mag_bits", mag_bits, IN_BITS_MAX), ("out_bits", out_bits, OUT_BITS_MAX)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= hi:
            raise ValueError(f"{name} must be an int in 1..{hi}, got {v!r}")
    if mag_bits < 2:
        raise ValueError(f"a two-phase MVM needs at least 2 magnitude bits, got {mag_bits!r}")
    if split is None:
        split = int(mag_bits) // 2
    elif isinstance(split, bool) or not isinstance(split, (int, np.integer)) \
            or not 1 <= split < mag_bits:
        raise ValueError(f"split must be an int in 1..{mag_bits - 1}, got {split!r}")
    return TwoPhasePlan(int(split), max(1, int(out_bits) - int(split)))


def two_phase_exact(cfg: "CoreConfig") -> bool:
    """A single-phase configuration, or a two-phase one within :func:`two_phase_plan`'s
    rule (range: ``split <= mag_bits - split``; resolution:
    ``out_bits_lsb >= out_bits - split``)."""
    if not cfg.two_phase:
        return True
    return (2 * cfg.split <= cfg.mag_bits
            and cfg.out_bits_lsb >= two_phase_plan(cfg.mag_bits, cfg.out_bits, cfg.split).out_bits_lsb)


class ConfigError(ValueError):
    """A configuration the controller refuses at start; ``code`` is its STATUS.err."""

    def __init__(self, code: CfgErr, cfg: "CoreConfig"):
        self.code = CfgErr(code)
        super().__init__(f"start refused with STATUS.err = {int(code)} ({self.code.name}: "
                         f"{DESCRIPTIONS['cfg_err_e'][int(code)]}) for {cfg!r}")


@dataclass
class CoreConfig:
    """The register fields the controller uses (names of :data:`CONFIG_FIELDS`).

    Defaults are the registers' reset values; every field must fit its register field
    (TypeError / ValueError otherwise). Whether the controller accepts the configuration
    is :meth:`validate`'s answer.
    """

    mode: int = _RESET["mode"]
    dir: int = _RESET["dir"]
    act: int = _RESET["act"]
    stoch: int = _RESET["stoch"]
    diff_in: int = _RESET["diff_in"]
    in_signed: int = _RESET["in_signed"]
    two_phase: int = _RESET["two_phase"]
    in_bits: int = _RESET["in_bits"]
    out_bits: int = _RESET["out_bits"]
    split: int = _RESET["split"]
    out_bits_lsb: int = _RESET["out_bits_lsb"]
    n_rows: int = _RESET["n_rows"]
    vread: int = _RESET["vread"]
    vdecr: int = _RESET["vdecr"]
    wl_ns: int = _RESET["wl_ns"]
    sample_cyc: int = _RESET["sample_cyc"]
    integ_cyc: int = _RESET["integ_cyc"]
    noise_steps: int = _RESET["noise_steps"]
    vnoise: int = _RESET["vnoise"]
    seed_a: int = _RESET["seed_a"]
    seed_b: int = _RESET["seed_b"]
    prog_op: int = _RESET["prog_op"]
    prog_amp: int = _RESET["prog_amp"]
    prog_row: int = _RESET["prog_row"]
    prog_col: int = _RESET["prog_col"]
    prog_cycles: int = _RESET["prog_cycles"]
    power_enable: int = _RESET["power_enable"]

    def __post_init__(self):
        for name, width in _WIDTH.items():
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)):     # bools are accepted as 0 / 1
                raise TypeError(f"{name} must be an int, not {v!r}")
            if not 0 <= int(v) < (1 << width):
                raise ValueError(f"{name} = {v!r} does not fit its {width}-bit field")
            setattr(self, name, int(v))

    @classmethod
    def mvm(cls, **fields) -> "CoreConfig":
        """A configuration in MVM mode (``mode`` defaults to :attr:`Mode.MVM`)."""
        fields.setdefault("mode", int(Mode.MVM))
        return cls(**fields)

    @classmethod
    def from_registers(cls, values: Mapping) -> "CoreConfig":
        """Build from register fields.

        ``values`` maps ``(register, field)`` tuples (lowercase, as
        :class:`rtl.regblock.RegisterModel` ``.values``), ``"register.field"`` strings or
        the dataclass field names to integers; fields not given keep their reset value.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping, not {values!r}")
        kw = {}
        for name, reg, fld, _, _ in CONFIG_FIELDS:
            for key in ((reg, fld), f"{reg}.{fld}", name):
                if key in values:
                    kw[name] = int(values[key])
                    break
        return cls(**kw)

    def replace(self, **fields) -> "CoreConfig":
        return dataclasses.replace(self, **fields)

    def register_words(self) -> dict[str, int]:
        """Register name -> word holding these fields (other fields at their reset)."""
        words: dict[str, int] = {}
        for name, reg, fld, _, _ in CONFIG_FIELDS:
            r = CORE.reg(reg)
            words[r.name] = r.field(fld).put(words.get(r.name, r.reset), getattr(self, name))
        return words

    # ---- derived quantities
    @property
    def signed(self) -> bool:
        """Inputs carry a sign bit (a 1-bit input is always unsigned)."""
        return bool(self.in_signed) and self.in_bits > 1

    @property
    def mag_bits(self) -> int:
        """Magnitude bits of an input."""
        return self.in_bits - 1 if self.signed else self.in_bits

    @property
    def direction(self) -> int:
        """CTRL.dir with the unused code 3 treated as FWD."""
        return self.dir if self.dir in (Dir.FWD, Dir.BWD, Dir.REC) else int(Dir.FWD)

    @property
    def input_file(self) -> int:
        """Register file holding the inputs: SL for backward, else BL."""
        return SL_FILE if self.direction == Dir.BWD else BL_FILE

    def segments(self) -> list[Segment]:
        """The conversions of one MVM / neuron test, MSB segment first (the result is
        ``sum(seg.weight * value)`` over them).

        Destination files: one segment writes SL for forward and BL for backward and
        recurrent; a two-phase MVM writes its MSB segment to the file that does not hold
        the inputs and its LSB segment to the input file, whose inputs are used up by then.
        """
        inp = self.input_file
        if self.two_phase:
            return [Segment(self.split, self.mag_bits - self.split, self.out_bits, 1 - inp),
                    Segment(0, self.split, self.out_bits_lsb, inp)]
        dest = SL_FILE if self.direction == Dir.FWD else BL_FILE
        return [Segment(0, self.mag_bits, self.out_bits, dest)]

    @property
    def sample_bl(self) -> bool:
        """The neurons sample their BL (else their SL) during SAMPLE."""
        if self.mode == Mode.NEURON_TEST:
            return self.input_file == BL_FILE    # the driven line itself, no RRAM between
        return self.direction == Dir.BWD

    def wl_rows(self) -> np.ndarray:
        """WLs pulsed by an MVM: forward / recurrent rows ``0..n_rows-1``, backward all,
        none in a neuron test."""
        if self.mode == Mode.NEURON_TEST:
            return np.zeros(N_LINES, dtype=bool)
        if self.direction == Dir.BWD:
            return np.ones(N_LINES, dtype=bool)
        return np.arange(N_LINES) < self.n_rows

    def validate(self, busy: bool = False) -> CfgErr:
        """STATUS.err of a start with this configuration (OK: accepted), checked in the
        RTL's order."""
        if busy:
            return CfgErr.BUSY
        if not self.power_enable:
            return CfgErr.DISABLED
        if self.mode == Mode.IDLE:
            return CfgErr.MODE_IDLE
        if self.mode == Mode.PROGRAM:
            return CfgErr.OK
        for chk in RANGE_CHECKS:
            if chk.two_phase and not self.two_phase:
                continue
            hi = self.mag_bits - 1 if chk.hi is None else chk.hi
            if not chk.lo <= getattr(self, chk.field) <= hi:
                return chk.code
        return CfgErr.OK

    def check(self) -> "CoreConfig":
        """Raise :class:`ConfigError` (a ValueError) if the controller would refuse it."""
        err = self.validate()
        if err:
            raise ConfigError(err, self)
        return self


def validate(cfg: CoreConfig, busy: bool = False) -> CfgErr:
    """:meth:`CoreConfig.validate` as a function."""
    return cfg.validate(busy)


def mvm_cycles(cfg: CoreConfig) -> int:
    """Clock cycles from the start command being seen to ``done`` for an accepted MVM or
    neuron test (the command capture register included)."""
    s, i = max(cfg.sample_cyc, 1), max(cfg.integ_cyc, 1)
    total = 1   # the command capture register
    for _, m, k, _ in cfg.segments():
        total += 1 + 2 * m + ((1 << m) - 1) * (s + i)
        total += 2 * cfg.noise_steps * cfg.stoch + 4 + (k - 1) * (5 + i)
    return total


def program_cycles(cfg: CoreConfig) -> int:
    """Clock cycles from the start command being seen to ``done`` for a programming pulse:
    capture, decoder load, wait, drivers, the pulse itself, end."""
    return 1 + 3 + max(cfg.prog_cycles, 1) + 1


def op_cycles(cfg: CoreConfig) -> int:
    """Cycles of the operation ``cfg.mode`` selects (:func:`program_cycles` or
    :func:`mvm_cycles`)."""
    return program_cycles(cfg) if cfg.mode == Mode.PROGRAM else mvm_cycles(cfg)


# ---------------------------------------------------------------------------- inputs
def encode_inputs(values, in_bits: int, signed: bool = True) -> np.ndarray:
    """Integer inputs -> register-file codes.

    Signed (and ``in_bits > 1``): sign-magnitude with sign bit 1 = positive (zero is
    coded as +0), ``|v| <= 2**(in_bits-1) - 1``; else unsigned ``0 <= v < 2**in_bits``.
    """
    if isinstance(in_bits, bool) or not isinstance(in_bits, (int, np.integer)):
        raise TypeError(f"in_bits must be an int in 1..{IN_BITS_MAX}, got {in_bits!r}")
    if not 1 <= in_bits <= IN_BITS_MAX:
        raise ValueError(f"in_bits must be in 1..{IN_BITS_MAX}, got {in_bits!r}")
    v = np.asarray(values)
    if v.size and v.dtype.kind not in "iu":
        if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
            raise ValueError("inputs must be finite integers")
    v = v.astype(np.int64)
    if signed and in_bits > 1:
        lim = (1 << (in_bits - 1)) - 1
        if v.size and np.abs(v).max() > lim:
            raise ValueError(f"signed {in_bits}-bit inputs must be in -{lim}..{lim}")
        return np.where(v >= 0, (1 << (in_bits - 1)) | v, -v)
    lim = (1 << in_bits) - 1
    if v.size and (v.min() < 0 or v.max() > lim):
        raise ValueError(f"unsigned {in_bits}-bit inputs must be in 0..{lim}")
    return v


def line_sign_magnitude(entries, cfg: CoreConfig) -> tuple[np.ndarray, np.ndarray]:
    """Polarity (+1/-1, int8) and magnitude bits (int16) of every input line.

    ``entries`` is (..., 256) in the order of the input file. With ``diff_in`` line
    ``2j+1`` carries entry ``2j`` with the opposite polarity (in every direction, as the
    RTL applies it); every line is driven from its entry, also rows whose WL stays off.
    """
    e = np.asarray(entries)
    if cfg.diff_in:
        e = np.repeat(e[..., 0::2], 2, axis=-1)
    sgn, mag = entry_sign_magnitude(e, cfg)
    if cfg.diff_in:
        sgn[..., 1::2] *= -1
    return sgn, mag


def entry_sign_magnitude(entries, cfg: CoreConfig) -> tuple[np.ndarray, np.ndarray]:
    """Polarity (+1/-1, int8) and magnitude bits (int16) of register-file entries, as
    each entry drives its own line (line ``2j`` of a differential pair)."""
    e = np.asarray(entries)
    n = cfg.in_bits
    if cfg.signed:
        sgn = ((((e >> (n - 1)) & 1) << 1) - 1).astype(np.int8)
        mag = (e & ((1 << (n - 1)) - 1)).astype(np.int16)
    else:
        sgn = np.ones(e.shape, dtype=np.int8)
        mag = (e & ((1 << n) - 1)).astype(np.int16)
    return sgn, mag


def levels_from_signs(drive: np.ndarray) -> np.ndarray:
    """Ternary drive (-1, 0, +1) -> driver :class:`Level` codes."""
    d = np.asarray(drive)
    return np.choose(d + 1, [int(Level.VREF_N), int(Level.VREF), int(Level.VREF_P)]).astype(np.uint8)


def input_levels(cfg: CoreConfig, entries, bit: int) -> np.ndarray:
    """Driver levels of the input lines for magnitude bit ``bit`` (line-indexed)."""
    sgn, mag = line_sign_magnitude(np.asarray(entries, dtype=np.int64), cfg)
    return levels_from_signs(((mag >> bit) & 1) * sgn)


# --------------------------------------------------------------------------- outputs
def output_bit(act: int, cycle: int, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Bit written for comparator result ``r`` in output cycle ``cycle`` (0 = sign).

    ``s`` is the sign comparison of the same segment (bool arrays of any shape).
    """
    if cycle == 0:
        return ~r if act == Act.TANH else r.copy()
    if act == Act.NONE:
        return ~(r ^ s)
    if act == Act.RELU:
        return r & s
    return r.copy()       # SIGMOID: raw offset-binary bits; TANH: raw bits under an inverted MSB


def output_codes(cmp_bits: np.ndarray, act: int) -> np.ndarray:
    """Output codes (..., 256) from the comparator bits (..., k, 256) of one conversion
    (comparison ``c`` of every neuron, ``c = 0`` the sign), by :func:`output_bit`."""
    b = np.asarray(cmp_bits, dtype=bool)
    k = b.shape[-2]
    s = b[..., 0, :]
    code = np.zeros(s.shape, dtype=np.int64)
    for c in range(k):
        code |= output_bit(int(act), c, b[..., c, :], s).astype(np.int64) << (k - 1 - c)
    return code


def _act(act) -> Act:
    if isinstance(act, str):
        if act.upper() not in Act.__members__:
            raise ValueError(f"act must be one of {', '.join(Act.__members__)}, got {act!r}")
        return Act[act.upper()]
    try:
        return Act(int(act))
    except (TypeError, ValueError):
        raise ValueError(f"act must be one of {', '.join(Act.__members__)}, got {act!r}") from None


def decode_outputs(codes, out_bits: int, act=Act.NONE) -> np.ndarray:
    """Output codes -> signed values in units of the output LSB.

    The neuron's non-restoring binary search gives a mid-rise code, so a NONE code
    decodes to ``(2*sign-1) * (mag + 0.5)``; RELU codes with the sign bit 0 decode to 0.
    SIGMOID (offset binary ``u``) and TANH (two's complement ``t``) decode to the same
    pre-activation value ``u - 2**(k-1) + 0.5`` = ``t + 0.5``. ``act`` is an
    :class:`Act`, its value or its name.
    """
    if isinstance(out_bits, bool) or not isinstance(out_bits, (int, np.integer)) \
            or not 1 <= out_bits <= OUT_BITS_MAX:
        raise ValueError(f"out_bits must be an int in 1..{OUT_BITS_MAX}, got {out_bits!r}")
    act = _act(act)
    k = int(out_bits)
    c = np.asarray(codes, dtype=np.int64) & ((1 << k) - 1)
    half = 1 << (k - 1)
    if act in (Act.NONE, Act.RELU):
        sign = c >> (k - 1)
        mag = c & (half - 1)
        val = np.where(sign == 1, mag + 0.5, -(mag + 0.5))
        if act == Act.RELU:
            val = np.where(sign == 1, val, 0.0)
        return val.astype(float)
    if act == Act.TANH:
        c = c ^ half
    return (c - half + 0.5).astype(float)

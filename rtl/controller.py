"""The core controller: programming, neuron-test and MVM sequencing (docs/analog_bus.md).

The controller owns every analog action of a core. It reads the configuration registers
and the BL/SL register files, drives the line drivers, the WL pulse generator and the
neuron strobes, announces each action on ``ev_seq``/``ev_kind``, samples the 256
comparators and writes the neurons' output bits back into the register files.

This file holds

* :class:`CoreConfig` - the register fields the controller uses, as a plain dataclass;
* :func:`validate` - the start-time configuration check (STATUS.err codes);
* :class:`ControllerModel` / :func:`sequence_events` - the golden model: the exact
  analog-bus event sequence and register-file write-backs of one started operation;
* :class:`Controller` - the RTL (it contains the :class:`~rtl.lfsr.LfsrPair` and the
  :class:`~rtl.pulsegen.PulseGenerator`).

Cycle schedule of the RTL (one state per line, ``E`` = the state's entry announces an
event; the golden model reproduces the events, not the cycles)::

    MVM / neuron test, per segment:
      RESET      1 cycle  E RESET      lines at VREF; input file -> plane shift register
      SETUP      1 cycle               driver levels of plane p registered
      WL         1 cycle  E WL_PULSE   armed; the pulse ends inside the cycle
      SAMPLE     s cycles E SAMPLE     } 2^p times
      INTEG      i cycles E INTEG      }
      NOISE      1 cycle  E NOISE      } NOISE.steps times when CTRL.stoch
      NGAP       1 cycle               }  (the LFSR advances at the end of NOISE)
      COMPARE    1 cycle  E COMPARE    (sign cycle: destination file cleared)
      CWAIT      1 cycle               the comparators settle
      LATCH      1 cycle  E LATCH      cmp sampled on entry (2 cycles after COMPARE)
      WR         1 cycle  E WR         one bit of every destination entry written
      DECR       1 cycle  E DECR       } k-1 times: vdecr = VDECR >> (c-1)
      MINTEG     i cycles E INTEG      }  then COMPARE, CWAIT, LATCH, WR
    Programming:
      PDEC 1 (decoders load the one-hot row / column), PWAIT 1, PDRV 1 (drivers),
      PULSE max(cycles,1) E PROG_BEGIN, PEND 1 E PROG_END

With s = TIMING.sample_cyc, i = TIMING.integ_cyc (0 is taken as 1), an MVM segment of
m planes and k output bits takes 1 + 2m + (2^m - 1)(s + i) + 2*steps*stoch + 4 +
(k-1)(5 + i) cycles; :func:`mvm_cycles` adds the one cycle of the command capture
register (every command is registered, with the configuration, before it acts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import (EV_SEQ_BITS, N_LINES, Activation, AnalogBusSignature, AnalogEvent,
                         DecrMode, Direction, EventKind, Level, Mode, ProgOp, neuron_sl)
from .lfsr import DEFAULT_SEED_A, DEFAULT_SEED_B, LfsrModel, LfsrPair
from .pulsegen import PulseGenerator

ENTRY_BITS = 10
BL_FILE, SL_FILE = 0, 1

# Register field -> (register, field, width, reset): the single list the dataclass, the
# RTL configuration port and the core's wiring to the register block are built from.
CONFIG_FIELDS: tuple[tuple[str, str, str, int, int], ...] = (
    ("mode", "ctrl", "mode", 2, 0),
    ("dir", "ctrl", "dir", 2, 0),
    ("act", "ctrl", "act", 2, 0),
    ("stoch", "ctrl", "stoch", 1, 0),
    ("diff_in", "ctrl", "diff_in", 1, 0),
    ("in_signed", "ctrl", "in_signed", 1, 1),
    ("two_phase", "ctrl", "two_phase", 1, 0),
    ("in_bits", "bits", "in_bits", 4, 4),
    ("out_bits", "bits", "out_bits", 4, 6),
    ("split", "bits", "split", 3, 3),
    ("out_bits_lsb", "bits", "out_bits_lsb", 4, 5),
    ("n_rows", "rows", "n_rows", 9, 256),
    ("vread", "vread", "code", 8, 100),
    ("vdecr", "vdecr", "code", 12, 2048),
    ("wl_ns", "timing", "wl_ns", 4, 10),
    ("sample_cyc", "timing", "sample_cyc", 4, 1),
    ("integ_cyc", "timing", "integ_cyc", 8, 24),
    ("noise_steps", "noise", "steps", 8, 0),
    ("vnoise", "noise", "vnoise", 8, 0),
    ("seed_a", "seed_a", "seed", 16, 0xACE1),
    ("seed_b", "seed_b", "seed", 16, 0x1D0F),
    ("prog_op", "prog", "op", 2, 0),
    ("prog_amp", "prog", "amp", 8, 0),
    ("prog_row", "prog_addr", "row", 8, 0),
    ("prog_col", "prog_addr", "col", 8, 0),
    ("prog_cycles", "prog_width", "cycles", 16, 100),
    ("power_enable", "power", "enable", 1, 1),
)

CONFIG_LAYOUT = data.StructLayout({name: width for name, _, _, width, _ in CONFIG_FIELDS})


class CfgErr:
    """STATUS.err codes (docs/architecture.md §4)."""
    OK = 0
    IN_BITS = 1
    OUT_BITS = 2
    SPLIT = 3
    N_ROWS = 4
    WL_NS = 5
    MODE_IDLE = 6
    DISABLED = 7
    BUSY = 8
    OUT_BITS_LSB = 9


@dataclass
class CoreConfig:
    """The register fields the controller uses (names of :data:`CONFIG_FIELDS`)."""

    mode: int = 0
    dir: int = 0
    act: int = 0
    stoch: int = 0
    diff_in: int = 0
    in_signed: int = 1
    two_phase: int = 0
    in_bits: int = 4
    out_bits: int = 6
    split: int = 3
    out_bits_lsb: int = 5
    n_rows: int = 256
    vread: int = 100
    vdecr: int = 2048
    wl_ns: int = 10
    sample_cyc: int = 1
    integ_cyc: int = 24
    noise_steps: int = 0
    vnoise: int = 0
    seed_a: int = 0xACE1
    seed_b: int = 0x1D0F
    prog_op: int = 0
    prog_amp: int = 0
    prog_row: int = 0
    prog_col: int = 0
    prog_cycles: int = 100
    power_enable: int = 1

    def __post_init__(self):
        for name, _, _, width, _ in CONFIG_FIELDS:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)):     # bools are accepted as 0 / 1
                raise TypeError(f"{name} must be an int, not {v!r}")
            if not 0 <= int(v) < (1 << width):
                raise ValueError(f"{name} = {v!r} does not fit its {width}-bit field")
            setattr(self, name, int(v))

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

    # Derived quantities shared by the model and the documentation of the RTL.
    @property
    def signed(self) -> bool:
        """Inputs carry a sign bit (a 1-bit input is always unsigned)."""
        return bool(self.in_signed) and self.in_bits > 1

    @property
    def mag_bits(self) -> int:
        return self.in_bits - 1 if self.signed else self.in_bits

    @property
    def direction(self) -> int:
        """CTRL.dir with the unused code 3 treated as FWD."""
        return self.dir if self.dir in (Direction.FWD, Direction.BWD, Direction.REC) else 0

    @property
    def input_file(self) -> int:
        return SL_FILE if self.direction == Direction.BWD else BL_FILE

    def segments(self) -> list[tuple[int, int, int, int]]:
        """``(base bit, planes, out bits, destination file)`` of each segment."""
        inp = self.input_file
        if self.two_phase:
            return [(self.split, self.mag_bits - self.split, self.out_bits, 1 - inp),
                    (0, self.split, self.out_bits_lsb, inp)]
        dest = SL_FILE if self.direction == Direction.FWD else BL_FILE
        return [(0, self.mag_bits, self.out_bits, dest)]

    @property
    def sample_bl(self) -> bool:
        """The neurons sample their BL (else their SL) during SAMPLE."""
        if self.mode == Mode.NEURON_TEST:
            return self.input_file == BL_FILE    # the driven line itself, no RRAM between
        return self.direction == Direction.BWD


def validate(cfg: CoreConfig, busy: bool = False) -> int:
    """STATUS.err of a start with this configuration (0: accepted). Checked in this order."""
    if busy:
        return CfgErr.BUSY
    if not cfg.power_enable:
        return CfgErr.DISABLED
    if cfg.mode == Mode.IDLE:
        return CfgErr.MODE_IDLE
    if cfg.mode == Mode.PROGRAM:
        return CfgErr.OK
    if not 1 <= cfg.in_bits <= 8:
        return CfgErr.IN_BITS
    if not 1 <= cfg.out_bits <= 10:
        return CfgErr.OUT_BITS
    if cfg.two_phase and not 1 <= cfg.split < cfg.mag_bits:
        return CfgErr.SPLIT
    if cfg.two_phase and not 1 <= cfg.out_bits_lsb <= 10:
        return CfgErr.OUT_BITS_LSB
    if not 1 <= cfg.n_rows <= N_LINES:
        return CfgErr.N_ROWS
    if not 1 <= cfg.wl_ns <= 10:
        return CfgErr.WL_NS
    return CfgErr.OK


def mvm_cycles(cfg: CoreConfig) -> int:
    """Clock cycles from the start command being seen to ``done`` for an accepted MVM."""
    s, i = max(cfg.sample_cyc, 1), max(cfg.integ_cyc, 1)
    total = 1   # the command capture register
    for _, m, k, _ in cfg.segments():
        total += 1 + 2 * m + ((1 << m) - 1) * (s + i)
        total += 2 * cfg.noise_steps * cfg.stoch + 4 + (k - 1) * (5 + i)
    return total


# --------------------------------------------------------------------------------------
# Golden model
# --------------------------------------------------------------------------------------

NEURON_SL = np.array([neuron_sl(k) for k in range(N_LINES)], dtype=np.int64)


def input_levels(cfg: CoreConfig, entries: np.ndarray, bit: int) -> np.ndarray:
    """Driver levels of the input lines for magnitude bit ``bit`` (line-indexed)."""
    e = np.asarray(entries, dtype=np.int64)
    src = np.arange(N_LINES)
    flip = np.zeros(N_LINES, dtype=bool)
    if cfg.diff_in:
        src = src & ~1
        flip = (np.arange(N_LINES) & 1).astype(bool)
    v = e[src]
    on = ((v >> bit) & 1).astype(bool)
    pos = ((v >> (cfg.in_bits - 1)) & 1).astype(bool) if cfg.signed else np.ones(N_LINES, bool)
    pos ^= flip
    return np.where(on, np.where(pos, Level.VREF_P, Level.VREF_N), Level.VREF).astype(np.uint8)


def output_bit(act: int, cycle: int, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Bit written for comparator result ``r`` in output cycle ``cycle`` (0 = sign).

    ``s`` is the sign comparison of the same segment (neuron-indexed, bool).
    """
    if cycle == 0:
        return ~r if act == Activation.TANH else r.copy()
    if act == Activation.NONE:
        return ~(r ^ s)
    if act == Activation.RELU:
        return r & s
    return r.copy()       # SIGMOID: raw offset-binary bits; TANH: raw bits under an inverted MSB


class ControllerModel:
    """Golden model of :class:`Controller`: events and write-backs, no cycles.

    The model keeps the state that survives between operations: the LFSR chains and the
    power-gate output. ``run`` plays one start command.
    """

    def __init__(self):
        self.lfsr = LfsrModel()
        self.power_down = False
        self.err = 0
        self.done = False

    def load_lfsr(self, seed_a: int, seed_b: int) -> None:
        """CMD.lfsr_load."""
        self.lfsr.load(seed_a, seed_b)

    def set_power(self, enable: bool, analog: Callable[[AnalogEvent], object]) -> None:
        """POWER.enable written: a POWER event when the power-gate output changes."""
        pd = not enable
        if pd != self.power_down:
            self.power_down = pd
            analog(AnalogEvent(EventKind.POWER, power_down=pd))

    def run(self, cfg: CoreConfig, bl: np.ndarray, sl: np.ndarray,
            analog: Callable[[AnalogEvent], object]) -> int:
        """One CMD.start: emit the events through ``analog``, write back into ``bl``/``sl``.

        ``analog(event)`` returns the 256 comparator bits (neuron-indexed) for COMPARE
        events and is ignored otherwise. ``bl``/``sl`` are integer arrays of 256 entries
        modified in place. Returns STATUS.err (0: the operation ran and ``done`` is set).
        """
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        for name, arr in (("bl", bl), ("sl", sl)):
            if not isinstance(arr, np.ndarray) or arr.shape != (N_LINES,):
                raise ValueError(f"{name} must be a numpy array of {N_LINES} entries")
        self.done = False
        self.err = validate(cfg)
        if self.err:
            return self.err
        if cfg.mode == Mode.PROGRAM:
            self._program(cfg, bl, sl, analog)
        else:
            self._mvm(cfg, bl, sl, analog)
        self.done = True
        return 0

    def _program(self, cfg, bl, sl, analog):
        bl[:] = 0
        bl[cfg.prog_row] = 1
        sl[:] = 0
        sl[cfg.prog_col] = 1
        bl_sel = (bl & 1).astype(bool)
        sl_sel = (sl & 1).astype(bool)
        reset = cfg.prog_op == ProgOp.RESET
        bl_drv = np.where(bl_sel & (not reset), Level.VPROG, Level.GND).astype(np.uint8)
        # SET and READ put the whole selected row's BL at VPROG with its WL on: only the
        # selected SL may sink current, the others float (inhibit) or every cell of the row
        # would be SET / read together. RESET drives one SL, so the rest can stay at GND.
        if reset:
            sl_drv = np.where(sl_sel, Level.VPROG, Level.GND).astype(np.uint8)
        else:
            sl_drv = np.where(sl_sel, Level.GND, Level.FLOAT).astype(np.uint8)
        analog(AnalogEvent(EventKind.PROG_BEGIN, mode=cfg.mode, bl_drv=bl_drv, sl_drv=sl_drv,
                           wl_en=bl_sel.copy(), prog_op=cfg.prog_op, prog_amp=cfg.prog_amp))
        analog(AnalogEvent(EventKind.PROG_END, mode=cfg.mode,
                           width_ns=10.0 * max(cfg.prog_cycles, 1)))

    def _mvm(self, cfg, bl, sl, analog):
        files = (bl, sl)
        inp = cfg.input_file
        if cfg.mode == Mode.NEURON_TEST:
            wl = np.zeros(N_LINES, dtype=bool)
        elif cfg.direction == Direction.BWD:
            wl = np.ones(N_LINES, dtype=bool)
        else:
            wl = np.arange(N_LINES) < cfg.n_rows
        sample_bl = cfg.sample_bl
        floating = np.full(N_LINES, Level.FLOAT, dtype=np.uint8)
        for base, planes, k, dest in cfg.segments():
            analog(AnalogEvent(EventKind.RESET, mode=cfg.mode))
            entries = files[inp].copy()
            for p in range(planes):
                lv = input_levels(cfg, entries, base + p)
                bl_drv, sl_drv = (lv, floating) if inp == BL_FILE else (floating, lv)
                analog(AnalogEvent(EventKind.WL_PULSE, mode=cfg.mode, bl_drv=bl_drv.copy(),
                                   sl_drv=sl_drv.copy(), wl_en=wl.copy(), vread=cfg.vread,
                                   width_ns=float(cfg.wl_ns)))
                for _ in range(1 << p):
                    analog(AnalogEvent(EventKind.SAMPLE, mode=cfg.mode, bl_sel=sample_bl,
                                       sl_sel=not sample_bl, bl_drv=bl_drv.copy(),
                                       sl_drv=sl_drv.copy(), vread=cfg.vread))
                    analog(AnalogEvent(EventKind.INTEG))
            if cfg.stoch:
                for _ in range(cfg.noise_steps):
                    analog(AnalogEvent(EventKind.NOISE, noise=self.lfsr.noise(),
                                       vnoise=cfg.vnoise))
                    self.lfsr.advance()
            out = files[dest]
            out[:] = 0
            s = None
            for c in range(k):
                if c:
                    analog(AnalogEvent(EventKind.DECR, vdecr=cfg.vdecr >> (c - 1),
                                       decr_mode=DecrMode.LATCH))
                    analog(AnalogEvent(EventKind.INTEG))
                r = analog(AnalogEvent(EventKind.COMPARE))
                r = np.asarray(r, dtype=bool)
                if r.shape != (N_LINES,):
                    raise ValueError("analog(COMPARE) must return 256 comparator bits")
                if c == 0:
                    s = r.copy()
                analog(AnalogEvent(EventKind.LATCH))
                bits = output_bit(cfg.act, c, r, s)
                entry_bits = bits[NEURON_SL] if dest == SL_FILE else bits
                b = 1 << (k - 1 - c)
                out[:] = np.where(entry_bits, out | b, out & ~b)
                analog(AnalogEvent(EventKind.WR, bl_sel=dest == BL_FILE, sl_sel=dest == SL_FILE))


def sequence_events(cfg: CoreConfig, bl: np.ndarray, sl: np.ndarray,
                    cmp_fn: Callable[[int], np.ndarray],
                    model: ControllerModel | None = None) -> list[AnalogEvent]:
    """The event list of one start; ``cmp_fn(i)`` gives the bits of the i-th COMPARE.

    ``bl``/``sl`` receive the write-backs in place, as in :meth:`ControllerModel.run`.
    """
    model = ControllerModel() if model is None else model
    events: list[AnalogEvent] = []
    n_cmp = [0]

    def analog(ev):
        events.append(ev)
        if ev.kind == EventKind.COMPARE:
            n_cmp[0] += 1
            return cmp_fn(n_cmp[0] - 1)
        return None

    model.run(cfg, bl, sl, analog)
    return events


# --------------------------------------------------------------------------------------
# RTL
# --------------------------------------------------------------------------------------

VREF_ALL = sum(int(Level.VREF) << (3 * i) for i in range(N_LINES))
ODD_LINES = int("10" * (N_LINES // 2), 2)


# The three helpers below hold the controller's wide, per-line logic. They are separate
# modules so that their logic is evaluated only when their own inputs change (the Amaranth
# simulator re-runs a module's comb statements on any of its inputs changing), and each is
# built bit by bit from signals so that no expression tree is duplicated per line.

class _SignBits(wiring.Component):
    """Bit ``shift`` of every entry of the (already shifted) input register ``sr``.

    Works from the controller's own register, not from the register files: the files are
    on the ungated clock, and logic reading them would be re-evaluated on its every edge.
    """

    def __init__(self):
        super().__init__({
            "sr": In(ENTRY_BITS * N_LINES),
            "shift": In(4),
            "signs": Out(N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        shifted = Signal(ENTRY_BITS * N_LINES)
        m.d.comb += [
            # One whole-vector shift brings the wanted bit of every entry to bit 10*i.
            shifted.eq(self.sr >> self.shift),
            self.signs.eq(Cat(*[shifted[ENTRY_BITS * i] for i in range(N_LINES)])),
        ]
        return m


class _LineLevels(wiring.Component):
    """Driver levels of the input lines for the current plane.

    Line ``i`` is on when bit 0 of its (shifted) entry ``sr[10 i]`` is 1 and positive when
    its sign is 1 (unsigned inputs: always); with ``diff_in`` odd line ``2j+1`` copies
    entry ``2j`` with the opposite polarity. Level codes: VREF = 001, VREF_P = 010,
    VREF_N = 011, so b1 = on and b0 = ~(on & pos).
    """

    def __init__(self):
        super().__init__({
            "sr": In(ENTRY_BITS * N_LINES),
            "sgn": In(N_LINES),
            "diff_in": In(1),
            "signed": In(1),
            "levels": Out(3 * N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        bits = []
        for i in range(N_LINES):
            src = i & ~1
            on = Mux(self.diff_in, self.sr[ENTRY_BITS * src], self.sr[ENTRY_BITS * i])
            sg = Mux(self.diff_in, self.sgn[src], self.sgn[i])
            pos = Mux(self.signed, sg, 1)
            if i & 1:
                pos = pos ^ self.diff_in
            on_s = Signal(name=f"on_{i}")
            pos_s = Signal(name=f"pos_{i}")
            m.d.comb += [on_s.eq(on), pos_s.eq(pos)]
            bits += [~(on_s & pos_s), on_s, Const(0, 1)]
        m.d.comb += self.levels.eq(Cat(*bits))
        return m


class _OutputBits(wiring.Component):
    """Entry-indexed bits written by WR (see :func:`output_bit`, routed through the SL
    switch when the destination is the SL file: entry e <- neuron SL(e))."""

    def __init__(self):
        super().__init__({
            "r": In(N_LINES),
            "s": In(N_LINES),
            "sign_cycle": In(1),
            "act": In(2),
            "dest_sl": In(1),
            "data": Out(N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        r, s = self.r, self.s
        bit_n = Signal(N_LINES)
        with m.If(self.sign_cycle):
            m.d.comb += bit_n.eq(Mux(self.act == Activation.TANH, ~r, r))
        with m.Elif(self.act == Activation.NONE):
            m.d.comb += bit_n.eq(~(r ^ s))
        with m.Elif(self.act == Activation.RELU):
            m.d.comb += bit_n.eq(r & s)
        with m.Else():
            m.d.comb += bit_n.eq(r)
        routed = Cat(*[bit_n[int(NEURON_SL[e])] for e in range(N_LINES)])
        m.d.comb += self.data.eq(Mux(self.dest_sl, routed, bit_n))
        return m


class Controller(wiring.Component):
    """Sequencer of one core (programming, neuron test, MVM).

    Parameters
    ----------
    macro : bool
        Passed to the :class:`PulseGenerator`: True instantiates the delay-line blackbox;
        False exposes its taps as ``delay_taps`` for Amaranth-simulator testbenches.

    Members
    -------
    cfg : In(CONFIG_LAYOUT)
        Configuration register fields (:data:`CONFIG_FIELDS`).
    start, abort, lfsr_load : In(1)
        Command pulses (already re-launched for this clock by the clock gate); each is
        registered (with the configuration, for start) one cycle before it acts.
    bl_q, sl_q : In(ArrayLayout(10, 256))
        Live entries of the BL / SL register files.
    wr_file : Out(1)
        Register file of the write-back ports below (0 BL, 1 SL).
    wr_clear, wr_en : Out(1)
        Clear all entries / write bit ``wr_bit`` of all entries of ``wr_file``.
    wr_bit : Out(4)
        Bit written by ``wr_en``.
    wr_data : Out(256)
        Entry-indexed bits written by ``wr_en`` (already routed through the SL switch).
    dec_load : Out(1)
        Load the one-hot decoders: BL entry ``dec_row`` and SL entry ``dec_col`` set to 1,
        every other entry of both files to 0.
    dec_row, dec_col : Out(8)
    busy, done : Out(1)
        STATUS.busy / STATUS.done.
    cmd_pending : Out(1)
        A command is held in the capture register (the clock must run one more cycle).
    err : Out(4)
        STATUS.err of the last start.
    analog : Out(AnalogBusSignature())
        The analog bus (docs/analog_bus.md).
    delay_a : Out(1)
        The delay line's input (observability).
    delay_taps : In(10)
        Only with ``macro=False``.
    """

    def __init__(self, *, macro: bool = True):
        if not isinstance(macro, bool):
            raise TypeError(f"macro must be a bool, not {macro!r}")
        self._macro = macro
        members = {
            "cfg": In(CONFIG_LAYOUT),
            "start": In(1),
            "abort": In(1),
            "lfsr_load": In(1),
            "bl_q": In(data.ArrayLayout(ENTRY_BITS, N_LINES)),
            "sl_q": In(data.ArrayLayout(ENTRY_BITS, N_LINES)),
            "wr_file": Out(1),
            "wr_clear": Out(1),
            "wr_en": Out(1),
            "wr_bit": Out(4),
            "wr_data": Out(N_LINES),
            "dec_load": Out(1),
            "dec_row": Out(8),
            "dec_col": Out(8),
            "busy": Out(1),
            "cmd_pending": Out(1),
            "done": Out(1),
            "err": Out(4),
            "analog": Out(AnalogBusSignature()),
            "delay_a": Out(1),
        }
        if not macro:
            members["delay_taps"] = In(10)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        a = self.analog

        m.submodules.pulsegen = pg = PulseGenerator(macro=self._macro)
        m.submodules.lfsr = lfsr = LfsrPair()

        # ---- command and configuration capture ------------------------------------------
        # Every command is registered, together with the configuration it acts on, before
        # the sequencer sees it (one cycle): ``cap`` holds the configuration as it was
        # when the last start arrived, ``run`` the one the running operation was accepted
        # with, ``seeds`` the SEED registers of the last lfsr_load. Two reasons: a host
        # write to the configuration while the core is busy cannot change an operation
        # half-way; and the sequencer depends on registers of its own clock only (not on
        # the ungated configuration or the falling-edge command crossing), so an
        # event-driven or Verilator simulation need not re-evaluate it on every edge of
        # the ungated clock while the core sleeps.
        start_q = Signal()
        abort_q = Signal()
        lfsr_load_q = Signal()
        cap = Signal(CONFIG_LAYOUT)
        run = Signal(CONFIG_LAYOUT)
        seeds = Signal(32, init=DEFAULT_SEED_A | (DEFAULT_SEED_B << 16))
        m.d.sync += [start_q.eq(self.start), abort_q.eq(self.abort),
                     lfsr_load_q.eq(self.lfsr_load)]
        # The clock gate must pass one more edge for a captured command to act.
        m.d.comb += self.cmd_pending.eq(start_q | abort_q | lfsr_load_q)
        with m.If(self.start):
            m.d.sync += cap.as_value().eq(cfg.as_value())
        with m.If(self.lfsr_load):
            m.d.sync += seeds.eq(Cat(cfg.seed_a, cfg.seed_b))

        if not self._macro:
            m.d.comb += pg.delay_taps.eq(self.delay_taps)
        m.d.comb += [
            self.delay_a.eq(pg.delay_a),
            lfsr.seed_a.eq(seeds[:16]),
            lfsr.seed_b.eq(seeds[16:]),
            lfsr.load.eq(lfsr_load_q),
            a.noise.eq(lfsr.noise),
            a.wl_pulse.eq(pg.pulse),
            pg.width.eq(run.wl_ns),
        ]

        def decode(c, suffix):
            signed = Signal(name=f"signed{suffix}")
            mag_bits = Signal(4, name=f"mag_bits{suffix}")
            dirn = Signal(2, name=f"dirn{suffix}")
            in_sl = Signal(name=f"in_sl{suffix}")
            m.d.comb += [
                signed.eq(c.in_signed & (c.in_bits > 1)),
                mag_bits.eq(Mux(signed, c.in_bits - 1, c.in_bits)),
                dirn.eq(Mux(c.dir == 3, Direction.FWD, c.dir)),
                in_sl.eq(dirn == Direction.BWD),
            ]
            return signed, mag_bits, dirn, in_sl

        # ``cap``: the start decision (IDLE); ``run``: every later state
        signed0, mag_bits0, dirn0, in_sl0 = decode(cap, "_start")
        signed, mag_bits, dirn, in_sl = decode(run, "")
        err_now = Signal(4)
        with m.If(~cap.power_enable):
            m.d.comb += err_now.eq(CfgErr.DISABLED)
        with m.Elif(cap.mode == Mode.IDLE):
            m.d.comb += err_now.eq(CfgErr.MODE_IDLE)
        with m.Elif(cap.mode == Mode.PROGRAM):
            m.d.comb += err_now.eq(CfgErr.OK)
        with m.Elif((cap.in_bits < 1) | (cap.in_bits > 8)):
            m.d.comb += err_now.eq(CfgErr.IN_BITS)
        with m.Elif((cap.out_bits < 1) | (cap.out_bits > 10)):
            m.d.comb += err_now.eq(CfgErr.OUT_BITS)
        with m.Elif(cap.two_phase & ((cap.split < 1) | (cap.split >= mag_bits0))):
            m.d.comb += err_now.eq(CfgErr.SPLIT)
        with m.Elif(cap.two_phase & ((cap.out_bits_lsb < 1) | (cap.out_bits_lsb > 10))):
            m.d.comb += err_now.eq(CfgErr.OUT_BITS_LSB)
        with m.Elif((cap.n_rows < 1) | (cap.n_rows > N_LINES)):
            m.d.comb += err_now.eq(CfgErr.N_ROWS)
        with m.Elif((cap.wl_ns < 1) | (cap.wl_ns > 10)):
            m.d.comb += err_now.eq(CfgErr.WL_NS)

        sample_cyc = Signal(4)
        integ_cyc = Signal(8)
        prog_cycles = Signal(16)
        m.d.comb += [
            sample_cyc.eq(Mux(run.sample_cyc == 0, 1, run.sample_cyc)),
            integ_cyc.eq(Mux(run.integ_cyc == 0, 1, run.integ_cyc)),
            prog_cycles.eq(Mux(run.prog_cycles == 0, 1, run.prog_cycles)),
        ]

        # ---- registers --------------------------------------------------------------
        busy = Signal()
        done = Signal()
        err = Signal(4)
        mode_r = Signal(2)
        power_down = Signal()
        ev_seq = Signal(EV_SEQ_BITS)
        ev_kind = Signal(4)
        bl_drv = Signal(data.ArrayLayout(3, N_LINES))
        sl_drv = Signal(data.ArrayLayout(3, N_LINES))
        row_mask = Signal(N_LINES)
        bl_sel = Signal()
        sl_sel = Signal()
        sample_bl = Signal()        # operation: neurons sample their BL
        seg = Signal()              # 0: first (or only) segment, 1: LSB segment
        planes = Signal(4)          # planes of the current segment
        kbits = Signal(4)           # output bits of the current segment
        dest_sl = Signal()          # destination file of the current segment
        p = Signal(3)               # plane index
        rep = Signal(8)             # sample/integrate repetitions left in this plane
        cnt = Signal(16)            # strobe length / noise steps / pulse counter
        c = Signal(4)               # output cycle (0 = sign)
        sr = Signal(ENTRY_BITS * N_LINES)   # input entries >> (base + p), entry-major
        sgn = Signal(N_LINES)       # input sign bits (line-indexed), from the first plane on
        sgn_now = Signal(N_LINES)   # ... and in the first plane itself
        r_cmp = Signal(N_LINES)     # comparator bits sampled at LATCH (neuron-indexed)
        s_cmp = Signal(N_LINES)     # sign comparison of this segment
        vdecr = Signal(12)
        wr_en = Signal()
        wr_clear = Signal()
        wr_bit = Signal(4)
        wr_data = Signal(N_LINES)
        prog_pulse = Signal()

        m.d.comb += [
            self.busy.eq(busy), self.done.eq(done), self.err.eq(err),
            a.mode.eq(mode_r), a.power_down.eq(power_down),
            a.ev_seq.eq(ev_seq), a.ev_kind.eq(ev_kind),
            a.bl_drv.eq(bl_drv), a.sl_drv.eq(sl_drv),
            a.wl_en.eq(Mux(pg.pulse | prog_pulse, row_mask, 0)),
            a.bl_sel.eq(bl_sel), a.sl_sel.eq(sl_sel),
            a.vread.eq(cfg.vread), a.vnoise.eq(cfg.vnoise),
            a.vdecr.eq(vdecr), a.decr_mode.eq(DecrMode.LATCH),
            a.prog_pulse.eq(prog_pulse), a.prog_op.eq(cfg.prog_op), a.prog_amp.eq(cfg.prog_amp),
            self.wr_en.eq(wr_en), self.wr_clear.eq(wr_clear), self.wr_bit.eq(wr_bit),
            self.wr_data.eq(wr_data), self.wr_file.eq(dest_sl),
            self.dec_row.eq(run.prog_row), self.dec_col.eq(run.prog_col),
        ]

        emit = Signal()
        emit_kind = Signal(4)
        with m.If(emit):
            m.d.sync += [ev_seq.eq(ev_seq + 1), ev_kind.eq(emit_kind)]

        def event(kind):
            m.d.comb += [emit.eq(1), emit_kind.eq(kind)]

        # Wide datapath values are plain expressions used only inside the FSM branch that
        # registers them, never comb signals: the line logic is then evaluated only in the
        # cycle that loads it (in the Amaranth simulator every comb statement of a module
        # re-runs on any input change; Verilator inlines single-use terms into the flop).
        m.submodules.signbits = signbits = _SignBits()
        m.submodules.levels = lvl = _LineLevels()
        m.submodules.outbits = outb = _OutputBits()
        sign_pos = Signal(4)
        base = Signal(3)
        m.d.comb += [
            sign_pos.eq(run.in_bits - 1),
            base.eq(Mux(seg | ~run.two_phase, 0, run.split)),
        ]
        m.d.comb += [
            # At the first plane ``sr`` holds the entries >> base: their sign bit
            # ``in_bits-1`` is bit ``sign_pos - base`` (never negative when signed).
            signbits.sr.eq(sr), signbits.shift.eq(sign_pos - base),
            sgn_now.eq(Mux(p == 0, signbits.signs, sgn)),
        ]

        all_ones = (1 << N_LINES) - 1
        vref_all = Const(VREF_ALL, 3 * N_LINES)

        sample_bl_next = Signal()
        m.d.comb += sample_bl_next.eq(Mux(cap.mode == Mode.NEURON_TEST, ~in_sl0,
                                          dirn0 == Direction.BWD))

        # Segment parameters: first segment at start, LSB segment after the first.
        def enter_segment(first: bool):
            if first:   # at start: from the configuration captured with the command
                two = cap.two_phase
                m.d.sync += [
                    planes.eq(Mux(two, mag_bits0 - cap.split, mag_bits0)),
                    kbits.eq(cap.out_bits),
                    # two-phase: the file that does not hold inputs; else FWD -> SL.
                    dest_sl.eq(Mux(two, ~in_sl0, dirn0 == Direction.FWD)),
                    seg.eq(0),
                ]
            else:
                m.d.sync += [
                    planes.eq(run.split),
                    kbits.eq(run.out_bits_lsb),
                    dest_sl.eq(in_sl),
                    seg.eq(1),
                ]
            m.d.sync += [
                bl_drv.as_value().eq(vref_all), sl_drv.as_value().eq(vref_all),
                bl_sel.eq(Mux(first, sample_bl_next, sample_bl)),
                sl_sel.eq(~Mux(first, sample_bl_next, sample_bl)),
            ]
            event(EventKind.RESET)


        # Row select of the WL pulses: thermometer code of n_rows, computed once at start.
        thermo = Mux(cap.n_rows >= N_LINES, all_ones,
                     ((Const(1, N_LINES + 1) << cap.n_rows) - 1)[:N_LINES])

        def finish(ok: bool):
            m.d.sync += [
                busy.eq(0), done.eq(int(ok)), mode_r.eq(0), prog_pulse.eq(0),
                bl_drv.as_value().eq(0), sl_drv.as_value().eq(0), row_mask.eq(0),
                bl_sel.eq(0), sl_sel.eq(0), wr_en.eq(0), wr_clear.eq(0),
            ]

        m.d.comb += [
            lvl.sr.eq(sr), lvl.sgn.eq(sgn_now), lvl.diff_in.eq(run.diff_in), lvl.signed.eq(signed),
            outb.r.eq(r_cmp), outb.s.eq(s_cmp), outb.sign_cycle.eq(c == 0),
            outb.act.eq(run.act), outb.dest_sl.eq(dest_sl),
        ]

        # Programming drivers from the one-hot files: bit 0 of each entry selects a line.
        # BL side: GND = 100, VPROG = 101: b2 always, b0 on a selected line driven to VPROG.
        op_reset = Signal()
        m.d.comb += op_reset.eq(run.prog_op == ProgOp.RESET)
        bl_hot = Cat(*[self.bl_q[i][0] for i in range(N_LINES)])
        prog_bl = Cat(*[Cat(self.bl_q[i][0] & ~op_reset, Const(0b10, 2))
                        for i in range(N_LINES)])
        # SL side: RESET drives the selected SL to VPROG (101) and the rest to GND (100);
        # SET / READ ground the selected SL (100) and float the rest (000) to inhibit the
        # other cells of the selected row.
        prog_sl = Cat(*[Cat(self.sl_q[i][0] & op_reset, Const(0, 1),
                            self.sl_q[i][0] | op_reset)
                        for i in range(N_LINES)])

        m.d.comb += [
            lfsr.advance.eq(0),
            pg.start.eq(0),
            a.n_reset.eq(0), a.n_sample.eq(0), a.n_integ.eq(0), a.n_decr.eq(0),
            a.n_compare.eq(0), a.n_latch.eq(0), a.n_noise.eq(0), a.n_wr.eq(0),
            self.dec_load.eq(0),
        ]

        # Power-gate output: follows POWER.enable, announced when idle.
        def idle_power():
            with m.If(cfg.power_enable == power_down):
                m.d.sync += power_down.eq(~cfg.power_enable)
                event(EventKind.POWER)

        def guard():
            # Abort wins over whatever the state does in this cycle.
            with m.If(abort_q):
                finish(False)
                # dec_load is not withdrawn: an abort that meets PDEC still loads the
                # decoders, as one a cycle later would (and dec_load then depends on
                # gated state alone, not on the falling-edge command crossing).
                m.d.comb += [emit.eq(0), pg.start.eq(0), lfsr.advance.eq(0)]
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(start_q):
                    m.d.sync += [done.eq(0), err.eq(err_now)]
                    with m.If(err_now == 0):
                        m.d.sync += [busy.eq(1), mode_r.eq(cap.mode),
                                     sample_bl.eq(sample_bl_next),
                                     run.as_value().eq(cap.as_value())]
                        with m.If(cap.mode == Mode.PROGRAM):
                            m.next = "PDEC"
                        with m.Else():
                            with m.If(cap.mode == Mode.NEURON_TEST):
                                m.d.sync += row_mask.eq(0)
                            with m.Elif(dirn0 == Direction.BWD):
                                m.d.sync += row_mask.eq(all_ones)
                            with m.Else():
                                m.d.sync += row_mask.eq(thermo)
                            enter_segment(True)
                            m.next = "RESET"
                with m.Else():
                    idle_power()

            # ---- programming ---------------------------------------------------------
            with m.State("PDEC"):
                m.d.comb += self.dec_load.eq(1)
                m.next = "PWAIT"
                guard()
            with m.State("PWAIT"):
                m.next = "PDRV"
                guard()
            with m.State("PDRV"):
                m.d.sync += [
                    bl_drv.as_value().eq(prog_bl), sl_drv.as_value().eq(prog_sl),
                    row_mask.eq(bl_hot), prog_pulse.eq(1), cnt.eq(prog_cycles),
                ]
                event(EventKind.PROG_BEGIN)
                m.next = "PULSE"
                guard()
            with m.State("PULSE"):
                m.d.sync += cnt.eq(cnt - 1)
                with m.If(cnt == 1):
                    m.d.sync += prog_pulse.eq(0)
                    event(EventKind.PROG_END)
                    m.next = "PEND"
                guard()
            with m.State("PEND"):
                finish(True)
                m.next = "IDLE"

                guard()
            # ---- MVM / neuron test ---------------------------------------------------
            with m.State("RESET"):
                m.d.comb += a.n_reset.eq(1)
                m.d.sync += [
                    # The only read of the register files' wide outputs in an MVM: one
                    # expression, used here alone.
                    sr.eq(Mux(in_sl, self.sl_q.as_value(), self.bl_q.as_value()) >> base),
                    p.eq(0),
                ]
                m.next = "SETUP"
                guard()
            with m.State("SETUP"):
                in_lv = lvl.levels
                m.d.sync += [
                    bl_drv.as_value().eq(Mux(in_sl, 0, in_lv)),
                    sl_drv.as_value().eq(Mux(in_sl, in_lv, 0)),
                    sr.eq(sr >> 1),
                    sgn.eq(sgn_now),
                    rep.eq(Const(1, 8) << p),
                ]
                m.d.comb += pg.start.eq(1)
                event(EventKind.WL_PULSE)
                m.next = "WL"
                guard()
            with m.State("WL"):
                m.d.sync += cnt.eq(sample_cyc)
                event(EventKind.SAMPLE)
                m.next = "SAMPLE"
                guard()
            with m.State("SAMPLE"):
                m.d.comb += a.n_sample.eq(1)
                m.d.sync += cnt.eq(cnt - 1)
                with m.If(cnt == 1):
                    m.d.sync += cnt.eq(integ_cyc)
                    event(EventKind.INTEG)
                    m.next = "INTEG"
                guard()
            with m.State("INTEG"):
                m.d.comb += a.n_integ.eq(1)
                m.d.sync += cnt.eq(cnt - 1)
                with m.If(cnt == 1):
                    m.d.sync += rep.eq(rep - 1)
                    with m.If(rep != 1):
                        m.d.sync += cnt.eq(sample_cyc)
                        event(EventKind.SAMPLE)
                        m.next = "SAMPLE"
                    with m.Elif(p + 1 != planes):
                        m.d.sync += p.eq(p + 1)
                        m.next = "SETUP"
                    with m.Elif(run.stoch & (run.noise_steps != 0)):
                        m.d.sync += cnt.eq(run.noise_steps)
                        event(EventKind.NOISE)
                        m.next = "NOISE"
                    with m.Else():
                        m.d.sync += [c.eq(0), wr_clear.eq(1)]
                        event(EventKind.COMPARE)
                        m.next = "COMPARE"
                guard()
            with m.State("NOISE"):
                m.d.comb += [a.n_noise.eq(1), lfsr.advance.eq(1)]
                m.d.sync += cnt.eq(cnt - 1)
                m.next = "NGAP"
                guard()
            with m.State("NGAP"):
                with m.If(cnt != 0):
                    event(EventKind.NOISE)
                    m.next = "NOISE"
                with m.Else():
                    m.d.sync += [c.eq(0), wr_clear.eq(1)]
                    event(EventKind.COMPARE)
                    m.next = "COMPARE"
                guard()
            with m.State("COMPARE"):
                m.d.comb += a.n_compare.eq(1)
                m.d.sync += wr_clear.eq(0)
                with m.If(c == 0):
                    m.d.sync += vdecr.eq(run.vdecr)
                m.next = "CWAIT"
                guard()
            with m.State("CWAIT"):
                # The comparators have had two cycles: sample them on entering LATCH.
                m.d.sync += r_cmp.eq(a.cmp)
                event(EventKind.LATCH)
                m.next = "LATCH"
                guard()
            with m.State("LATCH"):
                m.d.comb += a.n_latch.eq(1)
                with m.If(c == 0):
                    m.d.sync += s_cmp.eq(r_cmp)
                m.d.sync += [
                    wr_en.eq(1),
                    wr_bit.eq(kbits - 1 - c),
                    wr_data.eq(outb.data),
                    bl_sel.eq(~dest_sl), sl_sel.eq(dest_sl),
                ]
                event(EventKind.WR)
                m.next = "WR"
                guard()
            with m.State("WR"):
                m.d.comb += a.n_wr.eq(1)
                m.d.sync += [wr_en.eq(0), bl_sel.eq(sample_bl), sl_sel.eq(~sample_bl)]
                with m.If(c + 1 != kbits):
                    m.d.sync += c.eq(c + 1)
                    event(EventKind.DECR)
                    m.next = "DECR"
                with m.Elif(run.two_phase & ~seg):
                    enter_segment(False)
                    m.next = "RESET"
                with m.Else():
                    finish(True)
                    m.next = "IDLE"
                guard()
            with m.State("DECR"):
                m.d.comb += a.n_decr.eq(1)
                m.d.sync += [vdecr.eq(vdecr >> 1), cnt.eq(integ_cyc)]
                event(EventKind.INTEG)
                m.next = "MINTEG"
                guard()
            with m.State("MINTEG"):
                m.d.comb += a.n_integ.eq(1)
                m.d.sync += cnt.eq(cnt - 1)
                with m.If(cnt == 1):
                    event(EventKind.COMPARE)
                    m.next = "COMPARE"
                guard()

        # A second start while busy is refused (the running operation goes on).
        with m.If(busy & start_q & ~abort_q):
            m.d.sync += err.eq(CfgErr.BUSY)

        return m

"""Mid-level API: write-verify programming, MVM at any precision, multi-core MVM, calibration.

The middle of the paper's three-level toolchain (SPEC §8). It knows conductances, input
and output bit widths and the directions of the TNSA, and nothing about neural-network
layers (that is :mod:`firmware.highlevel`).

Main entry point: :class:`Core` state is kept by :class:`MidLevel`, which wraps a
:class:`firmware.lowlevel.Chip`:

>>> mid = MidLevel(Chip(transport))                                     # doctest: +SKIP
>>> report = mid.program_matrix(core=0, g=G)   # write-verify, 3 iterative passes
>>> res = mid.mvm(core=0, x=X, cfg=MvmConfig(in_bits=4, out_bits=6), rows=(0, 128), cols=(0, 64))
>>> res.dot                                    # sum_i x_i (G+ - G-) in µS per input unit
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from analog_models import normalisation
from analog_models.params import AnalogParams
from firmware.lowlevel import (N_LINES, Chip, RegFile, _check_int, decode_outputs,
                               encode_inputs)
from firmware.parallel import check_shared_bias

__all__ = ["WriteVerifyConfig", "ProgramReport", "MvmConfig", "MvmResult", "Normaliser",
           "Calibration", "MidLevel", "neuron_of_sl"]


def neuron_of_sl(j):
    """Neuron index whose SL is ``j`` (corelet (i, j') wiring; the map is an involution)."""
    j = np.asarray(j)
    return 16 * (j % 16) + j // 16


def _finite_number(name, v, lo=None, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v!r}")
    return float(v)


# ======================================================================== programming
@dataclass
class WriteVerifyConfig:
    """Incremental-pulse write-verify settings; defaults are the paper's (SPEC §5).

    Attributes
    ----------
    set_v0, reset_v0 : float
        First SET / RESET amplitude (V): 1.2 V and 1.5 V.
    step_v : float
        Amplitude increment per pulse of the same polarity (V): 0.1 V.
    v_max : float
        Highest amplitude applied (V); the PROG.amp DAC ends at 2.55 V.
    width_ns : float
        SET / RESET pulse width: 1 µs.
    tol_uS : float
        Acceptance window: ±1 µS around the target.
    max_reversals : int
        Timeout: 30 SET/RESET polarity reversals.
    max_pulses : int
        Hard cap on pulses per cell and pass (a stuck cell never stalls programming).
    read_v, read_width_ns : float
        READ pulse amplitude and width (reading takes 1-10 µs on the paper's board).
    passes : int
        Iterative programming passes (3): every pass re-reads every cell and
        re-programs those outside the window (conductance relaxation).
    settle_ns : float
        Chip time to wait before each re-measuring pass, so that the conductance
        relaxation (mostly within the first second, SPEC §5) has happened: 1 s.
    gmin, gmax : float
        Allowed target range (µS): 1 and 40 (CNNs).
    final_read : bool
        After the last pass wait ``settle_ns`` and read every cell again, so the report
        (and the host's normalisation) hold the relaxed conductances the MVMs will see.
    """

    set_v0: float = 1.2
    reset_v0: float = 1.5
    step_v: float = 0.1
    v_max: float = 2.55
    width_ns: float = 1000.0
    tol_uS: float = 1.0
    max_reversals: int = 30
    max_pulses: int = 200
    read_v: float = 0.2
    read_width_ns: float = 1000.0
    passes: int = 3
    settle_ns: float = 1e9
    gmin: float = 1.0
    gmax: float = 40.0
    final_read: bool = True

    def validate(self) -> "WriteVerifyConfig":
        for name in ("set_v0", "reset_v0", "step_v", "v_max", "read_v"):
            _finite_number(name, getattr(self, name), 0.01, 2.55)
        _finite_number("width_ns", self.width_ns, 10, 655350)
        _finite_number("read_width_ns", self.read_width_ns, 10, 655350)
        _finite_number("tol_uS", self.tol_uS, 1e-3, 100)
        _finite_number("settle_ns", self.settle_ns, 0, 1e12)
        _check_int("max_reversals", self.max_reversals, 0, 10000)
        _check_int("max_pulses", self.max_pulses, 1, 100000)
        _check_int("passes", self.passes, 1, 100)
        _finite_number("gmin", self.gmin, 0, 1000)
        _finite_number("gmax", self.gmax, 0, 1000)
        if not self.gmin < self.gmax:
            raise ValueError(f"gmin must be < gmax, got {self.gmin} >= {self.gmax}")
        return self


@dataclass
class ProgramReport:
    """Per-cell outcome of programming a set of cells (nothing is ever silently partial).

    Arrays are indexed like ``rows`` / ``cols`` (one entry per cell).
    """

    core: int
    rows: np.ndarray
    cols: np.ndarray
    target: np.ndarray
    final: np.ndarray        #: last conductance measured by the board ADC (µS)
    pulses: np.ndarray       #: SET/RESET pulses applied, all passes
    reversals: np.ndarray    #: polarity reversals in the last pass that touched the cell
    ok: np.ndarray           #: final read inside the acceptance window
    timed_out: np.ndarray    #: write-verify of the cell hit the timeout in its last attempt
    passes: int = 0
    reprogrammed: list = field(default_factory=list)   #: cells (re)programmed in each pass
    tol_uS: float = 1.0
    #: inside the window at the end of the last write-verify (before the final read)
    ok_programmed: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return int(self.rows.size)

    @property
    def failed(self) -> list[tuple[int, int]]:
        """(row, col) of every cell whose final read is outside the window."""
        idx = np.flatnonzero(~self.ok)
        return [(int(self.rows[i]), int(self.cols[i])) for i in idx]

    @property
    def success_rate(self) -> float:
        return float(self.ok.mean()) if self.n_cells else 1.0

    @property
    def mean_pulses(self) -> float:
        return float(self.pulses.mean()) if self.n_cells else 0.0

    def summary(self) -> dict:
        """JSON-able summary."""
        err = self.final - self.target
        return {
            "core": self.core, "cells": self.n_cells, "passes": self.passes,
            "reprogrammed_per_pass": [int(n) for n in self.reprogrammed],
            "in_window_after_write_verify": (int(self.ok_programmed.sum())
                                             if self.ok_programmed is not None else None),
            "in_window": int(self.ok.sum()), "failed": len(self.failed),
            "success_rate": round(self.success_rate, 5),
            "mean_pulses": round(self.mean_pulses, 3),
            "rms_error_uS": round(float(np.sqrt(np.mean(err ** 2))) if self.n_cells else 0.0, 4),
            "failed_cells": self.failed[:20],
        }


# ============================================================================== MVM
_DIRS = ("FWD", "BWD", "REC")
_ACTS = ("NONE", "RELU", "SIGMOID", "TANH")


@dataclass
class MvmConfig:
    """Operating point of one MVM (validated by :meth:`validate` before any frame).

    Attributes
    ----------
    in_bits : int
        1..8 (signed: sign + in_bits-1 magnitude bits; 1 bit is always unsigned).
    out_bits : int
        1..10.
    signed : bool
        Sign-magnitude inputs.
    direction : str
        ``FWD`` (BL->SL), ``BWD`` (SL->BL) or ``REC`` (BL->BL).
    diff : bool
        Signed weights on row pairs: differential input (FWD/REC) or differential
        output (BWD, the two BL results subtracted on the host).
    two_phase : bool or None
        Two-phase input; ``None`` = automatically above 4 bits (the paper's rule).
    split : int or None
        LSB-segment magnitude bits; ``None`` = half of the magnitude bits, rounded up.
    out_bits_lsb : int
        Output bits of the LSB segment (paper: 5 for 6-bit in / 8-bit out).
    act : str
        ``NONE``, ``RELU``, ``SIGMOID`` or ``TANH``.
    vread, vdecr : int
        DAC codes of Vread and of the first Vdecr cycle.
    wl_ns : int
        WL pulse width 1..10 ns.
    noise_steps, vnoise : int
        Stochastic activation (LFSR noise) steps and amplitude code; 0 = deterministic.
    """

    in_bits: int = 4
    out_bits: int = 6
    signed: bool = True
    direction: str = "FWD"
    diff: bool = True
    two_phase: bool | None = None
    split: int | None = None
    out_bits_lsb: int = 5
    act: str = "NONE"
    vread: int = 100
    vdecr: int = 2048
    wl_ns: int = 10
    noise_steps: int = 0
    vnoise: int = 0

    @property
    def mag_bits(self) -> int:
        return self.in_bits - 1 if (self.signed and self.in_bits > 1) else self.in_bits

    @property
    def is_two_phase(self) -> bool:
        if self.two_phase is None:
            return self.in_bits > 4 and self.mag_bits >= 2
        return bool(self.two_phase)

    @property
    def lsb_bits(self) -> int:
        """Magnitude bits of the LSB segment (two-phase)."""
        return self.split if self.split is not None else (self.mag_bits + 1) // 2

    def validate(self) -> "MvmConfig":
        _check_int("in_bits", self.in_bits, 1, 8)
        _check_int("out_bits", self.out_bits, 1, 10)
        _check_int("out_bits_lsb", self.out_bits_lsb, 1, 10)
        _check_int("vread", self.vread, 1, 255)
        _check_int("vdecr", self.vdecr, 1, 4095)
        _check_int("wl_ns", self.wl_ns, 1, 10)
        _check_int("noise_steps", self.noise_steps, 0, 255)
        _check_int("vnoise", self.vnoise, 0, 255)
        if self.direction not in _DIRS:
            raise ValueError(f"direction must be one of {_DIRS}, got {self.direction!r}")
        if self.act not in _ACTS:
            raise ValueError(f"act must be one of {_ACTS}, got {self.act!r}")
        if self.is_two_phase:
            if self.mag_bits < 2:
                raise ValueError(f"two_phase needs at least 2 magnitude bits, got in_bits={self.in_bits}")
            _check_int("split", self.lsb_bits, 1, min(7, self.mag_bits - 1))
        return self

    def replace(self, **kw) -> "MvmConfig":
        return dataclasses.replace(self, **kw).validate()

    def segments(self) -> list[tuple[str, int, int]]:
        """``(name, magnitude bits, out bits)`` of each conversion segment."""
        if not self.is_two_phase:
            return [("single", self.mag_bits, self.out_bits)]
        s = self.lsb_bits
        return [("msb", self.mag_bits - s, self.out_bits), ("lsb", s, self.out_bits_lsb)]


class Normaliser:
    """Output code -> dot product, from the analog parameters the host knows.

    The voltage-mode neuron integrates, per input bit plane ``p``, ``2**p`` samples of the
    output line, whose voltage is the conductance-weighted average of the inputs
    (SPEC §4). One sample adds ``gain * share * (V_line - Vref)`` to the integrator
    (``gain = Csample/Cinteg``, ``share = C_line/(C_line+Csample)``), so the integrated
    voltage is about ``gain*c*Vread * sum_i x_i G_ij / sum_i G_ij`` (``c`` the plane gain
    of :mod:`analog_models.normalisation`). The binary search reads it in steps of the
    Vdecr DAC (``vdecr >> (c-1)`` in cycle ``c``). Multiplying back by the sum of
    conductances recovers ``sum_i x_i G_ij``.
    """

    def __init__(self, params: AnalogParams | None = None):
        self.p = params if params is not None else AnalogParams()

    def code_to_volts(self, codes, out_bits: int, vdecr: int, act: str = "NONE") -> np.ndarray:
        """Integrated voltage (relative to Vref) that an output code stands for.

        Uses the actual decrement steps (the DAC code is shifted right, not divided),
        so codes that are not powers of two decode exactly.
        """
        k = out_bits
        codes = np.asarray(codes, dtype=np.int64)
        if k == 1:
            half = 0.5 * self.p.gain * self.p.vdecr_volts(vdecr)
            lsb_units = decode_outputs(codes, 1, act)
            return lsb_units * 2 * half     # +-gain*vdecr: the sign bit alone
        steps = np.array([self.p.gain * self.p.vdecr_volts(vdecr >> (c - 1)) for c in range(1, k)])
        lsb_units = decode_outputs(codes, k, act)           # (mag + 0.5) * sign
        sign = np.sign(lsb_units)
        mag = (np.abs(lsb_units) - 0.5).astype(np.int64)
        # non-restoring search: sigma_0 = +1, sigma_c = +1 if magnitude bit c is 1
        bits = [(mag >> (k - 1 - c)) & 1 for c in range(1, k)]
        sig = [np.ones_like(mag)] + [2 * b - 1 for b in bits]
        mag_v = sum(sig[c - 1] * steps[c - 1] for c in range(1, k)) + sig[k - 1] * steps[k - 2] / 2
        out = sign * mag_v
        if act == "RELU":
            out = np.where(lsb_units > 0, out, 0.0)
        return out

    def lsb_volts(self, out_bits: int, vdecr: int) -> float:
        """Integrated voltage of one output LSB: the last decrement step (k >= 2)."""
        k = out_bits
        if k == 1:
            return 2 * self.p.gain * self.p.vdecr_volts(vdecr)
        return self.p.gain * self.p.vdecr_volts(vdecr >> (k - 2))

    def full_scale(self, out_bits: int, vdecr: int) -> float:
        """Largest integrated voltage a conversion resolves (the ADC full scale)."""
        k = out_bits
        if k == 1:
            return self.p.gain * self.p.vdecr_volts(vdecr)
        return float(sum(self.p.gain * self.p.vdecr_volts(vdecr >> (c - 1)) for c in range(1, k))
                     + self.p.gain * self.p.vdecr_volts(vdecr >> (k - 2)) / 2)

    def volts_per_dot(self, vread: int, direction: str, n_planes: int) -> float:
        """Integrated volts per unit of ``sum_i x_i G_ij / sum_i G_ij`` for a segment of
        ``n_planes`` input bit-planes (includes the per-sample charge share and, when the
        analog model has it, sample depletion: :func:`analog_models.normalisation.vint_scale`)."""
        return normalisation.vint_scale(self.p, int(n_planes), int(vread), backward=direction == "BWD")


def _segment_file(cfg: MvmConfig, seg: str) -> RegFile:
    """Register file a segment's results are written to (architecture §5)."""
    if seg == "lsb":   # two-phase LSB segment: the input file, whose inputs are used up
        return RegFile.SL if cfg.direction == "BWD" else RegFile.BL
    if seg == "msb":   # the file that does not hold inputs
        return RegFile.BL if cfg.direction == "BWD" else RegFile.SL
    return {"FWD": RegFile.SL, "BWD": RegFile.BL, "REC": RegFile.BL}[cfg.direction]


@dataclass
class MvmResult:
    """Result of a batch of MVMs on one core.

    Attributes
    ----------
    codes : ndarray (batch, n_out) or (batch, segments, n_lines)
        Raw output codes per segment (``codes[:, s]`` for segment ``s``), before
        differential subtraction.
    volts : ndarray (batch, n_out)
        Integrated voltage per output (shift-and-added over segments, differential
        outputs subtracted after normalisation).
    dot : ndarray (batch, n_out)
        ``sum_i x_i (G+_ij - G-_ij)`` (differential) or ``sum_i x_i G_ij`` in µS per input
        unit, after calibration offsets.
    """

    codes: np.ndarray
    volts: np.ndarray
    dot: np.ndarray
    cfg: MvmConfig
    core: int | tuple = 0


@dataclass
class Calibration:
    """Operating point and offsets found by :meth:`MidLevel.calibrate` (SPEC §8a)."""

    vread: int
    vdecr: int
    offset: np.ndarray         #: per output, subtracted from ``dot`` (µS·input units)
    gain: float                #: block gain, ``dot`` is divided by it after the offsets
    rmse: float                #: on the calibration data, after offset and gain correction
    grid: list                 #: (vread, vdecr, rmse) of every point tried
    clip_fraction: float       #: fraction of outputs at the largest magnitude code

    def summary(self) -> dict:
        return {"vread": self.vread, "vdecr": self.vdecr, "gain": round(self.gain, 4),
                "rmse": round(self.rmse, 4),
                "clip_fraction": round(self.clip_fraction, 4), "points": len(self.grid)}


@dataclass
class _Job:
    core: int
    x: np.ndarray
    cfg: MvmConfig
    rows: tuple
    cols: tuple


class MidLevel:
    """Mid-level driver: programming, MVM, calibration over a :class:`Chip`.

    Parameters
    ----------
    chip : Chip
        Low-level driver.
    params : AnalogParams, optional
        Analog constants the host uses for normalisation (DAC scales, capacitances).
    progress : bool
        Show tqdm progress bars on long operations.

    Notes
    -----
    The host keeps what it knows of each core's conductances in :attr:`g_known`
    (NaN = never programmed or measured). MVM normalisation needs the conductances of
    every cell on the lines being averaged; :meth:`measure` reads unknown ones.
    """

    def __init__(self, chip: Chip, params: AnalogParams | None = None, *, progress: bool = True):
        if not isinstance(chip, Chip):
            raise TypeError(f"chip must be a firmware.lowlevel.Chip, got {type(chip).__name__}")
        self.chip = chip
        self.norm = Normaliser(params)
        self.progress = bool(progress)
        self.g_known: dict[int, np.ndarray] = {}
        #: block key -> (per-output offset, gain) recorded by :meth:`calibrate`
        self.offsets: dict[tuple, tuple] = {}
        #: when True every MVM's raw output codes are appended to :attr:`codes_log`
        #: (used to compare backends code for code)
        self.record_codes = False
        self.codes_log: list[np.ndarray] = []
        #: read unknown conductances through the board ADC when an MVM needs them
        self.auto_measure = True

    @property
    def n_cores(self) -> int:
        return self.chip.n_cores

    #: Board DACs that change the analog scale the host normalises with: name ->
    #: (AnalogParams field, code bits of the on-chip DAC it is the full scale of).
    BOARD_DACS = {"vref": ("vref", None), "vread_fs": ("vread_lsb", 8), "vdecr_fs": ("vdecr_lsb", 12),
                  "vnoise_fs": ("vnoise_lsb", 8), "vprog_fs": ("prog_lsb", 8)}

    def board_dac(self, name: str, volts: float) -> None:
        """Set a board DAC and keep the host's normalisation constants in step with it."""
        if name not in self.BOARD_DACS:
            raise ValueError(f"name must be one of {', '.join(self.BOARD_DACS)}, got {name!r}")
        volts = _finite_number("volts", volts, 1e-6, 10)
        self.chip.board_dac(name, volts)
        field_name, bits = self.BOARD_DACS[name]
        self.norm.p = self.norm.p.replace(**{field_name: volts / (2 ** bits if bits else 1)})

    def known(self, core: int) -> np.ndarray:
        core = self.chip.check_core(core)
        if core not in self.g_known:
            self.g_known[core] = np.full((N_LINES, N_LINES), np.nan)
        return self.g_known[core]

    # -------------------------------------------------------------- programming
    def _check_block(self, g, row0, col0, wv: WriteVerifyConfig | None, name="g"):
        g = np.asarray(g, dtype=float)
        if g.ndim != 2 or g.size == 0:
            raise ValueError(f"{name} must be a non-empty 2-D array, got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{name} contains NaN or inf")
        row0 = _check_int("row0", row0, 0, N_LINES - 1)
        col0 = _check_int("col0", col0, 0, N_LINES - 1)
        if row0 + g.shape[0] > N_LINES or col0 + g.shape[1] > N_LINES:
            raise ValueError(f"{name} of shape {g.shape} at ({row0}, {col0}) does not fit a "
                             f"{N_LINES}x{N_LINES} core")
        if wv is not None and (g.min() < wv.gmin - 1e-9 or g.max() > wv.gmax + 1e-9):
            raise ValueError(f"{name} targets must be in [gmin, gmax] = [{wv.gmin}, {wv.gmax}] µS, "
                             f"got [{g.min():.3g}, {g.max():.3g}]")
        return g, row0, col0

    def _write_verify_cell(self, core, row, col, target, wv):
        """One write-verify attempt on one cell: returns (g, pulses, reversals, timed_out)."""
        chip = self.chip
        g = chip.read_cell(core, row, col, amp_v=wv.read_v, width_ns=wv.read_width_ns)
        pulses = reversals = 0
        polarity = None
        amp = 0.0
        while abs(g - target) > wv.tol_uS:
            want = "SET" if g < target else "RESET"
            if want != polarity:
                if polarity is not None:
                    reversals += 1
                    if reversals > wv.max_reversals:
                        return g, pulses, reversals, True
                polarity = want
                amp = wv.set_v0 if want == "SET" else wv.reset_v0
            if pulses >= wv.max_pulses:
                return g, pulses, reversals, True
            chip.pulse(core, polarity, min(amp, wv.v_max), wv.width_ns)
            pulses += 1
            amp = round(amp + wv.step_v, 6)
            g = chip.read_cell(core, row, col, amp_v=wv.read_v, width_ns=wv.read_width_ns)
        return g, pulses, reversals, False

    def program_cells(self, core: int, rows, cols, targets,
                      wv: WriteVerifyConfig | None = None, *, desc: str = "write-verify") -> ProgramReport:
        """Write-verify a list of cells with iterative passes (SPEC §5).

        Parameters
        ----------
        core : int
            Target core.
        rows, cols : array of int
            Cell coordinates.
        targets : array of float
            Target conductances (µS), inside ``[wv.gmin, wv.gmax]``.
        wv : WriteVerifyConfig, optional
            Algorithm settings (the paper's defaults).

        Returns
        -------
        ProgramReport
            Per-cell pulses, final conductance and failures.
        """
        wv = (wv or WriteVerifyConfig()).validate()
        core = self.chip.check_core(core)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        targets = np.asarray(targets, dtype=float).ravel()
        if not rows.size == cols.size == targets.size:
            raise ValueError("rows, cols and targets must have the same length")
        if rows.size and (rows.min() < 0 or rows.max() >= N_LINES or cols.min() < 0 or cols.max() >= N_LINES):
            raise ValueError(f"rows and cols must be in 0..{N_LINES - 1}")
        if not np.all(np.isfinite(targets)):
            raise ValueError("targets contain NaN or inf")
        if targets.size and (targets.min() < wv.gmin or targets.max() > wv.gmax):
            raise ValueError(f"targets must be in [gmin, gmax] = [{wv.gmin}, {wv.gmax}] µS")
        n = rows.size
        rep = ProgramReport(core, rows, cols, targets, np.full(n, np.nan), np.zeros(n, np.int64),
                            np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool),
                            tol_uS=wv.tol_uS)
        todo = np.arange(n)
        for p in range(wv.passes):
            if p > 0:
                if wv.settle_ns:
                    self.chip.transport.wait_ns(wv.settle_ns)
                # iterative programming: re-measure every cell, re-program the ones outside
                for i in tqdm(range(n), desc=f"{desc} verify {p + 1}", disable=not self.progress or n < 500,
                              leave=False, mininterval=2.0):
                    rep.final[i] = self.chip.read_cell(core, rows[i], cols[i], amp_v=wv.read_v,
                                                       width_ns=wv.read_width_ns)
                rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
                todo = np.flatnonzero(~rep.ok)
                if todo.size == 0:
                    break
            rep.reprogrammed.append(int(todo.size))
            for i in tqdm(todo, desc=f"{desc} pass {p + 1}/{wv.passes}", unit="cell",
                          disable=not self.progress or todo.size < 500, leave=False, mininterval=2.0):
                g, pulses, rev, to = self._write_verify_cell(core, int(rows[i]), int(cols[i]),
                                                             float(targets[i]), wv)
                rep.final[i] = g
                rep.pulses[i] += pulses
                rep.reversals[i] = rev
                rep.timed_out[i] = to
            rep.passes = p + 1
            rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
        rep.ok_programmed = rep.ok.copy()
        if wv.final_read:
            # the conductances the chip will compute with are the relaxed ones: wait, read
            # every cell once more, and report (and normalise with) what is really there
            if wv.settle_ns:
                self.chip.transport.wait_ns(wv.settle_ns)
            for i in tqdm(range(n), desc=f"{desc} final read", disable=not self.progress or n < 500,
                          leave=False, mininterval=2.0):
                rep.final[i] = self.chip.read_cell(core, rows[i], cols[i], amp_v=wv.read_v,
                                                   width_ns=wv.read_width_ns)
            rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
        self.known(core)[rows, cols] = rep.final
        return rep

    def program_matrix(self, core: int, g, *, row0: int = 0, col0: int = 0,
                       wv: WriteVerifyConfig | None = None) -> ProgramReport:
        """Write-verify a block of conductances ``g`` (µS) at (row0, col0) of a core."""
        wv = (wv or WriteVerifyConfig()).validate()
        core = self.chip.check_core(core)
        g, row0, col0 = self._check_block(g, row0, col0, wv)
        r, c = np.meshgrid(np.arange(g.shape[0]) + row0, np.arange(g.shape[1]) + col0, indexing="ij")
        return self.program_cells(core, r, c, g, wv)

    def backdoor_load_matrix(self, core: int, g, *, row0: int = 0, col0: int = 0,
                             fill: float | None = 1.0) -> None:
        """SIMULATION ONLY: set conductances directly through the transport's backdoor.

        A real board has no backdoor; use :meth:`program_matrix`. Used for large matrices
        whose write-verify would take too long in simulation. The rest of the core is set
        to ``fill`` µS (``None`` keeps the current conductances).
        """
        core = self.chip.check_core(core)
        g, row0, col0 = self._check_block(g, row0, col0, None)
        if fill is None:
            full = np.array(self.chip.transport.backdoor_get_conductance(core), dtype=float)
        else:
            full = np.full((N_LINES, N_LINES), _finite_number("fill", fill, 0, 1000))
        full[row0:row0 + g.shape[0], col0:col0 + g.shape[1]] = g
        self.chip.transport.backdoor_set_conductance(core, full)
        self.known(core)[:] = full

    def measure(self, core: int, rows, cols, *, read_v: float = 0.2, width_ns: float = 1000.0,
                only_unknown: bool = True) -> np.ndarray:
        """Read cells through the board ADC and remember them; returns the block (µS)."""
        core = self.chip.check_core(core)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        kn = self.known(core)
        cells = [(r, c) for r in rows for c in cols if not (only_unknown and np.isfinite(kn[r, c]))]
        for r, c in tqdm(cells, desc="measure", disable=not self.progress or len(cells) < 500, leave=False, mininterval=2.0):
            kn[r, c] = self.chip.read_cell(core, int(r), int(c), amp_v=read_v, width_ns=width_ns)
        return kn[np.ix_(rows, cols)]

    # ------------------------------------------------------------------ MVM
    def _geometry(self, cfg: MvmConfig, rows, cols):
        """Validate the block and return (input file, input entries, output file, output entries)."""
        r0, nr = (_check_int("rows[0]", rows[0], 0, N_LINES - 1), _check_int("rows[1]", rows[1], 1, N_LINES))
        c0, nc = (_check_int("cols[0]", cols[0], 0, N_LINES - 1), _check_int("cols[1]", cols[1], 1, N_LINES))
        if r0 + nr > N_LINES or c0 + nc > N_LINES:
            raise ValueError(f"block rows {rows} / cols {cols} does not fit a {N_LINES}x{N_LINES} core")
        if cfg.diff and (r0 % 2 or nr % 2):
            raise ValueError(f"differential rows need an even start and count, got rows={rows}")
        return r0, nr, c0, nc

    def _gsum(self, core, cfg, r0, nr, c0, nc):
        """Sum of conductances each output line averages over (µS)."""
        kn = self.known(core)
        if cfg.direction == "BWD":
            block = kn[r0:r0 + nr, :]           # every SL is driven, every WL pulsed
            axis = 1
        else:
            block = kn[:r0 + nr, c0:c0 + nc]    # WLs 0..n_rows-1 pulsed
            axis = 0
        if not np.all(np.isfinite(block)):
            if not self.auto_measure:
                raise ValueError(f"core {core}: conductances of the lines this MVM averages over "
                                 f"are unknown; program them or call measure() first")
            # the normalisation needs every cell on the averaged lines: read the unknown
            # ones once through the board ADC (what the host would do on a real board)
            if cfg.direction == "BWD":
                self.measure(core, np.arange(r0, r0 + nr), np.arange(N_LINES))
                block = kn[r0:r0 + nr, :]
            else:
                self.measure(core, np.arange(r0 + nr), np.arange(c0, c0 + nc))
                block = kn[:r0 + nr, c0:c0 + nc]
        return block.sum(axis=axis)

    def _configure(self, core, cfg: MvmConfig, n_rows: int):
        chip = self.chip
        chip.write_fields(core, "BITS", in_bits=cfg.in_bits, out_bits=cfg.out_bits,
                          **({"split": cfg.lsb_bits, "out_bits_lsb": cfg.out_bits_lsb}
                             if cfg.is_two_phase else {}))
        chip.write_fields(core, "ROWS", n_rows=n_rows)
        chip.write_fields(core, "VREAD", code=cfg.vread)
        chip.write_fields(core, "VDECR", code=cfg.vdecr)
        chip.write_fields(core, "TIMING", wl_ns=cfg.wl_ns)
        if cfg.noise_steps:
            chip.write_fields(core, "NOISE", steps=cfg.noise_steps, vnoise=cfg.vnoise)
        chip.write_fields(core, "CTRL", mode="MVM", dir=cfg.direction, act=cfg.act,
                          stoch=int(cfg.noise_steps > 0), diff_in=int(cfg.diff and cfg.direction != "BWD"),
                          in_signed=int(cfg.signed), two_phase=int(cfg.is_two_phase))

    def expected_ns(self, cfg: MvmConfig) -> float:
        """Rough chip time of one MVM, so the first status poll usually finds it done."""
        t = self.chip.map.core["TIMING"].fields
        sample, integ = t["sample_cyc"].reset, t["integ_cyc"].reset
        cyc = 0
        for _, m, k in cfg.segments():
            cyc += 4 + m * 4 + ((1 << m) - 1) * (sample + integ + 2) + cfg.noise_steps * 2
            cyc += 6 + (k - 1) * (integ + 8)
        return cyc * self.chip.clk_ns

    def _input_codes(self, x, cfg: MvmConfig, n_in: int, start: int, stride: int):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"x must have shape (batch, {n_in}), got {np.asarray(x).shape}")
        codes = encode_inputs(x, cfg.in_bits, cfg.signed)
        full = np.zeros((x.shape[0], N_LINES), dtype=np.int64)
        zero = encode_inputs(np.zeros(1, np.int64), cfg.in_bits, cfg.signed)[0]
        full[:] = zero
        full[:, start:start + stride * n_in:stride] = codes
        return x.astype(np.int64), full

    def _jobs_prepare(self, job: _Job):
        cfg = job.cfg.validate()
        r0, nr, c0, nc = self._geometry(cfg, job.rows, job.cols)
        gsum = self._gsum(job.core, cfg, r0, nr, c0, nc)
        if cfg.direction == "BWD":
            x, codes = self._input_codes(job.x, cfg, nc, c0, 1)
            in_file, out_file, n_rows = RegFile.SL, RegFile.BL, N_LINES
        else:
            n_in = nr // 2 if cfg.diff else nr
            x, codes = self._input_codes(job.x, cfg, n_in, r0, 2 if cfg.diff else 1)
            in_file, n_rows = RegFile.BL, r0 + nr
            out_file = RegFile.SL if cfg.direction == "FWD" else RegFile.BL
        return cfg, (r0, nr, c0, nc), gsum, x, codes, in_file, out_file, n_rows

    def _decode(self, job_prep, raw):
        """raw: (batch, segments, 256) codes -> (volts, dot) for the block's outputs."""
        cfg, (r0, nr, c0, nc), gsum, *_ = job_prep
        segs = cfg.segments()
        volts = np.zeros(raw.shape[:1] + (N_LINES,))
        ratio = np.zeros(raw.shape[:1] + (N_LINES,))   # sum x G / sum G per line
        perm = neuron_of_sl(np.arange(N_LINES))
        natural = RegFile.BL if cfg.direction == "BWD" else RegFile.SL
        for si, (name, m, k) in enumerate(segs):
            v = self.norm.code_to_volts(raw[:, si], k, cfg.vdecr, cfg.act)
            if _segment_file(cfg, name) != natural:
                # written through the other switch: entry k holds neuron k's result in the
                # BL file, neuron sl^-1(j)'s in the SL file; neuron k serves BL k and SL sl(k)
                v = v[:, perm]
            weight = (1 << cfg.lsb_bits) if (name == "msb") else 1   # host shift-and-add
            volts += weight * v
            ratio += weight * v / self.norm.volts_per_dot(cfg.vread, cfg.direction, m)
        if cfg.direction == "BWD":
            lines = volts[:, r0:r0 + nr]
            dot_lines = ratio[:, r0:r0 + nr] * gsum
            if cfg.diff:
                return lines[:, 0::2] - lines[:, 1::2], dot_lines[:, 0::2] - dot_lines[:, 1::2]
            return lines, dot_lines
        return volts[:, c0:c0 + nc], ratio[:, c0:c0 + nc] * gsum

    def _run_batch(self, jobs: list[_Job], parallel: bool, desc: str | None = None):
        chip = self.chip
        if parallel and len(jobs) > 1:
            check_shared_bias({j.core: j.cfg.validate() for j in jobs})
        preps = [self._jobs_prepare(j) for j in jobs]   # validate everything first
        cores = [j.core for j in jobs]
        if len(set(cores)) != len(cores):
            raise ValueError(f"each core can run one job at a time, got cores {cores}")
        batch = preps[0][3].shape[0]
        if any(p[3].shape[0] != batch for p in preps):
            raise ValueError("all jobs of a parallel MVM need the same batch size")
        raws = [np.zeros((batch, len(p[0].segments()), N_LINES), dtype=np.int64) for p in preps]
        for j, p in zip(jobs, preps):
            self._configure(j.core, p[0], p[7])
        exp = max(self.expected_ns(p[0]) for p in preps)
        show = self.progress and desc is not None and batch * len(jobs) >= 200
        for b in tqdm(range(batch), desc=desc, unit="vec", disable=not show, leave=False, mininterval=2.0):
            for j, p in zip(jobs, preps):
                cfg = p[0]
                chip.load_rf(j.core, p[5], p[4][b], width=cfg.in_bits)
            if parallel and len(jobs) > 1:
                chip.start_parallel(cores, expected_ns=exp)
            else:
                for j in jobs:
                    chip.run(j.core, expected_ns=exp)
            for ji, (j, p) in enumerate(zip(jobs, preps)):
                cfg = p[0]
                for si, (name, _, k) in enumerate(cfg.segments()):
                    raws[ji][b, si] = chip.read_rf(j.core, _segment_file(cfg, name), width=k)
        results = []
        if self.record_codes:
            self.codes_log.extend(raws)
        for j, p, raw in zip(jobs, preps, raws):
            volts, dot = self._decode(p, raw)
            corr = self.offsets.get(self._offset_key(j))
            if corr is not None:
                dot = (dot - corr[0]) / corr[1]
            results.append(MvmResult(raw, volts, dot, p[0], j.core))
        return results

    @staticmethod
    def _offset_key(job: _Job):
        return (job.core, tuple(job.rows), tuple(job.cols), job.cfg.direction)

    def mvm(self, core: int, x, cfg: MvmConfig | None = None, *, rows=(0, N_LINES),
            cols=(0, N_LINES), desc: str | None = "mvm") -> MvmResult:
        """Batched MVM on one core.

        Parameters
        ----------
        core : int
            Core holding the weights.
        x : array (batch, n_in) of int
            Integer inputs within ``cfg.in_bits`` (FWD/REC: ``n_in`` = rows[1]/2 with
            differential rows, else rows[1]; BWD: ``n_in`` = cols[1]).
        cfg : MvmConfig
            Bit widths, direction, operating point.
        rows, cols : (start, count)
            The weight block on the core.

        Returns
        -------
        MvmResult
        """
        cfg = (cfg or MvmConfig()).validate()
        core = self.chip.check_core(core)
        return self._run_batch([_Job(core, x, cfg, tuple(rows), tuple(cols))], False, desc)[0]

    def mvm_parallel(self, jobs: list[tuple], *, desc: str | None = "parallel mvm") -> list[MvmResult]:
        """Multi-core parallel MVM: every vector is started on all cores in the same cycle.

        Parameters
        ----------
        jobs : list of (core, x, cfg, rows, cols)
            One entry per core (distinct cores, same batch size).
        """
        js = []
        for j in jobs:
            core, x, cfg, rows, cols = j
            js.append(_Job(self.chip.check_core(core), x, (cfg or MvmConfig()).validate(),
                           tuple(rows), tuple(cols)))
        return self._run_batch(js, True, desc)

    # ------------------------------------------------------------ calibration
    def ideal_dot(self, core: int, x, cfg: MvmConfig, rows, cols) -> np.ndarray:
        """The float product the MVM approximates, from the host's conductance knowledge."""
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        g = self.known(core)[r0:r0 + nr, c0:c0 + nc]
        if cfg.diff:
            g = g[0::2] - g[1::2]
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return x @ g.T if cfg.direction == "BWD" else x @ g

    def operating_point(self, core: int, x, cfg: MvmConfig, *, rows=(0, N_LINES),
                        cols=(0, N_LINES), percentile: float = 99.5) -> tuple[int, int, float]:
        """Model-only operating point: (vread, vdecr, signal amplitude) for inputs ``x``.

        From the host's conductance knowledge, predict each output line's weighted
        average ``sum x G / sum G`` for the inputs; take the largest Vread that keeps the
        ``percentile`` of the integrated signal inside 80% of the integrator headroom (and
        under the read-disturb limit), and the Vdecr whose full scale covers it. No MVM
        is run; :meth:`calibrate` refines this point on the chip.
        """
        cfg = cfg.validate()
        core = self.chip.check_core(core)
        x = np.atleast_2d(np.asarray(x, dtype=float))
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        gsum = self._gsum(core, cfg, r0, nr, c0, nc)
        kn = self.known(core)[r0:r0 + nr, c0:c0 + nc]
        if cfg.direction == "BWD":
            ratio = x @ kn.T / gsum
        else:
            xs = x
            if cfg.diff:
                xs = np.zeros((x.shape[0], nr))
                xs[:, 0::2], xs[:, 1::2] = x, -x
            ratio = xs @ kn / gsum
        seg_scale = (1 << cfg.lsb_bits) if cfg.is_two_phase else 1
        planes = cfg.segments()[0][1]
        amp = max(float(np.percentile(np.abs(ratio), percentile)) / seg_scale, 1e-9)
        p = self.norm.p
        per_v = self.norm.volts_per_dot(1, cfg.direction, planes) / p.vread_volts(1)
        vmax = min(p.vread_max, 0.8 * p.integ_headroom / max(per_v * amp, 1e-12))
        vr = int(np.clip(p.vread_code(vmax), 1, 255))
        v_sig = self.norm.volts_per_dot(vr, cfg.direction, planes) * amp
        vd = int(np.clip(round(v_sig / (2 * p.gain) / p.vdecr_lsb), 1, 4095))
        return vr, vd, amp

    def calibrate(self, core: int, x_calib, cfg: MvmConfig, *, rows=(0, N_LINES), cols=(0, N_LINES),
                  vread_codes=None, vdecr_factors=(0.7, 1.0, 1.4),
                  percentile: float = 99.5, record_offsets: bool = True,
                  fit_gain: bool = True) -> Calibration:
        """Model-driven calibration of one layer's operating point (SPEC §8a).

        The model (host conductance knowledge) predicts the integrated voltages of the
        calibration inputs; the starting point takes the largest Vread that keeps them
        inside the integrator headroom and the Vdecr whose full scale covers the
        ``percentile`` of them. A small grid around it is then measured on the chip and
        the point with the lowest RMSE against the model wins; per-output mean errors
        there are recorded as ADC offsets and cancelled in later MVMs of this block.
        With ``fit_gain`` a single gain of the block (the least-squares slope of measured
        against model, i.e. what IR drop and charge sharing leave of the normalisation)
        is recorded and divided out as well (our addition to the paper's offsets).

        Returns
        -------
        Calibration
        """
        cfg = cfg.validate()
        core = self.chip.check_core(core)
        x_calib = np.atleast_2d(np.asarray(x_calib))
        if x_calib.shape[0] < 2:
            raise ValueError("x_calib needs at least 2 calibration vectors")
        _finite_number("percentile", percentile, 50, 100)
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        gsum = self._gsum(core, cfg, r0, nr, c0, nc)
        ideal = self.ideal_dot(core, x_calib, cfg, rows, cols)
        p = self.norm.p
        vr0, vd0, amp = self.operating_point(core, x_calib, cfg, rows=rows, cols=cols,
                                             percentile=percentile)
        planes = cfg.segments()[0][1]
        if vread_codes is None:
            vread_codes = sorted({vr0, max(1, int(vr0 * 0.7))})
        grid = []
        best = None
        for vr in vread_codes:
            _check_int("vread", vr, 1, 255)
            v_sig = self.norm.volts_per_dot(vr, cfg.direction, planes) * amp
            # full scale of a k-bit conversion is ~2 * gain * vdecr
            vd0 = v_sig / (2 * p.gain) / p.vdecr_lsb
            for f in vdecr_factors:
                vd = int(np.clip(round(vd0 * f), 1, 4095))
                c = cfg.replace(vread=vr, vdecr=vd)
                key = (core, tuple(rows), tuple(cols), cfg.direction)
                self.offsets.pop(key, None)
                res = self.mvm(core, x_calib, c, rows=rows, cols=cols, desc=None)
                gain = 1.0
                if fit_gain:
                    dm = res.dot - res.dot.mean(axis=0)
                    di = ideal - ideal.mean(axis=0)
                    den = float(np.sum(di * di))
                    gain = float(np.sum(dm * di) / den) if den > 0 else 1.0
                    if not np.isfinite(gain) or gain <= 0.05:
                        gain = 1.0
                err = res.dot - gain * ideal
                off = err.mean(axis=0) if record_offsets else np.zeros(err.shape[1])
                rmse = float(np.sqrt(np.mean(((res.dot - off) / gain - ideal) ** 2)))
                k = c.out_bits
                out_lines = slice(r0, r0 + nr) if cfg.direction == "BWD" else slice(c0, c0 + nc)
                mags = res.codes[:, 0, out_lines] & ((1 << (k - 1)) - 1) if k > 1 else np.zeros(1)
                clip = float(np.mean(mags == (1 << (k - 1)) - 1)) if k > 1 else 0.0
                grid.append((vr, vd, rmse))
                if best is None or rmse < best[2]:
                    best = (vr, vd, rmse, off, clip, gain)
        vr, vd, rmse, off, clip, gain = best
        key = (core, tuple(rows), tuple(cols), cfg.direction)
        if record_offsets or fit_gain:
            self.offsets[key] = (off, gain)
        return Calibration(vr, vd, off, gain, rmse, grid, clip)

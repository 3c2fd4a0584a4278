"""The RRAM programming algorithm: incremental-pulse write-verify and iterative passes
(paper, Methods; SPEC §5), vectorised over cells.

One algorithm for every way of reaching the cells: the firmware runs it through the chip
(``firmware.programming``: one SPI READ / SET / RESET operation per step and cell), and
code that programs a device model directly (:func:`analog_models.write_verify`,
:mod:`analog_models.fidelity`, the batched backends) runs it on
:class:`~analog_models.device.RRAMDevice` arrays. Both go through a :class:`CellAccess`:

* ``read(cells)`` - board-ADC conductances (µS) of the given cells;
* ``pulse(cells, polarity, amp_v)`` - one SET (+1) or RESET (-1) pulse per cell, of the
  given amplitudes and ``config.width_ns``;
* ``settle()`` - let the chip time pass over which freshly programmed cells relax.

``cells`` are indices into the caller's list of cells (numpy int arrays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from rtl.contract.constants import PROG_AMP_LSB_V
from rtl.contract.registers import CORE

__all__ = ["CellAccess", "PassesResult", "WriteVerifyConfig", "WriteVerifyResult",
           "program_passes", "write_verify_cells"]

_PROG_AMP_MAX_V = CORE.reg("PROG").field("amp").max * PROG_AMP_LSB_V


def _finite(name, v, lo, hi) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v!r}")
    return float(v)


def _int(name, v, lo, hi) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {lo}..{hi}, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {v!r}")
    return int(v)


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
        Cap on pulses per cell and pass, so a stuck cell never stalls programming (the
        paper gives no cap; 200 is far above its 8.5 pulses per cell).
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
            _finite(name, getattr(self, name), PROG_AMP_LSB_V, _PROG_AMP_MAX_V)
        _finite("width_ns", self.width_ns, 10, 655350)
        _finite("read_width_ns", self.read_width_ns, 10, 655350)
        _finite("tol_uS", self.tol_uS, 1e-3, 100)
        _finite("settle_ns", self.settle_ns, 0, 1e12)
        _int("max_reversals", self.max_reversals, 0, 10000)
        _int("max_pulses", self.max_pulses, 1, 100000)
        _int("passes", self.passes, 1, 100)
        _finite("gmin", self.gmin, 0, 1000)
        _finite("gmax", self.gmax, 0, 1000)
        if not self.gmin < self.gmax:
            raise ValueError(f"gmin must be < gmax, got {self.gmin} >= {self.gmax}")
        return self

    def amplitudes(self, polarity: np.ndarray, ramp: np.ndarray) -> np.ndarray:
        """Amplitude (V) of the ``ramp``-th pulse (0 = first) of a SET (+1) / RESET (-1)
        ramp: the start voltage plus ``ramp`` steps, at most ``v_max``, on the 10 mV grid
        of the programming DAC."""
        v = np.where(polarity > 0, self.set_v0, self.reset_v0) + ramp * self.step_v
        return np.round(np.minimum(v, self.v_max) / PROG_AMP_LSB_V) * PROG_AMP_LSB_V


class CellAccess(Protocol):
    """How the algorithm reaches the cells (see the module docstring)."""

    def read(self, cells: np.ndarray) -> np.ndarray: ...
    def pulse(self, cells: np.ndarray, polarity: np.ndarray, amp_v: np.ndarray) -> None: ...
    def settle(self) -> None: ...


@dataclass
class WriteVerifyResult:
    """Per-cell outcome of one write-verify pass."""

    g: np.ndarray            #: last read (µS)
    pulses: np.ndarray       #: SET / RESET pulses applied
    reversals: np.ndarray    #: polarity reversals
    timed_out: np.ndarray    #: stopped by ``max_reversals`` or ``max_pulses``
    ok: np.ndarray           #: last read inside the window


def write_verify_cells(access: CellAccess, targets, config: WriteVerifyConfig,
                       cells: np.ndarray | None = None) -> WriteVerifyResult:
    """One write-verify pass on ``cells`` (default: all) with targets ``targets[cells]``.

    Per cell: read; while outside ``±tol_uS``: pulse towards the target (SET when below,
    RESET when above), the amplitude rising by ``step_v`` per pulse of the same polarity
    and restarting at the polarity's start voltage on every reversal; read after every
    pulse. Stop inside the window, after ``max_reversals`` reversals or ``max_pulses``
    pulses. Every cell still outside the window steps once per iteration, all together.
    """
    t_all = np.asarray(targets, dtype=float)
    cells = np.arange(t_all.size) if cells is None else np.asarray(cells, dtype=np.int64)
    t = t_all[cells]
    n = cells.size
    g = np.asarray(access.read(cells), dtype=float).copy()
    pulses = np.zeros(n, np.int64)
    reversals = np.zeros(n, np.int64)
    polarity = np.zeros(n, np.int8)      # 0 none yet, +1 SET, -1 RESET
    ramp = np.zeros(n, np.int64)
    timed_out = np.zeros(n, bool)
    active = np.abs(g - t) > config.tol_uS
    while active.any():
        ai = np.flatnonzero(active)
        want = np.where(g[ai] < t[ai], 1, -1).astype(np.int8)
        flip = (polarity[ai] != 0) & (want != polarity[ai])
        reversals[ai[flip]] += 1
        stop = (reversals[ai] > config.max_reversals) | (pulses[ai] >= config.max_pulses)
        timed_out[ai[stop]] = True
        active[ai[stop]] = False
        ai, want, flip = ai[~stop], want[~stop], flip[~stop]
        if not ai.size:
            break
        ramp[ai] = np.where(flip | (polarity[ai] == 0), 0, ramp[ai] + 1)
        polarity[ai] = want
        access.pulse(cells[ai], want, config.amplitudes(want, ramp[ai]))
        pulses[ai] += 1
        g[ai] = access.read(cells[ai])
        active[ai] = np.abs(g[ai] - t[ai]) > config.tol_uS
    return WriteVerifyResult(g, pulses, reversals, timed_out, np.abs(g - t) <= config.tol_uS)


@dataclass
class PassesResult:
    """Outcome of iterative programming (:func:`program_passes`), per cell."""

    g: np.ndarray                      #: last read of every cell (µS)
    pulses: np.ndarray                 #: SET / RESET pulses, all passes
    reversals: np.ndarray              #: reversals in the last pass that touched the cell
    timed_out: np.ndarray              #: the last write-verify of the cell timed out
    ok: np.ndarray                     #: last read inside the window
    ok_programmed: np.ndarray          #: inside the window at the end of the last pass
    reprogrammed: list = field(default_factory=list)   #: cells write-verified per pass
    first: WriteVerifyResult | None = None             #: the first pass (all cells)

    @property
    def passes(self) -> int:
        return len(self.reprogrammed)


def program_passes(access: CellAccess, targets, config: WriteVerifyConfig, *,
                   on_settled: Callable[[int], None] | None = None,
                   run_pass: Callable | None = None) -> PassesResult:
    """Iterative programming: write-verify every cell; then ``passes - 1`` times let the
    cells settle, re-read every cell and write-verify again those outside the window;
    with ``final_read`` settle once more and read every cell.

    ``on_settled(k)`` is called after the settling that follows pass ``k``. ``run_pass``
    replaces :func:`write_verify_cells` (same arguments), e.g. to run it cell by cell.
    """
    config.validate()
    run_pass = run_pass or write_verify_cells
    t = np.asarray(targets, dtype=float).ravel()
    n = t.size
    g = np.full(n, np.nan)
    pulses = np.zeros(n, np.int64)
    reversals = np.zeros(n, np.int64)
    timed_out = np.zeros(n, bool)
    out = PassesResult(g, pulses, reversals, timed_out, np.zeros(n, bool), np.zeros(n, bool))
    todo = np.arange(n)
    for p in range(config.passes):
        if p > 0:
            access.settle()
            if on_settled:
                on_settled(p - 1)
            g[:] = access.read(np.arange(n))
            todo = np.flatnonzero(np.abs(g - t) > config.tol_uS)
            if not todo.size:
                break
        out.reprogrammed.append(int(todo.size))
        r = run_pass(access, t, config, todo)
        if p == 0:
            out.first = r
        g[todo] = r.g
        pulses[todo] += r.pulses
        reversals[todo] = r.reversals
        timed_out[todo] = r.timed_out
    out.ok_programmed = np.abs(g - t) <= config.tol_uS
    if config.final_read or on_settled:
        access.settle()
        if on_settled:
            on_settled(out.passes - 1)
    if config.final_read:
        g[:] = access.read(np.arange(n))
    out.ok = np.abs(g - t) <= config.tol_uS
    return out

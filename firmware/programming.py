"""Programming through the chip: write-verify and iterative passes over SPI (SPEC §5).

The algorithm is :mod:`analog_models.programming` (the same one that programs device
models directly); this module reaches the cells through the chip, one READ / SET / RESET
operation at a time (:class:`_ChipCells`), and reports per cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analog_models.programming import WriteVerifyConfig, program_passes, write_verify_cells
from firmware.lowlevel import N_LINES, Chip, _check_int
from firmware.progress import progress
from firmware.validation import finite_number as _finite_number

__all__ = ["ProgramReport", "ProgrammingOps", "WriteVerifyConfig"]


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



class _ChipCells:
    """The cells ``(rows[i], cols[i])`` of one core, reached through the chip.

    Write-verify runs cell by cell (:meth:`one_by_one`): consecutive operations then hit
    the same cell, whose selection the driver's register shadow does not resend.
    """

    def __init__(self, chip: Chip, core: int, rows, cols, wv: WriteVerifyConfig, *,
                 progress: bool, desc: str):
        self.chip, self.core, self.rows, self.cols, self.wv = chip, core, rows, cols, wv
        self.show, self.desc = progress, desc
        self.n_pass = 0

    def read(self, cells) -> np.ndarray:
        many = len(cells) > 1
        it = progress(cells, desc=f"{self.desc} read" if many else None, enabled=self.show)
        return np.array([self.chip.read_cell(self.core, int(self.rows[i]), int(self.cols[i]),
                                             amp_v=self.wv.read_v, width_ns=self.wv.read_width_ns)
                         for i in it], dtype=float)

    def pulse(self, cells, polarity, amp_v) -> None:
        for i, pol, amp in zip(cells, polarity, amp_v):
            self.chip.select_cell(self.core, int(self.rows[i]), int(self.cols[i]))
            self.chip.pulse(self.core, "SET" if pol > 0 else "RESET", float(amp), self.wv.width_ns)

    def settle(self) -> None:
        if self.wv.settle_ns:
            self.chip.transport.wait_ns(self.wv.settle_ns)

    def one_by_one(self, access, targets, wv, cells):
        """:func:`write_verify_cells` on one cell after the other."""
        self.n_pass += 1
        desc = f"{self.desc} pass {self.n_pass}/{wv.passes}"
        parts = [write_verify_cells(access, targets, wv, np.array([i]))
                 for i in progress(cells, desc=desc, enabled=self.show, unit="cell")]
        if not parts:
            return write_verify_cells(access, targets, wv, np.zeros(0, np.int64))
        first = parts[0]
        return type(first)(*(np.concatenate([getattr(p, f) for p in parts])
                             for f in ("g", "pulses", "reversals", "timed_out", "ok")))


class ProgrammingOps:
    """Programming methods of :class:`firmware.midlevel.MidLevel`."""

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

    def _cell_access(self, core: int, rows, cols, wv: WriteVerifyConfig, desc: str):
        """How write-verify reaches the cells: (CellAccess, pass runner). Through the
        chip, one cell after the other; a batched backend returns direct, vectorised access."""
        access = _ChipCells(self.chip, core, rows, cols, wv, progress=self.progress, desc=desc)
        return access, access.one_by_one

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
        if wv is not None and not isinstance(wv, WriteVerifyConfig):
            raise TypeError(f"wv must be a WriteVerifyConfig, got {wv!r}")
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
        access, run_pass = self._cell_access(core, rows, cols, wv, desc)
        res = program_passes(access, targets, wv, run_pass=run_pass)
        rep = ProgramReport(core, rows, cols, targets, res.g, res.pulses, res.reversals, res.ok,
                            res.timed_out, passes=res.passes, reprogrammed=res.reprogrammed,
                            tol_uS=wv.tol_uS, ok_programmed=res.ok_programmed)
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
        for r, c in progress(cells, desc="measure", enabled=self.progress):
            kn[r, c] = self.chip.read_cell(core, int(r), int(c), amp_v=read_v, width_ns=width_ns)
        return kn[np.ix_(rows, cols)]

    # ------------------------------------------------------------------ MVM

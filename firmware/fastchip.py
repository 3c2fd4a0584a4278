"""Batched multi-core chip backend: the mid-level API straight on the analog models.

:class:`FastChip` is a :class:`firmware.midlevel.MidLevel` whose chip is not reached
through SPI frames but through the cores' analog models themselves: every core's MVMs of
a whole batch run in one call of the vectorised :meth:`analog_models.CoreModel.mvm`, and
programming is the write-verify algorithm vectorised over cells
(:meth:`analog_models.CoreModel.write_verify`). Everything the host computes
(normalisation, conductance knowledge, operating points, calibration and its offsets) is
inherited unchanged, so ``Deployment(FastChip(...))`` runs any network the frame-level
path runs:

>>> chip = FastChip(n_cores=48, seed=0)                              # doctest: +SKIP
>>> net = Deployment(chip)
>>> net.add_conv("conv1", K, b, padding=1, input_hw=(28, 28)); net.place()
>>> net.program("write-verify"); y = net.run("conv1", images)

What makes it exact (docs/fastchip.md): the cores are made by
:func:`analog_models.cores.make_core_models` with the golden model's seeds; an MVM job is
turned into the controller configuration the mid level's register writes would set and
the register-file entries it would load; the vectorised MVM consumes each core's noise
streams in the order of the event path (vector-major); the stochastic mode takes its
NOISE-step bits from a per-core LFSR that runs on from one MVM to the next exactly as the
controller's (:class:`rtl.lfsr.LfsrModel`); relaxation happens where the chip lets time
pass (a host wait of at least :data:`analog_models.cores.RELAX_WAIT_NS`, and the start
of every MVM). For the same seed its output codes therefore equal the golden model's
(``MidLevel`` over ``cosim.transport.GoldenTransport``) bit for bit; the tests check it.

What it skips: SPI frames, register files and the controller's event-by-event
sequencing, i.e. everything that costs time without changing a code.
"""

from __future__ import annotations

import numpy as np

from analog_models.config import CoreConfig
from analog_models.cores import RELAX_WAIT_NS, make_core_models
from analog_models.core import CoreModel
from analog_models.params import AnalogParams
from firmware.lowlevel import N_LINES, _check_int
from firmware.midlevel import (MidLevel, MvmConfig, MvmResult, Normaliser, ProgramReport,
                               WriteVerifyConfig, _finite_number)
from rtl.analog_bus import Activation, Direction, Mode
from rtl.lfsr import LfsrModel

__all__ = ["FastChip", "core_config"]

_DIRECTION = {"FWD": int(Direction.FWD), "BWD": int(Direction.BWD), "REC": int(Direction.REC)}


def core_config(cfg: MvmConfig, n_rows: int) -> CoreConfig:
    """The controller configuration the mid level's register writes set for ``cfg``.

    Mirrors :meth:`MidLevel._configure` field by field (BITS, ROWS, VREAD, VDECR, TIMING,
    NOISE, CTRL); fields it does not write keep their reset values, which the MVM does
    not read.
    """
    two = cfg.is_two_phase
    return CoreConfig(
        mode=int(Mode.MVM), dir=_DIRECTION[cfg.direction], act=int(Activation[cfg.act]),
        stoch=int(cfg.noise_steps > 0), diff_in=int(cfg.diff and cfg.direction != "BWD"),
        in_signed=int(cfg.signed), two_phase=int(two), in_bits=cfg.in_bits,
        out_bits=cfg.out_bits, **({"split": cfg.lsb_bits, "out_bits_lsb": cfg.out_bits_lsb} if two else {}),
        n_rows=int(n_rows), vread=cfg.vread, vdecr=cfg.vdecr, wl_ns=cfg.wl_ns,
        noise_steps=cfg.noise_steps, vnoise=cfg.vnoise)


class _Cores:
    """The chip as :class:`MidLevel` sees it when there is no frame-level driver below:
    the number of cores, core-index checks and the board DACs (mapped onto the cores'
    analog parameters as the board does)."""

    def __init__(self, models: list):
        self.models = models
        self.n_cores = len(models)

    def check_core(self, core, *, broadcast: bool = False) -> int:
        return _check_int("core", core, 0, self.n_cores - 1)

    def board_dac(self, name: str, volts: float) -> None:
        field_name, bits = MidLevel.BOARD_DACS[name]
        value = float(volts) / (2 ** bits if bits else 1)
        for m in self.models:
            m.set_params(m.p.replace(**{field_name: value}))


class FastChip(MidLevel):
    """The mid-level API (programming, MVM, calibration) on a batched chip model.

    Parameters
    ----------
    n_cores : int
        Cores of the chip, 1..48.
    params : AnalogParams, optional
        Analog parameters of every core (default: the calibrated ones, every
        non-ideality on).
    seed : int
        Chip seed; core ``i`` is seeded exactly as in the golden model and the
        cosimulation (:func:`analog_models.cores.core_seed`).
    host_params : AnalogParams, optional
        What the host assumes for normalisation (:class:`firmware.midlevel.Normaliser`);
        default ``params``, as when the same parameters are given to the golden chip
        and to its ``MidLevel``.
    progress : bool
        Accepted for API compatibility with :class:`MidLevel`; the backend is fast
        enough not to show progress bars.

    Attributes
    ----------
    models : list of analog_models.CoreModel
        The cores (their ``G`` is the true conductance, the backdoor of a simulation).
    time_ns : float
        Host waits so far (chip time spent in MVMs is not counted).
    """

    def __init__(self, n_cores: int = 48, params: AnalogParams | None = None, seed: int = 0, *,
                 host_params: AnalogParams | None = None, progress: bool = False):
        n_cores = _check_int("n_cores", n_cores, 1, 48)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be a non-negative int, got {seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        for name, p in (("params", params), ("host_params", host_params)):
            if p is not None and not isinstance(p, AnalogParams):
                raise TypeError(f"{name} must be an analog_models.params.AnalogParams, got {p!r}")
        params = params if params is not None else AnalogParams()
        self.params = params
        self.seed = int(seed)
        self.models: list[CoreModel] = make_core_models(n_cores, params, self.seed)
        self.chip = _Cores(self.models)
        # The host's state, as MidLevel keeps it (only the chip below differs).
        self.norm = Normaliser(host_params if host_params is not None else params)
        self.progress = bool(progress)
        self.g_known: dict[int, np.ndarray] = {}
        self.offsets: dict[tuple, tuple] = {}
        self.record_codes = False
        self.codes_log: list[np.ndarray] = []
        self.auto_measure = True
        # Each core's controller holds its LFSR from reset on (seeded by the register
        # reset values); it runs on across MVMs until reloaded.
        self.lfsr = [LfsrModel() for _ in range(n_cores)]
        self.time_ns = 0.0

    # ------------------------------------------------------------------ chip time
    def wait_ns(self, ns: float) -> None:
        """Let chip time pass; a wait of at least 1 ms relaxes freshly programmed cells
        (as the golden model and the cosimulation harness do)."""
        ns = _finite_number("ns", ns, 0, None)
        self.time_ns += ns
        if ns >= RELAX_WAIT_NS:
            for m in self.models:
                m.elapse()

    def seed_lfsr(self, core: int, seed_a: int, seed_b: int) -> None:
        """Load a core's two LFSR chains (CMD.lfsr_load; a zero seed is refused as by
        :meth:`firmware.lowlevel.Chip.seed_lfsr`)."""
        core = self.chip.check_core(core)
        self.lfsr[core].load(_check_int("seed_a", seed_a, 1, 0xFFFF),
                             _check_int("seed_b", seed_b, 1, 0xFFFF))

    def _lfsr_bits(self, core: int, n_steps: int) -> np.ndarray:
        """The next ``n_steps`` NOISE-step bits of a core's LFSR (neuron-indexed)."""
        lfsr = self.lfsr[core]
        out = np.empty((n_steps, N_LINES), dtype=bool)
        for t in range(n_steps):
            out[t] = lfsr.noise()
            lfsr.advance()
        return out

    # ------------------------------------------------------------------ backdoor
    def conductance(self, core: int) -> np.ndarray:
        """SIMULATION ONLY: a copy of a core's true conductances (µS)."""
        return np.array(self.models[self.chip.check_core(core)].G, dtype=float)

    def backdoor_load_matrix(self, core: int, g, *, row0: int = 0, col0: int = 0,
                             fill: float | None = 1.0) -> None:
        """SIMULATION ONLY: set conductances directly (see :meth:`MidLevel.backdoor_load_matrix`)."""
        core = self.chip.check_core(core)
        g, row0, col0 = self._check_block(g, row0, col0, None)
        if fill is None:
            full = self.conductance(core)
        else:
            full = np.full((N_LINES, N_LINES), _finite_number("fill", fill, 0, 1000))
        full[row0:row0 + g.shape[0], col0:col0 + g.shape[1]] = g
        self.models[core].G = full
        self.known(core)[:] = full

    # --------------------------------------------------------------- programming
    def _read(self, core: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Board-ADC reads of cells (rows[i], cols[i]), in this order."""
        return self.models[core].device.read((rows, cols))

    def measure(self, core: int, rows, cols, *, read_v: float = 0.2, width_ns: float = 1000.0,
                only_unknown: bool = True) -> np.ndarray:
        """Read cells through the board ADC and remember them (see :meth:`MidLevel.measure`)."""
        core = self.chip.check_core(core)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= N_LINES):
            raise ValueError(f"rows must be in 0..{N_LINES - 1}, got {rows.min()}..{rows.max()}")
        if cols.size and (cols.min() < 0 or cols.max() >= N_LINES):
            raise ValueError(f"cols must be in 0..{N_LINES - 1}, got {cols.min()}..{cols.max()}")
        kn = self.known(core)
        r, c = np.repeat(rows, cols.size), np.tile(cols, rows.size)   # row-major, as MidLevel
        if only_unknown:
            todo = ~np.isfinite(kn[r, c])
            r, c = r[todo], c[todo]
        if r.size:
            kn[r, c] = self._read(core, r, c)
        return kn[np.ix_(rows, cols)]

    def program_cells(self, core: int, rows, cols, targets,
                      wv: WriteVerifyConfig | None = None, *, desc: str = "write-verify") -> ProgramReport:
        """Write-verify a list of cells with iterative passes (SPEC §5), vectorised.

        Same passes, waits, final read and report as :meth:`MidLevel.program_cells`; each
        pass programs all its cells at once through the one write-verify algorithm
        (:meth:`analog_models.CoreModel.write_verify`).
        """
        if wv is not None and not isinstance(wv, WriteVerifyConfig):
            raise TypeError(f"wv must be a WriteVerifyConfig, got {wv!r}")
        wv = (wv or WriteVerifyConfig()).validate()
        core = self.chip.check_core(core)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        targets = np.asarray(targets, dtype=float).ravel()
        if not rows.size == cols.size == targets.size:
            raise ValueError(f"rows, cols and targets must have the same length, got "
                             f"{rows.size}, {cols.size}, {targets.size}")
        for name, a in (("rows", rows), ("cols", cols)):
            if a.size and (a.min() < 0 or a.max() >= N_LINES):
                raise ValueError(f"{name} must be in 0..{N_LINES - 1}, got {a.min()}..{a.max()}")
        if not np.all(np.isfinite(targets)):
            raise ValueError("targets contain NaN or inf")
        if targets.size and (targets.min() < wv.gmin or targets.max() > wv.gmax):
            raise ValueError(f"targets must be in [gmin, gmax] = [{wv.gmin}, {wv.gmax}] µS, "
                             f"got [{targets.min():.4g}, {targets.max():.4g}]")
        model = self.models[core]
        n = rows.size
        rep = ProgramReport(core, rows, cols, targets, np.full(n, np.nan), np.zeros(n, np.int64),
                            np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool),
                            tol_uS=wv.tol_uS)
        todo = np.arange(n)
        for p in range(wv.passes):
            if p > 0:
                self.wait_ns(wv.settle_ns)
                rep.final[:] = self._read(core, rows, cols)
                rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
                todo = np.flatnonzero(~rep.ok)
                if todo.size == 0:
                    break
            rep.reprogrammed.append(int(todo.size))
            if todo.size:
                res = model.write_verify(
                    targets[todo], (rows[todo], cols[todo]), v_set0=wv.set_v0,
                    v_reset0=wv.reset_v0, v_step=wv.step_v, v_max=wv.v_max, width_ns=wv.width_ns,
                    tol=wv.tol_uS, max_reversals=wv.max_reversals, max_pulses=wv.max_pulses)
                rep.final[todo] = res["final"]
                rep.pulses[todo] += res["pulses"]
                rep.reversals[todo] = res["reversals"]
                rep.timed_out[todo] = ~res["success"]
            rep.passes = p + 1
            rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
        rep.ok_programmed = rep.ok.copy()
        if wv.final_read:
            self.wait_ns(wv.settle_ns)
            rep.final[:] = self._read(core, rows, cols)
            rep.ok = np.abs(rep.final - targets) <= wv.tol_uS
        self.known(core)[rows, cols] = rep.final
        return rep

    # ----------------------------------------------------------------------- MVM
    def _run_batch(self, jobs, parallel: bool, desc: str | None = None):
        """Every job's whole batch in one vectorised MVM of its core.

        The cores of a parallel MVM are independent analog models (own arrays, neurons
        and noise streams), so running them one after the other gives the codes of a
        simultaneous start.
        """
        preps = [self._jobs_prepare(j) for j in jobs]   # validate everything first
        cores = [j.core for j in jobs]
        if len(set(cores)) != len(cores):
            raise ValueError(f"each core can run one job at a time, got cores {cores}")
        batch = preps[0][3].shape[0]
        if any(p[3].shape[0] != batch for p in preps):
            raise ValueError("all jobs of a parallel MVM need the same batch size")
        results, raws = [], []
        for j, p in zip(jobs, preps):
            cfg, entries, n_rows = p[0], p[4], p[7]
            ccfg = core_config(cfg, n_rows)
            segs = cfg.segments()
            noise = (self._lfsr_bits(j.core, batch * len(segs) * cfg.noise_steps)
                     if cfg.noise_steps else None)
            out = self.models[j.core].mvm(entries, ccfg, noise_bits=noise)
            out = out if ccfg.two_phase else (out,)
            raw = np.empty((batch, len(segs), N_LINES), dtype=np.int64)
            # Each segment's codes come back in the entry order of the file they land in
            # (analog_models.config.route), the file the mid level reads them from.
            for si in range(len(segs)):
                raw[:, si] = out[si]
            raws.append(raw)
        if self.record_codes:
            self.codes_log.extend(raws)
        for j, p, raw in zip(jobs, preps, raws):
            volts, dot = self._decode(p, raw)
            corr = self.offsets.get(self._offset_key(j))
            if corr is not None:
                dot = (dot - corr[0]) / corr[1]
            results.append(MvmResult(raw, volts, dot, p[0], j.core))
        return results

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

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from analog_models.config import NEURON_SL
from analog_models.cores import RELAX_WAIT_NS, make_core_models
from analog_models.core import CoreModel
from analog_models.device import DeviceCells
from analog_models.params import AnalogParams
from firmware.lowlevel import N_LINES, _check_int, encode_inputs
from firmware.midlevel import MidLevel, MvmConfig, MvmResult, WriteVerifyConfig, neuron_of_sl
from firmware.mvm import _Job
from firmware.validation import finite_number as _finite_number
from rtl.contract.constants import N_CORES, SL_FILE
from rtl.lfsr_model import LfsrModel

__all__ = ["FastChip"]

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
    sparse : bool
        Simulate only the neurons whose outputs the host reads (the block's columns,
        or rows backward); their codes are exactly those of a full simulation. The
        entries of the other neurons read back as -1 (and codes are int16).
        ``False`` simulates all 256.
    threads : int, optional
        Threads that run the cores of a parallel MVM side by side (default: the CPU
        count); the codes do not depend on it.
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

    def __init__(self, n_cores: int = N_CORES, params: AnalogParams | None = None, seed: int = 0, *,
                 host_params: AnalogParams | None = None, sparse: bool = True,
                 threads: int | None = None, progress: bool = False):
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
        self.sparse = bool(sparse)
        self.threads = _check_int("threads", threads if threads is not None else (os.cpu_count() or 1), 1, 64)
        self._executor = None
        self.models: list[CoreModel] = make_core_models(n_cores, params, self.seed)
        self.chip = _Cores(self.models)
        self._init_host(host_params if host_params is not None else params, progress)
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

    # MidLevel.program_cells runs the same passes, waits and final read; here each pass
    # pulses all its cells at once (the one write-verify algorithm, vectorised over cells).
    def _cell_access(self, core: int, rows, cols, wv: WriteVerifyConfig, desc: str):
        return _ModelCells(self, core, rows, cols, wv), None

    # ----------------------------------------------------------------------- MVM
    @staticmethod
    def _outputs(cfg: MvmConfig, block) -> np.ndarray:
        """Neurons whose results the host reads: those of the block's SLs forward and
        recurrent (SL j is served by neuron_of_sl(j)), of its BLs backward (BL k by
        neuron k), whichever file each segment's codes land in."""
        r0, nr, c0, nc = block
        if cfg.direction == "BWD":
            return np.arange(r0, r0 + nr)
        return neuron_of_sl(np.arange(c0, c0 + nc))

    def _run_batch(self, jobs, parallel: bool, desc: str | None = None):
        """Every job's whole batch in one vectorised MVM of its core.

        The cores of a parallel MVM are independent analog models (own arrays, neurons
        and noise streams), so running them one after the other gives the codes of a
        simultaneous start.
        """
        # One BLAS thread: the products are small, and on a shared machine OpenBLAS's
        # spinning threads cost far more than they bring.
        self._check_parallel_start(jobs, parallel)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._run_jobs(jobs)

    #: Vectors per call of the analog model: bounds the host's per-job arrays (the
    #: 256-entry register-file images) whatever the batch.
    SUB_BATCH = 16384

    def _run_jobs(self, jobs):
        # validate every job (configuration, block, every input value) before anything runs
        for j in jobs:
            x = np.asarray(j.x)
            cfg = self._jobs_prepare(_Job(j.core, x[:1] if x.ndim == 2 else x, j.cfg, j.rows, j.cols)).cfg
            encode_inputs(x, cfg.in_bits, cfg.signed)
        cores = [j.core for j in jobs]
        if len(set(cores)) != len(cores):
            raise ValueError(f"each core can run one job at a time, got cores {cores}")
        sizes = {np.asarray(j.x).shape[0] if np.ndim(j.x) == 2 else 1 for j in jobs}
        if len(sizes) != 1:
            raise ValueError("all jobs of a parallel MVM need the same batch size")
        batch = sizes.pop()

        def run(j):
            x = np.atleast_2d(np.asarray(j.x))
            raw = volts = dot = None
            for lo in range(0, batch, self.SUB_BATCH):
                p = self._jobs_prepare(_Job(j.core, x[lo:lo + self.SUB_BATCH], j.cfg, j.rows, j.cols))
                r = self._mvm_codes(j.core, p)
                v, d = self._decode(p, r)
                if raw is None:
                    raw = np.empty((batch,) + r.shape[1:], dtype=r.dtype)
                    volts = np.empty((batch, v.shape[1]))
                    dot = np.empty((batch, d.shape[1]))
                raw[lo:lo + len(r)], volts[lo:lo + len(r)], dot[lo:lo + len(r)] = r, v, d
            corr = self.offsets.get(self._offset_key(j))
            if corr is not None:
                dot = (dot - corr[0]) / corr[1]
            return MvmResult(raw, volts, dot, p.cfg, j.core)

        # Cores are independent models (own cells, neurons, noise streams, LFSR): the
        # jobs of a parallel MVM run side by side in threads (numpy releases the GIL).
        if self.threads > 1 and len(jobs) > 1:
            results = list(self._pool().map(run, jobs))
        else:
            results = [run(j) for j in jobs]
        if self.record_codes:
            self.codes_log.extend(r.codes for r in results)
        return results

    def __getstate__(self):
        # picklable (e.g. for a Dask sweep): the thread pool is made again on first use
        state = dict(self.__dict__)
        state["_executor"] = None
        return state

    def _pool(self):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="fastchip")
        return self._executor

    def _mvm_codes(self, core: int, prep) -> np.ndarray:
        """Raw (batch, segments, 256) codes of one prepared job (MidLevel._jobs_prepare)."""
        cfg, ccfg, block, entries = prep.cfg, prep.core, prep.geometry, prep.codes
        batch = entries.shape[0]
        segs = cfg.segments()
        noise = (self._lfsr_bits(core, batch * len(segs) * cfg.noise_steps)
                 if cfg.noise_steps else None)
        outputs = self._outputs(cfg, block) if self.sparse else None
        out = self.models[core].mvm(entries, ccfg, noise_bits=noise, outputs=outputs)
        out = out if ccfg.two_phase else (out,)
        if outputs is None:
            # each segment's codes in the entry order of the file they land in
            # (analog_models.config.route), the file the mid level reads them from
            raw = np.empty((batch, len(segs), N_LINES), dtype=np.int64)
            for si in range(len(segs)):
                raw[:, si] = out[si]
            return raw
        # only the simulated neurons' entries of each file: BL entry k / SL entry
        # neuron_sl(k) for neuron k; 16-bit codes keep big batches small
        raw = np.full((batch, len(segs), N_LINES), -1, dtype=np.int16)
        for si, seg in enumerate(ccfg.segments()):
            pos = NEURON_SL[outputs] if seg.dest == SL_FILE else outputs
            raw[:, si, pos] = out[si]
        return raw


class _ModelCells(DeviceCells):
    """Cells ``(rows[i], cols[i])`` of one simulated core, reached directly (no SPI frames);
    settling between passes is chip time passing (:meth:`FastChip.wait_ns`)."""

    def __init__(self, chip: FastChip, core: int, rows, cols, wv: WriteVerifyConfig):
        model = chip.models[core]
        super().__init__(model.device, (np.asarray(rows), np.asarray(cols)), wv.width_ns,
                         on_pulse=model.invalidate)
        self.chip, self.settle_ns = chip, wv.settle_ns

    def settle(self) -> None:
        self.chip.wait_ns(self.settle_ns)

"""MVM at any precision on one core or several in parallel (SPEC §8): configuration,
register set-up, input codes, result decoding."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from firmware.lowlevel import N_LINES, _check_int, encode_inputs
from firmware.progress import MIN_VECTORS, progress
from firmware.parallel import check_shared_bias
from rtl.contract.config import CoreConfig, TwoPhasePlan, decode_outputs, mvm_cycles, two_phase_plan
from rtl.contract.corelet import neuron_of_sl
from rtl.contract.registers import Act, Dir, Mode

__all__ = ["MvmConfig", "MvmOps", "MvmResult"]


_DIRS = tuple(Dir.__members__)
_ACTS = tuple(Act.__members__)


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
        LSB-segment magnitude bits; ``None`` = the contract's rule
        (:func:`rtl.contract.two_phase_plan`: half the magnitude bits, rounded down).
    out_bits_lsb : int or None
        Output bits of the LSB segment; ``None`` = the contract's rule, ``out_bits - split``
        (at least 1): the width at which the shift-and-added result stays within one output
        LSB (the paper's 6-bit in / 8-bit out used split 3 and 5 bits; see
        docs/verification.md, "Two-phase ideal core").
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
    out_bits_lsb: int | None = None
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
        return self._plan().split

    def _plan(self) -> TwoPhasePlan:
        try:
            plan = two_phase_plan(self.mag_bits, self.out_bits, self.split)
        except ValueError:
            # Out of range: the register values as given (0 where defaulted), so that
            # validate() reports the controller's own error for them.
            plan = TwoPhasePlan(self.split or 0, 0)
        if self.out_bits_lsb is not None:
            plan = plan._replace(out_bits_lsb=self.out_bits_lsb)
        return plan

    def validate(self) -> "MvmConfig":
        """Check what the controller checks (the contract's :meth:`CoreConfig.validate`),
        plus what the host's normalisation needs: non-zero Vread and Vdecr."""
        if self.direction not in _DIRS:
            raise ValueError(f"direction must be one of {_DIRS}, got {self.direction!r}")
        if self.act not in _ACTS:
            raise ValueError(f"act must be one of {_ACTS}, got {self.act!r}")
        self.core_config().check()
        # vread = 0 reads nothing and vdecr = 0 resolves nothing: the chip runs either
        # (the registers take 0), but there is no dot product to normalise.
        for name in ("vread", "vdecr"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be >= 1 for a normalised MVM, got 0")
        return self

    def core_config(self, n_rows: int = N_LINES) -> CoreConfig:
        """The core configuration (register fields) this MVM runs with.

        ``diff`` is a differential *input* in FWD / REC only; in BWD it pairs the output
        lines on the host (:meth:`MidLevel._decode`).
        """
        two = self.is_two_phase
        fields = dict(
            mode=int(Mode.MVM), dir=int(Dir[self.direction]), act=int(Act[self.act]),
            stoch=int(self.noise_steps > 0), diff_in=int(bool(self.diff) and self.direction != "BWD"),
            in_signed=int(bool(self.signed)), two_phase=int(two), in_bits=self.in_bits,
            out_bits=self.out_bits, n_rows=n_rows,
            vread=self.vread, vdecr=self.vdecr, wl_ns=self.wl_ns,
            noise_steps=self.noise_steps, vnoise=self.vnoise)
        if two:
            fields["split"], fields["out_bits_lsb"] = self._plan()
        return CoreConfig(**fields)

    def replace(self, **kw) -> "MvmConfig":
        return dataclasses.replace(self, **kw).validate()

    def segments(self) -> list[tuple[str, int, int]]:
        """``(name, magnitude bits, out bits)`` of each conversion segment."""
        if not self.is_two_phase:
            return [("single", self.mag_bits, self.out_bits)]
        s, k_lsb = self._plan()
        return [("msb", self.mag_bits - s, self.out_bits), ("lsb", s, k_lsb)]


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
class _Job:
    core: int
    x: np.ndarray
    cfg: MvmConfig
    rows: tuple
    cols: tuple


@dataclass
class _PreparedJob:
    """A validated job: its configurations, weight block, conductance sums and inputs."""

    cfg: MvmConfig
    core: CoreConfig             #: the register fields it runs with
    geometry: tuple              #: (row0, n_rows, col0, n_cols) of the weight block
    gsum: np.ndarray             #: sum of conductances per averaged line
    x: np.ndarray                #: integer inputs (batch, n_in)
    codes: np.ndarray            #: input register-file codes (batch, 256)



class MvmOps:
    """MVM methods of :class:`firmware.midlevel.MidLevel`."""

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

    def _configure(self, core, cc: CoreConfig):
        """Write the MVM registers of ``cc`` (the shadow skips unchanged words)."""
        chip = self.chip
        chip.write_fields(core, "BITS", in_bits=cc.in_bits, out_bits=cc.out_bits,
                          **({"split": cc.split, "out_bits_lsb": cc.out_bits_lsb}
                             if cc.two_phase else {}))
        chip.write_fields(core, "ROWS", n_rows=cc.n_rows)
        chip.write_fields(core, "VREAD", code=cc.vread)
        chip.write_fields(core, "VDECR", code=cc.vdecr)
        chip.write_fields(core, "TIMING", wl_ns=cc.wl_ns)
        if cc.stoch:
            chip.write_fields(core, "NOISE", steps=cc.noise_steps, vnoise=cc.vnoise)
        chip.write_fields(core, "CTRL", mode=cc.mode, dir=cc.dir, act=cc.act, stoch=cc.stoch,
                          diff_in=cc.diff_in, in_signed=cc.in_signed, two_phase=cc.two_phase)

    def expected_ns(self, cfg: MvmConfig | CoreConfig) -> float:
        """Chip time of one MVM (:func:`rtl.contract.mvm_cycles`), so the first status
        poll finds it done. TIMING.sample_cyc / integ_cyc are taken at their reset values
        (the firmware never changes them)."""
        cc = cfg.core_config() if isinstance(cfg, MvmConfig) else cfg
        return mvm_cycles(cc) * self.chip.clk_ns

    def _input_codes(self, x, cfg: MvmConfig, n_in: int, start: int, stride: int):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"x must have shape (batch, {n_in}), got {np.asarray(x).shape}")
        codes = encode_inputs(x, cfg.in_bits, cfg.signed)
        zero = encode_inputs(np.zeros(1, np.int64), cfg.in_bits, cfg.signed)[0]
        # 10-bit entries: 16 bits per entry keep big batches of register images small
        full = np.full((x.shape[0], N_LINES), zero, dtype=np.int16)
        full[:, start:start + stride * n_in:stride] = codes
        return x.astype(np.int64), full

    def _jobs_prepare(self, job: _Job) -> _PreparedJob:
        cfg = job.cfg.validate()
        r0, nr, c0, nc = self._geometry(cfg, job.rows, job.cols)
        gsum = self._gsum(job.core, cfg, r0, nr, c0, nc)
        if cfg.direction == "BWD":
            x, codes = self._input_codes(job.x, cfg, nc, c0, 1)
            n_rows = N_LINES
        else:
            n_in = nr // 2 if cfg.diff else nr
            x, codes = self._input_codes(job.x, cfg, n_in, r0, 2 if cfg.diff else 1)
            n_rows = r0 + nr
        return _PreparedJob(cfg, cfg.core_config(n_rows), (r0, nr, c0, nc), gsum, x, codes)

    @staticmethod
    def _segment_entries(cfg: MvmConfig, core_cfg: CoreConfig, geometry) -> list[np.ndarray]:
        """Per segment, the entries of its destination file that hold the block's output
        lines (BLs backward, SLs otherwise), in the order of those lines."""
        r0, nr, c0, nc = geometry
        out_lines = np.arange(r0, r0 + nr) if cfg.direction == "BWD" else np.arange(c0, c0 + nc)
        # the file indexed like the output lines (SLs unless backward): the other file holds
        # each neuron's result at its BL, i.e. permuted
        natural = 1 - core_cfg.input_file
        # written through the other switch: entry k holds neuron k's result in the BL
        # file, neuron sl^-1(j)'s in the SL file; neuron k serves BL k and SL sl(k)
        return [out_lines if seg.dest == natural else neuron_of_sl(out_lines)
                for seg in core_cfg.segments()]

    def segment_values(self, result: MvmResult, *, rows=(0, N_LINES), cols=(0, N_LINES)) -> list[np.ndarray]:
        """Each conversion's output of an MVM at the block's output lines (BLs backward,
        SLs otherwise), MSB segment first: (batch, lines) values in units of that
        conversion's LSB (:func:`rtl.contract.decode_outputs`; the full-scale code reads
        ``±(2**(k-1) - 1/2)``)."""
        cfg = result.cfg
        geometry = self._geometry(cfg, rows, cols)
        entries = self._segment_entries(cfg, cfg.core_config(), geometry)
        return [decode_outputs(result.codes[:, si, entries[si]], k, cfg.act)
                for si, (_, _, k) in enumerate(cfg.segments())]

    def _decode(self, prep: _PreparedJob, raw):
        """raw: (batch, segments, 256) codes -> (volts, dot) for the block's outputs.

        Only the entries of the block's output lines are decoded (a conversion is
        elementwise per entry); the segments are shift-and-added with their weights
        (:attr:`rtl.contract.Segment.weight`)."""
        cfg, gsum = prep.cfg, prep.gsum
        entries = self._segment_entries(cfg, prep.core, prep.geometry)
        volts = np.zeros(raw.shape[:1] + entries[0].shape)
        ratio = np.zeros(raw.shape[:1] + entries[0].shape)   # sum x G / sum G per line
        for si, (seg, (_, m, k)) in enumerate(zip(prep.core.segments(), cfg.segments())):
            v = self.norm.code_to_volts(raw[:, si, entries[si]], k, cfg.vdecr, cfg.act)
            volts += seg.weight * v
            ratio += seg.weight * v / self.norm.volts_per_dot(cfg.vread, cfg.direction, m)
        dot_lines = ratio * gsum
        if cfg.direction == "BWD" and cfg.diff:
            return volts[:, 0::2] - volts[:, 1::2], dot_lines[:, 0::2] - dot_lines[:, 1::2]
        return volts, dot_lines

    @staticmethod
    def _check_parallel_start(jobs: list[_Job], parallel: bool) -> None:
        """Cores started together share one set of bias voltages (firmware.parallel)."""
        if parallel and len(jobs) > 1:
            check_shared_bias({j.core: j.cfg.validate() for j in jobs})

    def _run_batch(self, jobs: list[_Job], parallel: bool, desc: str | None = None):
        chip = self.chip
        self._check_parallel_start(jobs, parallel)
        preps = [self._jobs_prepare(j) for j in jobs]   # validate everything first
        cores = [j.core for j in jobs]
        if len(set(cores)) != len(cores):
            raise ValueError(f"each core can run one job at a time, got cores {cores}")
        batch = preps[0].x.shape[0]
        if any(p.x.shape[0] != batch for p in preps):
            raise ValueError("all jobs of a parallel MVM need the same batch size")
        raws = [np.zeros((batch, len(p.cfg.segments()), N_LINES), dtype=np.int64) for p in preps]
        for j, p in zip(jobs, preps):
            self._configure(j.core, p.core)
        exp = max(self.expected_ns(p.core) for p in preps)
        for b in progress(range(batch), desc=desc, enabled=self.progress, unit="vec",
                          min_items=MIN_VECTORS, work=batch * len(jobs)):
            for j, p in zip(jobs, preps):
                chip.load_rf(j.core, p.core.input_file, p.codes[b], width=p.cfg.in_bits)
            if parallel and len(jobs) > 1:
                chip.start_parallel(cores, expected_ns=exp)
            else:
                for j in jobs:
                    chip.run(j.core, expected_ns=exp)
            for ji, (j, p) in enumerate(zip(jobs, preps)):
                for si, seg in enumerate(p.core.segments()):
                    raws[ji][b, si] = chip.read_rf(j.core, seg.dest, width=seg.out_bits)
        results = []
        if self.record_codes:
            self.codes_log.extend(raws)
        for j, p, raw in zip(jobs, preps, raws):
            volts, dot = self._decode(p, raw)
            corr = self.offsets.get(self._offset_key(j))
            if corr is not None:
                dot = (dot - corr[0]) / corr[1]
            results.append(MvmResult(raw, volts, dot, p.cfg, j.core))
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

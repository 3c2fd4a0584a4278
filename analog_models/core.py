"""One compute-in-memory core: RRAM array + 256 neurons, answering the analog bus.

Two entry points share every line of physics:

* :meth:`CoreModel.handle` answers one :class:`rtl.analog_bus.AnalogEvent` at a time
  (cosimulation and the golden model);
* :meth:`CoreModel.mvm` runs a whole batch of MVMs through the same step functions, with
  the batch as the leading axis.

Random draws: the per-event analog noise comes from two seeded streams. An MVM-mode WL
pulse consumes one vector of 256 standard normals (read noise, if on) and a comparison
one for the noise accumulated on Cinteg since the last comparison (if any sample was
taken with ``thermal`` on) from the first; a comparison also draws the comparator noise
from the second (if ``adc`` is on); nothing else draws.
Which events draw depends only on the switches and the sequence, never on data.
The event path draws them as the events come; the vectorised path draws the block of
all events of a chunk of vectors at once, in the same order (vector-major), so both paths
give identical output codes for the same seed.
"""

from __future__ import annotations

import warnings

import numpy as np

from rtl.analog_bus import N_LINES, AnalogEvent, EventKind, Level, Mode, ProgOp

from . import config as C
from ._rng import RowStream
from .array import ArrayPlan, settle
from .device import RRAMDevice
from .neuron import DT, NeuronBank
from .params import AnalogParams

# Plain ints for the per-event dispatch (enum attribute access is slow in the hot path).
_K_RESET, _K_WL, _K_SAMPLE, _K_INTEG, _K_DECR, _K_NOISE, _K_COMPARE, _K_LATCH = (
    int(EventKind.RESET), int(EventKind.WL_PULSE), int(EventKind.SAMPLE), int(EventKind.INTEG),
    int(EventKind.DECR), int(EventKind.NOISE), int(EventKind.COMPARE), int(EventKind.LATCH))
_K_PROG_BEGIN, _K_PROG_END, _K_POWER = (int(EventKind.PROG_BEGIN), int(EventKind.PROG_END),
                                        int(EventKind.POWER))
_L_FLOAT = int(Level.FLOAT)


def check_conductance(g, p: AnalogParams, name="conductance_uS") -> np.ndarray:
    """Validate a (256, 256) conductance matrix in µS within the device range."""
    a = np.asarray(g)
    if a.shape != (N_LINES, N_LINES):
        raise ValueError(f"{name} must have shape (256, 256), got {a.shape}")
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numeric µS values, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    hi = p.g_ceil + 3 * p.g_ceil_sigma
    if a.min() < 0.0 or a.max() > hi:
        raise ValueError(f"{name} must be within the physical range 0..{hi:g} µS, "
                         f"got [{a.min():.4g}, {a.max():.4g}]")
    return a


class CoreModel:
    """Analog model of one NeuRRAM core.

    Parameters
    ----------
    conductance_uS : ndarray (256, 256)
        Cell conductances ``G[row, col]`` (row = BL/WL, col = SL) in µS, within
        0 .. ``g_ceil + 3 g_ceil_sigma``.
    params : AnalogParams, optional
        Defaults to the calibrated parameters with every non-ideality on.
    seed : int
        Seeds the noise stream, the fixed neuron mismatch and the device model.

    Attributes
    ----------
    G : ndarray (256, 256)
        Current conductances (µS); assignable for backdoor loads (validated).
    device : RRAMDevice
        The RRAM population (programming, reads, relaxation).
    power_down : bool
        Set by ``POWER`` events: a gated core answers comparisons with zeros.
    """

    #: Vectors processed together in :meth:`mvm` (cache-sized chunks of the batch).
    CHUNK = 512

    def __init__(self, conductance_uS, params: AnalogParams | None = None, seed: int = 0):
        self.p = params if params is not None else AnalogParams()
        if not isinstance(self.p, AnalogParams):
            raise ValueError(f"params must be an AnalogParams, got {type(params).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        g = check_conductance(conductance_uS, self.p)
        self.device = RRAMDevice(np.clip(g, self.p.g_floor, None), self.p, seed=[self.seed, 3])
        self.device.G[...] = g  # keep the exact values loaded (even below g_floor)
        self.rng = np.random.default_rng([self.seed, 1])        # read + sampling noise
        self.rng_cmp = np.random.default_rng([self.seed, 4])    # comparator noise
        # Every draw of the two goes through these (blocks fetched ahead, same sequence).
        self._noise = RowStream(self.rng, 16)
        self._cmp_noise = RowStream(self.rng_cmp, 8)
        self.neurons = NeuronBank(self.p, np.random.default_rng([self.seed, 2]))
        self.power_down = False
        self._version = 0
        self._plans: dict = {}
        #: The chip's shared read rails (an ``analog_models.rails.RailTap``), or None.
        self.rails = None
        self._level_tables: dict = {}    # vread (V) -> level code -> line voltage
        self._prog = None
        self._warned_multi = False
        self._z = self._zc = None
        self._last_cmp = np.zeros((1, N_LINES), dtype=bool)
        self._reset_state(1)

    # ---- conductances ------------------------------------------------------------------
    @property
    def G(self) -> np.ndarray:
        return self.device.G

    @G.setter
    def G(self, value) -> None:
        self.device.G[...] = check_conductance(value, self.p, "G")
        self.device.fresh[...] = False
        self.device.any_fresh = False
        self._version += 1

    @property
    def parallel_cores(self) -> int:
        """Cores currently drawing from the same read rails (driver-drop model)."""
        return self.p.n_parallel_cores

    @parallel_cores.setter
    def parallel_cores(self, n: int) -> None:
        # The chip-level model sets this when several cores run an MVM together.
        self.set_params(self.p.replace(n_parallel_cores=n))

    def set_params(self, params: AnalogParams) -> None:
        """Give the live core new parameters (e.g. board DAC scales, switches).

        Cached array plans are rebuilt; the fixed per-neuron mismatch and per-cell device
        variation drawn at construction are kept (they belong to this chip).
        """
        if not isinstance(params, AnalogParams):
            raise ValueError(f"params must be an AnalogParams, got {type(params).__name__}")
        self.p = params
        self.neurons.p = params
        self.device.p = params
        self._plans.clear()
        self._level_tables.clear()

    def elapse(self) -> int:
        """Let time pass after programming: freshly programmed cells relax."""
        n = self.device.relax()
        if n:
            self._version += 1
        return n

    def _plan(self, backward: bool, wl_mask: np.ndarray) -> ArrayPlan:
        key = (backward, wl_mask.tobytes())
        hit = self._plans.get(key)
        if hit is not None and hit[0] == self._version:
            return hit[1]
        if len(self._plans) > 16:
            self._plans.clear()
        # Forward outputs are SLs: keep them in neuron order (SL of neuron k first ...).
        perm = None if backward else C.NEURON_SL
        plan = ArrayPlan(self.G, backward, wl_mask, self.p, out_perm=perm)
        self._plans[key] = (self._version, plan)
        return plan

    # ---- shared step functions (batch-leading arrays) --------------------------------------
    def _reset_state(self, batch: int) -> None:
        self.neurons.reset(batch)
        self._v_bl = np.zeros((batch, N_LINES), dtype=DT)      # BL voltages, line order
        self._v_sl = np.zeros((batch, N_LINES), dtype=DT)      # SL voltages, NEURON order
        self._a_prev_bl = np.zeros((batch, N_LINES), dtype=DT)
        self._a_prev_sl = np.zeros((batch, N_LINES), dtype=DT)  # SL input drive, line order
        self._pending = None

    def _draw(self, batch: int) -> np.ndarray:
        if self._z is not None:
            z = self._z[:, self._zi, :]
            self._zi += 1
            return z
        return self._noise.normals(batch)

    def _draw_cmp(self, batch: int) -> np.ndarray:
        """Minus the comparator noise in volts (its own stream, 256-level Gaussian)."""
        if self._zc is not None:
            z = self._zc[:, self._zci, :]
            self._zci += 1
            return z
        return self._cmp_noise.normals(batch, -self.p.cmp_noise_sigma)

    def _materialise(self, side: str | None = None) -> None:
        """Driven input lines sit at ``a * f_write`` after a pulse; computed only when a
        later step reads that side (never in an ordinary MVM)."""
        if self._pending is not None and side in (None, self._pending[0]):
            side, a, f = self._pending
            self._pending = None
            line = a * f.astype(DT)
            if side == "sl":
                self._v_sl = line[:, C.NEURON_SL]
            else:
                self._v_bl = line

    def _wl_step(self, backward: bool, a: np.ndarray, wl_mask: np.ndarray, vread: float,
                 width_ns: float) -> None:
        self._materialise("bl" if backward else "sl")      # the output side's charge
        z = self._draw(a.shape[0]) if self.p.read_noise else None
        plan = self._plan(backward, wl_mask)
        r_rail = None if self.rails is None else self.rails.resistance(self.p)
        if backward:
            v, f_write = settle(plan, a, self._v_bl, self._a_prev_sl, width_ns, self.p, vread, z,
                                r_rail)
            self._v_bl = v
            self._a_prev_sl = a
            self._pending = ("sl", a, f_write)
        else:
            v, f_write = settle(plan, a, self._v_sl, self._a_prev_bl, width_ns, self.p, vread, z,
                                r_rail)
            self._v_sl = v
            self._a_prev_bl = a
            self._pending = ("bl", a, f_write)

    def _sample_step(self, take_sl: bool, driven_v: np.ndarray | None) -> None:
        """Neurons sample their SL (neuron order) or BL; ``driven_v`` (B,256) with NaN
        where the sampled line floats, else the driven voltage."""
        self._materialise("sl" if take_sl else "bl")
        v = self._v_sl if take_sl else self._v_bl
        c_line = self.p.c_sl if take_sl else self.p.c_bl
        driven = None
        if driven_v is not None:
            driven = ~np.isnan(driven_v[0])
            v = np.where(driven, driven_v, v)
        new = self.neurons.sample(v, c_line, driven)
        if take_sl:
            self._v_sl = new
        else:
            self._v_bl = new

    def _compare_step(self, batch: int) -> np.ndarray:
        z1 = self._draw(batch) if self.neurons.pend_var else None
        n2 = self._draw_cmp(batch) if self._cmp_draws else None
        return self.neurons.compare(z1, n2)

    @property
    def _cmp_draws(self) -> bool:
        return bool(self.p.adc and self.p.cmp_noise_sigma > 0)

    def _count_draws(self, st, mode: int) -> tuple[int, int]:
        """(physics, comparator) noise vectors one MVM of ``st`` draws (module doc)."""
        n, nc, sampled = 0, 0, False
        for s in st:
            if s[0] == "WL" and mode == int(Mode.MVM) and self.p.read_noise:
                n += 1
            elif s[0] == "SAMPLE":
                sampled = sampled or self.p.thermal
            elif s[0] == "RESET":
                sampled = False
            elif s[0] == "COMPARE":
                n += int(sampled)
                nc += int(self._cmp_draws)
                sampled = False
        return n, nc

    # ---- event path ----------------------------------------------------------------------------
    def _level_dev(self, levels: np.ndarray, vread: float) -> np.ndarray:
        """Line voltages (deviation from Vref) of driver levels; NaN where FLOAT."""
        table = self._level_tables.get(vread)
        if table is None:
            if len(self._level_tables) > 64:
                self._level_tables.clear()
            table = np.array([np.nan, 0.0, vread, -vread, -self.p.vref, 0.0], dtype=DT)
            self._level_tables[vread] = table
        return table[np.asarray(levels, dtype=np.intp)]

    def handle(self, ev: AnalogEvent):
        """Answer one analog-bus event.

        Returns the 256 comparator bits (bool, neuron-indexed) for ``COMPARE``, the
        measured conductance (µS, float) for the ``PROG_END`` of a READ, else None.
        """
        kind = int(ev.kind)
        if kind == _K_POWER:
            self.power_down = bool(ev.power_down)
            self._reset_state(1)
            return None
        if self.power_down:
            return np.zeros(N_LINES, dtype=bool) if kind == _K_COMPARE else None
        if kind == _K_SAMPLE:
            take_sl = bool(ev.sl_sel)
            vread = self.p.vread_volts(int(ev.vread))
            lv = np.asarray(ev.sl_drv)[C.NEURON_SL] if take_sl else np.asarray(ev.bl_drv)
            driven = lv != _L_FLOAT
            dev = self._level_dev(lv, vread)[None] if driven.any() else None
            self._sample_step(take_sl, dev)
        elif kind == _K_INTEG:
            self.neurons.integrate()
        elif kind == _K_COMPARE:
            self._last_cmp = self._compare_step(1)
            return self._last_cmp[0].copy()
        elif kind == _K_LATCH:
            # The latch stores the comparator output the neuron still holds.
            self.neurons.set_latch(self._last_cmp)
        elif kind == _K_DECR:
            self.neurons.decrement(self.p.vdecr_volts(int(ev.vdecr)), int(ev.decr_mode))
        elif kind == _K_WL:
            self._event_wl(ev)
        elif kind == _K_RESET:
            if int(ev.mode) in (int(Mode.MVM), int(Mode.NEURON_TEST)):
                self.elapse()
            self._reset_state(1)
        elif kind == _K_NOISE:
            bits = np.asarray(ev.noise, dtype=bool)[None]
            self.neurons.inject(bits, self.p.vnoise_volts(int(ev.vnoise)))
        elif kind == _K_PROG_BEGIN:
            self._prog = ev
        elif kind == _K_PROG_END:
            return self._event_prog_end(ev)
        return None

    def _event_wl(self, ev: AnalogEvent) -> None:
        vread = self.p.vread_volts(int(ev.vread))
        bl = np.asarray(ev.bl_drv)
        sl = np.asarray(ev.sl_drv)
        wl = np.asarray(ev.wl_en, dtype=bool)
        mode = int(ev.mode)
        if mode == int(Mode.NEURON_TEST) or not wl.any():
            # WLs low: the drivers set their own lines, nothing flows through the cells.
            self._materialise()
            dbl = self._level_dev(bl, vread)[None]
            dsl = self._level_dev(sl[C.NEURON_SL], vread)[None]
            self._v_bl = np.where(np.isnan(dbl), self._v_bl, dbl)
            self._v_sl = np.where(np.isnan(dsl), self._v_sl, dsl)
            return
        if not sl.any():                 # every SL at FLOAT (level 0): forward
            backward, lv = False, bl
        elif not bl.any():
            backward, lv = True, sl
        else:
            raise ValueError("WL_PULSE in MVM mode needs one side (all BLs or all SLs) FLOAT, "
                             "got driven lines on both sides")
        a = self._level_dev(lv, vread)
        a[np.isnan(a)] = 0.0             # a floating input line drives nothing
        a = a[None]
        self._wl_step(backward, a, wl, vread, float(ev.width_ns))

    def _event_prog_end(self, ev: AnalogEvent):
        begin, self._prog = self._prog, None
        if begin is None:
            raise ValueError("PROG_END without a preceding PROG_BEGIN")
        op = int(begin.prog_op)
        bl = np.asarray(begin.bl_drv)
        sl = np.asarray(begin.sl_drv)
        rows = np.flatnonzero(np.asarray(begin.wl_en, dtype=bool))
        # A cell sees the pulse when its WL is on and its BL/SL carry VPROG/GND in the
        # op's polarity (SET/READ: BL at VPROG, SL at GND; RESET: the reverse). Every
        # such cell is hit, exactly as on the chip.
        if op == int(ProgOp.RESET):
            r = rows[bl[rows] == Level.GND]
            cols = np.flatnonzero(sl == Level.VPROG)
        else:
            r = rows[bl[rows] == Level.VPROG]
            cols = np.flatnonzero(sl == Level.GND)
        if r.size * cols.size > 1 and not self._warned_multi:
            # Physically every such cell is hit; with unselected SLs at GND a SET/READ
            # reaches the whole row. Say so once instead of corrupting silently.
            warnings.warn(f"{ProgOp(op).name} pulse reaches {r.size * cols.size} cells "
                          f"(rows {r[:4].tolist()}, {cols.size} columns): unselected lines "
                          "must FLOAT (or sit at the inhibit level) to select one cell",
                          RuntimeWarning, stacklevel=3)
            self._warned_multi = True
        sel = np.ix_(r, cols)
        if op == int(ProgOp.READ):
            if r.size == 0 or cols.size == 0:
                return 0.0
            # The board ADC measures the total current of the selected cells.
            return float(np.sum(self.device.read(sel)))
        if op not in (int(ProgOp.SET), int(ProgOp.RESET)):
            raise ValueError(f"prog_op must be SET, RESET or READ, got {op!r}")
        if r.size and cols.size:
            amp = self.p.prog_volts(int(begin.prog_amp))
            self.device.apply_pulse("set" if op == int(ProgOp.SET) else "reset", amp,
                                    max(float(ev.width_ns), 1.0), sel)
            self._version += 1
        return None

    # ---- vectorised path ---------------------------------------------------------------------------
    def mvm(self, inputs, cfg) -> np.ndarray:
        """Whole MVMs for a batch, through the same steps as :meth:`handle`.

        Parameters
        ----------
        inputs : int array (batch, 256) or (256,)
            Entries of the driven register file (BL file for forward and recurrent, SL
            file for backward) in the format of docs/architecture.md §5.
        cfg : CoreConfig-like
            Controller configuration (see :class:`analog_models.config.CoreConfig`).

        Returns
        -------
        int array (batch, 256) of output codes in the destination file's entry order;
        for two-phase a tuple ``(msb_codes, lsb_codes)``, each routed to its own file.
        """
        C.check_config(cfg)
        x = C.check_entries(inputs).astype(np.int16)
        squeeze = x.ndim == 1
        if squeeze:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"inputs must be (batch, 256) or (256,), got shape {x.shape}")
        B = x.shape[0]
        if self.power_down:
            z = np.zeros((B, N_LINES), dtype=np.int64)
            out = [z] * len(C.segments(cfg))
            return tuple(out) if cfg.two_phase else out[0]
        st = C.steps(cfg)
        n_draw, n_cmp = self._count_draws(st, int(cfg.mode))
        nseg = len(C.segments(cfg))
        ns = int(cfg.noise_steps) if cfg.stoch else 0
        # The LFSR runs on from one MVM (and segment) to the next: vector b, segment g,
        # step i uses step (b * nseg + g) * ns + i of the sequence loaded from the seeds.
        noise = (C.lfsr_bits(int(cfg.seed_a), int(cfg.seed_b), B * nseg * ns)
                 .reshape(B, nseg, ns, N_LINES) if ns else None)
        # Chunks of the batch keep every state array inside the CPU cache; the noise
        # block is vector-major, so drawing it chunk by chunk continues the same stream.
        parts = []
        try:
            for lo in range(0, B, self.CHUNK):
                hi = min(B, lo + self.CHUNK)
                self._z = self._noise.normals((hi - lo) * n_draw).reshape(hi - lo, n_draw, N_LINES)
                self._zc = (self._cmp_noise.normals((hi - lo) * n_cmp, -self.p.cmp_noise_sigma)
                            .reshape(hi - lo, n_cmp, N_LINES))
                self._zi = self._zci = 0
                parts.append(self._run_steps(x[lo:hi], cfg, st,
                                             None if noise is None else noise[lo:hi]))
        finally:
            self._z = self._zc = None
        res = [np.concatenate([pt[i] for pt in parts]) for i in range(len(parts[0]))]
        if squeeze:
            res = [r[0] for r in res]
        return tuple(res) if cfg.two_phase else res[0]

    def _run_steps(self, x: np.ndarray, cfg, st, noise) -> list:
        B = x.shape[0]
        mode = int(cfg.mode)
        backward = int(cfg.dir) == int(C.Direction.BWD)
        wl = C.row_mask(cfg)
        vread = self.p.vread_volts(int(cfg.vread))
        vnoise = self.p.vnoise_volts(int(cfg.vnoise))
        width = float(cfg.wl_ns)
        take_sl = (not backward) if mode == int(Mode.MVM) else backward
        seg = -1
        sgn, mag = C.line_sign_magnitude(x, cfg)
        sv = sgn.astype(DT) * DT(vread)
        results, bits = [], []
        driven_v = None
        cmp = None
        for s in st:
            kind = s[0]
            if kind == "RESET":
                if mode in (int(Mode.MVM), int(Mode.NEURON_TEST)):
                    self.elapse()
                self._reset_state(B)
                bits = []
                seg += 1
            elif kind == "WL":
                a = sv * ((mag >> s[2]) & 1)
                if mode == int(Mode.NEURON_TEST):
                    self._materialise()
                    if backward:
                        self._v_sl = a[:, C.NEURON_SL]
                    else:
                        self._v_bl = a
                    driven_v = self._v_sl if backward else self._v_bl
                else:
                    self._wl_step(backward, a, wl, vread, width)
            elif kind == "SAMPLE":
                self._sample_step(take_sl, driven_v)
            elif kind == "INTEG":
                self.neurons.integrate()
            elif kind == "NOISE":
                self.neurons.inject(noise[:, seg, s[1]], vnoise)
            elif kind == "COMPARE":
                cmp = self._compare_step(B)
                bits.append(cmp)
            elif kind == "LATCH":
                self.neurons.set_latch(cmp)
            elif kind == "DECR":
                self.neurons.decrement(self.p.vdecr_volts(s[1]), 0)
            elif kind == "WR" and s[2] == C.segments(cfg)[s[1]][2] - 1:
                codes = C.output_codes(np.stack(bits, axis=1), int(cfg.act))
                results.append(C.route(codes, cfg, s[1]))
        return results

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
all events of a block of vectors at once, in the same order (vector-major), so both paths
give identical output codes for the same seed.
"""

from __future__ import annotations

import copy
import warnings
from typing import NamedTuple

import numpy as np

from rtl.contract.constants import N_LINES
from rtl.contract.events import AnalogEvent, EventKind, Level
from rtl.contract.registers import Mode, ProgOp

from . import _kernels
from . import config as C
from ._rng import _TABLE, _TABLE8, NO_NORMALS, ColumnStreams, StreamNormals
from .array import ArrayPlan, settle_drive
from .device import RRAMDevice, write_verify
from .neuron import DT, NeuronBank
from .params import AnalogParams

# Plain ints for the per-event dispatch (enum attribute access is slow in the hot path).
_K_RESET, _K_WL, _K_SAMPLE, _K_INTEG, _K_DECR, _K_NOISE, _K_COMPARE, _K_LATCH = (
    int(EventKind.RESET), int(EventKind.WL_PULSE), int(EventKind.SAMPLE), int(EventKind.INTEG),
    int(EventKind.DECR), int(EventKind.NOISE), int(EventKind.COMPARE), int(EventKind.LATCH))
_K_PROG_BEGIN, _K_PROG_END, _K_POWER = (int(EventKind.PROG_BEGIN), int(EventKind.PROG_END),
                                        int(EventKind.POWER))
_L_FLOAT = int(Level.FLOAT)
# Drive sign of each driver level on an MVM input line (GND is not an MVM input level).
_LEVEL_SIGN = np.zeros(max(int(v) for v in Level) + 1, dtype=np.int8)
_LEVEL_SIGN[int(Level.VREF_P)] = 1
_LEVEL_SIGN[int(Level.VREF_N)] = -1
_L_GND = int(Level.GND)


_CODE_TABLES: dict = {}


class _Packed(NamedTuple):
    """Comparator decisions of a conversion packed per neuron (B, n), comparison 0 (the
    sign) the most significant of the k bits."""
    packed: np.ndarray
    k: int


def _codes(bits, act: int, reorder=None) -> np.ndarray:
    """``C.output_codes`` of comparator bits (B, k, n) (or :class:`_Packed`) through a
    table: a neuron's code depends only on its own k bits, so the contract's decoding is
    applied once to every k-bit pattern and each neuron's packed bits index the result.
    ``reorder`` (e.g. the route to the destination file) permutes the neurons, applied
    to the packed bits."""
    if isinstance(bits, _Packed):
        packed, k = bits
    else:
        k = bits.shape[1]
        if k > 8 or bits.dtype != np.bool_:
            codes = C.output_codes(bits, act)
            return codes if reorder is None else reorder(codes)
        u = bits.view(np.uint8)
        packed = u[:, 0].copy()
        for c in range(1, k):
            packed <<= 1
            packed |= u[:, c]
    table = _CODE_TABLES.get((k, act))
    if table is None:
        pat = np.arange(1 << k)
        every = ((pat[:, None] >> (k - 1 - np.arange(k))) & 1).astype(bool)[:, :, None]
        # int16 holds every 8-bit code and makes the lookup cheap; the codes come out int64
        table = _CODE_TABLES[(k, act)] = C.output_codes(every, act)[:, 0].astype(np.int16)
    return np.take(table, packed if reorder is None else reorder(packed)).astype(np.int64)


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

    #: Vectors processed together in :meth:`mvm`: chunks of the batch whose state arrays
    #: (256 float32 per vector each) stay in a core's L2 cache (measured on this
    #: machine's Xeons: 256 and 384 alike; 512 0.5 ms per 1,000 vectors slower, 128 and 1024 more).
    CHUNK = 256
    #: Noise values (physics and comparator, per vector and output) drawn ahead at most.
    NOISE_BLOCK = 1 << 22

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
        # Read + sampling noise, comparator noise: per-neuron streams read by rows (a
        # batched MVM that simulates some neurons draws only theirs, same sequences).
        self._noise = ColumnStreams([self.seed, 1], 16)
        self._cmp_noise = ColumnStreams([self.seed, 4], 8)
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

    def save_state(self) -> dict:
        """A copy of what this core carries from one operation to the next besides its
        fixed variation: the cells (conductances, which are fresh), how far each cell's
        own random streams have been drawn (every programming pulse, read and relaxation
        draws from them, even on the ideal core) and the positions of the noise streams.

        A transaction-level model cannot know how much of an interrupted operation ran
        (whether a cut programming pulse drew its step); :meth:`load_state` on its own
        model of the same seed makes it continue exactly as this one.
        """
        d = self.device
        return {"G": d.G.copy(), "fresh": d.fresh.copy(), "any_fresh": d.any_fresh,
                "device_draws": d.draws.copy(),
                "noise": copy.deepcopy(self._noise), "cmp_noise": copy.deepcopy(self._cmp_noise)}

    def load_state(self, state: dict) -> None:
        """Continue from ``state`` (:meth:`save_state` of a core of the same seed)."""
        d = self.device
        d.G[...] = check_conductance(state["G"], self.p, "state['G']")
        d.fresh[...] = state["fresh"]
        d.any_fresh = bool(state["any_fresh"])
        d.draws[...] = state["device_draws"]
        self._noise = copy.deepcopy(state["noise"])
        self._cmp_noise = copy.deepcopy(state["cmp_noise"])
        self._version += 1

    def invalidate(self) -> None:
        """The conductances changed behind the model's back (direct device access):
        cached array plans are rebuilt at the next MVM."""
        self._version += 1

    def write_verify(self, targets, index, **kw) -> dict:
        """Program the cells ``index`` of the array to ``targets`` (µS) by write-verify,
        vectorised over the cells (:func:`analog_models.device.write_verify`, whose
        keywords and result this takes and returns). Pulsed cells are fresh: they relax
        at the next :meth:`elapse`, as after programming pulses on the analog bus."""
        out = write_verify(self.device, targets, index, **kw)
        self._version += 1
        return out

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
    def _reset_state(self, batch: int, n_out: int = N_LINES) -> None:
        self.neurons.reset(batch)
        # (a batched MVM that computes only some outputs keeps only those lines)
        self._v_bl = np.zeros((batch, n_out), dtype=DT)      # BL voltages, line order
        self._v_sl = np.zeros((batch, n_out), dtype=DT)      # SL voltages, NEURON order
        # sum over the input lines of their deviation at the last pulse (coupling kick)
        self._asum_prev_bl = self._asum_prev_sl = None
        self._pending = None
        self._run = None          # SAMPLE/INTEG pairs not yet applied (see _sample_event)

    def _draw(self, batch: int, lazy: bool = False):
        """The next event's standard normals; in a batched MVM, with ``lazy``, as the
        :class:`StreamNormals` of its block of stream indices (looked up by the consumer)."""
        if self._z is not None:
            z = StreamNormals(self._z, self._z_first + self._zi, self._z_step, batch, _TABLE)
            self._zi += 1
            return z if lazy else z.values()
        return self._noise.normals(batch)

    def _draw_cmp(self, batch: int) -> np.ndarray:
        """Minus the comparator noise in volts (its own stream, 256-level Gaussian)."""
        if self._zc is not None:
            # a batched MVM's block of table indices, looked up as the stream would
            idx, first = self._zc, self._zc_first + self._zci
            self._zci += 1
            return np.take(self._cmp_table(), idx[first:first + batch * self._zc_step:self._zc_step])
        return self._cmp_noise.normals(batch, -self.p.cmp_noise_sigma)

    def _cmp_table(self) -> np.ndarray:
        """The comparator stream's quantile table in volts (ColumnStreams.normals)."""
        return _TABLE8 * np.float32(-self.p.cmp_noise_sigma)

    def _materialise(self, side: str | None = None) -> None:
        """Driven input lines sit at ``a * f_write`` after a pulse; computed only when a
        later step reads that side (never in an ordinary MVM)."""
        if self._pending is not None and side in (None, self._pending[0]):
            side, signs, s_p, s_n, vread, f = self._pending
            self._pending = None
            d = signs().astype(DT)
            if s_p is not None:
                d = d * np.where(d > 0, s_p[:, None], s_n[:, None])
            line = d * DT(vread) * f.astype(DT)
            if side == "sl":
                self._v_sl = line[:, C.NEURON_SL]
            else:
                self._v_bl = line

    def _wl_step(self, backward: bool, plan, d: np.ndarray, pairs: bool, vread: float,
                 width_ns: float, signs, counts=None) -> None:
        """One MVM-mode WL pulse: ``d`` the drive signs on ``plan.rows`` (see
        :func:`analog_models.array.settle_drive`), ``signs()`` those of all 256 input
        lines, ``counts()`` how many of them sit at either polarity (each computed only
        if the coupling or a later step needs it)."""
        self._flush_run()
        self._materialise("bl" if backward else "sl")      # the output side's charge
        if counts is None:
            def counts():
                a = signs()
                return (a > 0).sum(axis=1), (a < 0).sum(axis=1)
        z = self._draw(d.shape[0], lazy=True) if self.p.read_noise else None
        r_rail = None if self.rails is None else self.rails.resistance(self.p)
        if backward:
            v, s_p, s_n, asum = settle_drive(plan, d, pairs, self._v_bl, self._asum_prev_sl,
                                             width_ns, self.p, vread, z, counts, r_rail)
            self._v_bl = v
            self._asum_prev_sl = asum
            self._pending = ("sl", signs, s_p, s_n, vread, plan.f_write)
        else:
            v, s_p, s_n, asum = settle_drive(plan, d, pairs, self._v_sl, self._asum_prev_bl,
                                             width_ns, self.p, vread, z, counts, r_rail)
            self._v_sl = v
            self._asum_prev_bl = asum
            self._pending = ("bl", signs, s_p, s_n, vread, plan.f_write)

    # SAMPLE/INTEG pairs on a floating line are applied together, in closed form
    # (NeuronBank.sample_run), by the event path and the batched path alike: a run starts
    # at a SAMPLE while Csample is empty and ends at the first other event.
    def _sample_event(self, take_sl: bool, driven_v: np.ndarray | None) -> None:
        run = self._run
        if driven_v is None:
            if run is not None and not run[2] and run[0] == take_sl:
                run[2] = True
                return
            self._flush_run()
            n = self.neurons
            if n.v_cs.__class__ is float and n.v_cs == 0.0 and not n.var_cs:
                self._run = [take_sl, 0, True]
                return
        else:
            self._flush_run()
        self._sample_step(take_sl, driven_v)

    def _integ_event(self) -> None:
        run = self._run
        if run is not None and run[2]:
            run[1] += 1
            run[2] = False
            return
        self._flush_run()
        self.neurons.integrate()

    def _flush_run(self) -> None:
        run = self._run
        if run is None:
            return
        self._run = None
        take_sl, pairs, half = run
        if pairs:
            self._materialise("sl" if take_sl else "bl")
            c_line = self.p.c_sl if take_sl else self.p.c_bl
            if take_sl:
                self._v_sl = self.neurons.sample_run(self._v_sl, c_line, pairs)
            else:
                self._v_bl = self.neurons.sample_run(self._v_bl, c_line, pairs)
        if half:
            self._sample_step(take_sl, None)

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
        self._flush_run()
        z1 = self._draw(batch) if self.neurons.pend_var else None
        n2 = self._draw_cmp(batch) if self._cmp_draws else None
        return self.neurons.compare(z1, n2)

    def _convert(self, batch: int, k: int, steps):
        """A segment's k comparisons in one compiled loop (:func:`_kernels.convert`),
        drawing the same noise vectors in the same order as the steps would (batched
        MVMs only: the noise is looked up in their blocks of stream indices)."""
        nb = self.neurons
        pend = nb.pend_var
        z1 = self._draw(batch, lazy=True) if pend else NO_NORMALS
        n2_first = n2_step = 0
        if self._cmp_draws:
            n2, n2_first, n2_step = self._zc, self._zc_first + self._zci, self._zc_step
            self._zci += k
        else:
            n2 = np.zeros((1, 1), dtype=np.uint8)
        vdecr = np.array([DT(self.p.vdecr_volts(t[1], t[2])) for t in steps if t[0] == "DECR"] or [0.0],
                         dtype=DT)
        # up to 8 comparisons: the loop packs each neuron's decisions itself (the codes'
        # table index), else it writes them all
        pack = k <= 8
        bits = np.empty((1, k, 1) if pack else (batch, k, nb.n), dtype=bool)
        packed = np.empty((batch, nb.n) if pack else (1, 1), dtype=np.uint8)
        latch = np.array(np.broadcast_to(nb.latch, nb.v_int.shape), dtype=bool)   # own, writable
        _kernels.convert(nb.v_int, latch, DT(np.sqrt(pend)) if pend else DT(0.0),
                         z1.idx, z1.first, z1.step, z1.table, n2, n2_first,
                         n2_step, self._cmp_table(), self._cmp_draws, nb.offset, nb.inj, int(nb.n_integ), bool(self.p.adc),
                         DT(self.p.gain), vdecr, DT(self.p.integ_headroom), bits, pack, packed)
        nb.pend_var = 0.0
        nb.latch = latch
        nb.v_cs = 0.0
        nb.var_cs = 0.0
        if self.p.adc:
            nb.n_integ += k - 1
        return _Packed(packed, k) if pack else bits

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
        if kind != _K_SAMPLE and kind != _K_INTEG:
            self._flush_run()
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
            self._sample_event(take_sl, dev)
        elif kind == _K_INTEG:
            self._integ_event()
        elif kind == _K_COMPARE:
            self._last_cmp = self._compare_step(1)
            return self._last_cmp[0].copy()
        elif kind == _K_LATCH:
            # The latch stores the comparator output the neuron still holds.
            self.neurons.set_latch(self._last_cmp)
        elif kind == _K_DECR:
            self.neurons.decrement(self.p.vdecr_volts(int(ev.vdecr), int(ev.decr_step)),
                                   int(ev.decr_mode))
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
        lv = np.asarray(lv, dtype=np.intp)
        if np.any(lv == _L_GND):
            raise ValueError("WL_PULSE in MVM mode drives its input lines at VREF, VREF+VREAD or "
                             "VREF-VREAD (or leaves them floating), got GND")
        d = _LEVEL_SIGN[lv][None]        # a floating input line drives nothing
        plan = self._plan(backward, wl)
        self._wl_step(backward, plan, d[:, plan.rows], False, vread, float(ev.width_ns), lambda: d)

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
    def mvm(self, inputs, cfg, noise_bits=None, outputs=None) -> np.ndarray:
        """Whole MVMs for a batch, through the same steps as :meth:`handle`.

        Parameters
        ----------
        inputs : int array (batch, 256) or (256,)
            Entries of the driven register file (BL file for forward and recurrent, SL
            file for backward) in the format of docs/architecture.md §5.
        cfg : CoreConfig-like
            Controller configuration (see :class:`analog_models.config.CoreConfig`).
        noise_bits : bool array (batch * segments * noise_steps, 256), optional
            The LFSR bits of every NOISE step of a stochastic MVM, in the controller's
            order (vector, segment, step); default: the sequence right after loading
            ``cfg.seed_a`` / ``cfg.seed_b``. A caller that lets the LFSR run on from one
            batch to the next (as the chip does) passes the bits of its own LFSR.
        outputs : int array, optional
            Neurons to simulate (distinct indices; MVM mode only). Every neuron's
            physics is its own given the inputs, so the simulated ones give exactly the
            codes of a full simulation (the noise streams advance as for all 256).

        Returns
        -------
        int array (batch, 256) of output codes in the destination file's entry order;
        for two-phase a tuple ``(msb_codes, lsb_codes)``, each routed to its own file.
        With ``outputs``: (batch, len(outputs)) codes of those neurons, in that order
        (not routed: neuron ``k``'s code lands in BL entry ``k`` or SL entry
        ``neuron_sl(k)``, see :func:`analog_models.config.route`).
        """
        C.check_config(cfg)
        x = C.check_entries(inputs).astype(np.int16, copy=False)
        squeeze = x.ndim == 1
        if squeeze:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"inputs must be (batch, 256) or (256,), got shape {x.shape}")
        sel = order = None
        if outputs is not None:
            if int(cfg.mode) != int(Mode.MVM):
                raise ValueError("outputs is supported in MVM mode only")
            req = np.asarray(outputs)
            if req.ndim != 1 or req.dtype.kind not in "iu" or req.size == 0:
                raise ValueError(f"outputs must be a non-empty 1-D array of neuron indices, got {outputs!r}")
            sel, order = np.unique(req.astype(np.intp), return_inverse=True)
            if sel.size != req.size or sel[0] < 0 or sel[-1] >= N_LINES:
                raise ValueError(f"outputs must be distinct neuron indices in 0..255, got {outputs!r}")
        B = x.shape[0]
        if self.power_down:
            z = np.zeros((B, N_LINES if sel is None else sel.size), dtype=np.int64)
            out = [z] * len(C.segments(cfg))
            return tuple(out) if cfg.two_phase else out[0]
        st = C.steps(cfg)
        n_draw, n_cmp = self._count_draws(st, int(cfg.mode))
        nseg = len(C.segments(cfg))
        ns = int(cfg.noise_steps) if cfg.stoch else 0
        # The LFSR runs on from one MVM (and segment) to the next: vector b, segment g,
        # step i uses step (b * nseg + g) * ns + i of the sequence loaded from the seeds.
        noise = None
        if ns:
            if noise_bits is None:
                noise_bits = C.lfsr_bits(int(cfg.seed_a), int(cfg.seed_b), B * nseg * ns)
            noise_bits = np.asarray(noise_bits, dtype=bool)
            if noise_bits.shape != (B * nseg * ns, N_LINES):
                raise ValueError(f"noise_bits must have shape ({B * nseg * ns}, {N_LINES}) "
                                 f"(batch * segments * noise_steps, 256), got {noise_bits.shape}")
            noise = noise_bits.reshape(B, nseg, ns, N_LINES)
            if sel is not None:
                noise = noise[..., sel]
        # Chunks of the batch keep every state array inside the CPU cache (fewer outputs:
        # longer chunks); the noise block is vector-major, so drawing it chunk by chunk
        # continues the same stream.
        n_out = N_LINES if sel is None else sel.size
        chunk = self.CHUNK if sel is None else int(min(8192, self.CHUNK * N_LINES // n_out))
        parts = []
        full_bank = self.neurons
        if sel is not None:
            self.neurons = full_bank.subset(sel)
        # The noise of several chunks is drawn at once (fewer generator calls), as stream
        # indices (rows: vector-major events): each event's values are looked up when it
        # happens.
        per_vec = max(1, (n_draw + n_cmp) * n_out)
        block = max(chunk, self.NOISE_BLOCK // per_vec // chunk * chunk)
        try:
            for blo in range(0, B, block):
                bhi = min(B, blo + block)
                z_idx = self._noise.rows((bhi - blo) * n_draw, cols=sel)
                zc_idx = self._cmp_noise.rows((bhi - blo) * n_cmp, sel)
                for lo in range(blo, bhi, chunk):
                    hi = min(bhi, lo + chunk)
                    self._z, self._z_first, self._z_step = z_idx, (lo - blo) * n_draw, n_draw
                    self._zc, self._zc_first, self._zc_step = zc_idx, (lo - blo) * n_cmp, n_cmp
                    self._zi = self._zci = 0
                    parts.append(self._run_steps(x[lo:hi], cfg, st,
                                                 None if noise is None else noise[lo:hi], sel))
        finally:
            self._z = self._zc = None
            self.neurons = full_bank
            self._reset_state(1)
        res = [np.concatenate([pt[i] for pt in parts]) for i in range(len(parts[0]))]
        if order is not None:
            res = [r[:, order] for r in res]
        if squeeze:
            res = [r[0] for r in res]
        return tuple(res) if cfg.two_phase else res[0]

    def _run_steps(self, x: np.ndarray, cfg, st, noise, sel=None) -> list:
        B = x.shape[0]
        mode = int(cfg.mode)
        backward = int(cfg.dir) == int(C.Direction.BWD)
        wl = C.row_mask(cfg)
        segs = C.segments(cfg)
        vread = self.p.vread_volts(int(cfg.vread))
        vnoise = self.p.vnoise_volts(int(cfg.vnoise))
        width = float(cfg.wl_ns)
        take_sl = (not backward) if mode == int(Mode.MVM) else backward
        seg = -1
        n_out = N_LINES if sel is None else sel.size
        results, bits = [], []
        driven_v = None
        cmp = None
        # each segment's conversion steps, run in one compiled loop when numba is there
        conv = [[("COMPARE",), ("LATCH",), ("WR", g, 0)]
                + [t for c in range(1, k) for t in (("DECR", int(cfg.vdecr), c - 1), ("INTEG",),
                                                    ("COMPARE",), ("LATCH",), ("WR", g, c))]
                for g, k in enumerate(seg.out_bits for seg in segs)]
        if mode == int(Mode.NEURON_TEST):
            sgn, mag = C.line_sign_magnitude(x, cfg)
            sv = sgn.astype(DT) * DT(vread)
        else:
            plan = self._plan(backward, wl)
            view = plan.columns(sel)
            rows = plan.rows
            # Only the input lines with enabled cells are needed (a prefix of the rows
            # forward); differential pairs drive with one sign per pair.
            r_hi = int(rows[-1]) + 1 if rows.size else 0
            pairs = bool(cfg.diff_in) and plan.pairs
            r_even = r_hi + (r_hi & 1)
            if pairs:                     # line 2i carries entry 2i's own polarity
                sgn, mag = C.entry_sign_magnitude(x[:, rows[0::2]], cfg)
            else:
                sgn, mag = C.line_sign_magnitude(x[:, :r_even], cfg)
                sgn, mag = sgn[:, rows], mag[:, rows]
            sgn = sgn.astype(DT)          # drive signs as the products' float32 operands
            full = []

            def all_signs(p):
                # every input line's drive (coupling only): computed on demand
                if not full:
                    full.extend(C.line_sign_magnitude(x, cfg))
                return full[0] * ((full[1] >> p) & 1)

            # Input lines beyond the enabled rows usually carry nothing (a mid-level job
            # loads zeros there): then the coupling's line counts come from ``d`` alone.
            rest_idle = (np.array_equal(rows, np.arange(r_hi))
                         and not C.entry_sign_magnitude(x[:, r_even:], cfg)[1].any())

            def counts_of(d, q):
                if not rest_idle:
                    a = all_signs(q)
                    return (a > 0).sum(axis=1), (a < 0).sum(axis=1)
                if pairs:
                    nz = np.count_nonzero(d, axis=1)
                    return nz, nz
                return (d > 0).sum(axis=1), (d < 0).sum(axis=1)
        i = -1
        while i + 1 < len(st):
            i += 1
            s = st[i]
            kind = s[0]
            if kind not in ("SAMPLE", "INTEG"):
                self._flush_run()
            if kind == "COMPARE" and _kernels.KERNELS and st[i:i + len(conv[seg])] == conv[seg]:
                bits = self._convert(B, segs[seg].out_bits, conv[seg])
                i += len(conv[seg]) - 2          # on to the segment's last WR
                continue
            if kind == "RESET":
                if mode in (int(Mode.MVM), int(Mode.NEURON_TEST)):
                    self.elapse()
                    if mode == int(Mode.MVM):
                        plan = self._plan(backward, wl)    # relaxed cells: a new plan
                        view = plan.columns(sel)
                self._reset_state(B, n_out)
                bits = []
                seg += 1
            elif kind == "WL":
                if mode == int(Mode.NEURON_TEST):
                    a = sv * ((mag >> s[2]) & 1)
                    self._materialise()
                    if backward:
                        self._v_sl = a[:, C.NEURON_SL]
                    else:
                        self._v_bl = a
                    driven_v = self._v_sl if backward else self._v_bl
                else:
                    d = sgn * ((mag >> s[2]) & 1)
                    self._wl_step(backward, view, d, pairs, vread, width,
                                  lambda q=s[2]: all_signs(q),
                                  lambda d=d, q=s[2]: counts_of(d, q))
            elif kind == "SAMPLE":
                self._sample_event(take_sl, driven_v)
            elif kind == "INTEG":
                self._integ_event()
            elif kind == "NOISE":
                self.neurons.inject(noise[:, seg, s[1]], vnoise)
            elif kind == "COMPARE":
                cmp = self._compare_step(B)
                bits.append(cmp)
            elif kind == "LATCH":
                self.neurons.set_latch(cmp)
            elif kind == "DECR":
                self.neurons.decrement(self.p.vdecr_volts(s[1], s[2]), 0)
            elif kind == "WR" and s[2] == segs[s[1]].out_bits - 1:
                g = s[1]
                results.append(_codes(bits if not isinstance(bits, list) else np.stack(bits, axis=1),
                                      int(cfg.act),
                                      None if sel is not None else lambda a, g=g: C.route(a, cfg, g)))
        return results

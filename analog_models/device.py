"""RRAM device model: a population of 1T1R cells under SET / RESET / READ pulses.

Physics (compact, phenomenological; parameters in :class:`~analog_models.params.AnalogParams`)

* **SET** (BL at the pulse amplitude, SL at ground) grows the filament: the mean step is
  ``set_k0 * exp((V - set_v0) / v_slope) * (width / 1 µs) ** width_exp * h_set(G)`` with
  ``h_set = 2 (g_ceil - G) / (g_ceil - g_floor)`` -- the step shrinks as the cell
  saturates. **RESET** (SL at the amplitude) dissolves it: the same law with
  ``reset_k0``, ``reset_v0`` and ``h_reset = 2 ((G - g_floor) / (g_ceil - g_floor)) ** 0.5``
  (a nearly reset cell has little filament left to remove, so RESET steps shrink near
  gmin). Both are exponential in voltage (field-driven ion hopping).
* **Every cell draws its own randomness**: the ``n``-th pulse, read or relaxation of a
  cell takes its Gaussian draws from a counter-based stream keyed by (seed, kind, cell,
  ``n``), not from one generator shared in programming order. Programming a slightly
  different matrix on the same chip instance (a fine-tuned layer) therefore changes only
  the cells whose pulse sequence changes; the others land exactly where they did, so two
  techniques compared on one seed differ by what the techniques change, not by a
  reshuffled chip.
* **Cycle-to-cycle stochasticity**: every step is multiplied by a lognormal factor
  (``step_sigma``) and receives an additive Gaussian jitter (``step_jitter``), so a cell
  can overshoot and the write-verify loop bounces, as in the paper's Extended Data Fig. 3b.
* **Read**: the board ADC measures ``G`` plus read noise (``board_noise_rel * G`` and
  ``board_noise_abs`` in quadrature; a read averages over microseconds, so it is quieter
  than the 10 ns WL pulse of an MVM, whose noise is ``read_noise_*`` in array.py),
  quantised to ``board_adc_lsb``.
* **Relaxation**: a freshly programmed cell jumps once, within the first second, by a
  Gaussian of std ``relax_floor + relax_peak * x * exp(1 - x)``, ``x = (G0 - g_floor) /
  relax_g_peak`` (peaks near 12 µS as the paper measured) and mean ``relax_mean_shift``.
  Near gmin the distribution folds at ``g_floor`` (a cell cannot go below its deepest
  reset state), which is why it is not Gaussian there.

``write_verify`` and ``iterative_program`` run the programming algorithm of
:mod:`analog_models.programming` (SPEC §5; the firmware's) directly on this model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .params import AnalogParams
from .programming import WriteVerifyConfig, program_passes, write_verify_cells


# splitmix64's finaliser (Steele, Lea & Flood 2014), vectorised on uint64 arrays: a
# bijective mix with full avalanche, so hashing (key, cell, count) gives independent words.
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S32 = (np.uint64(k) for k in (30, 27, 31, 32))
_PULSE, _READ, _RELAX = 0, 1, 2          # the kinds of draw, each with its own counter


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    return x ^ (x >> _S31)


def cell_normals(key, cells: np.ndarray, counts: np.ndarray):
    """Two standard normals per cell: draw ``counts`` of the cells ``cells`` (flat indices)
    in the stream ``key`` (a uint64), by Box-Muller from the two 32-bit halves of one hash."""
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(key) ^ _mix(cells.astype(np.uint64) * _GOLDEN + counts.astype(np.uint64)))
    u1 = ((h >> _S32).astype(np.float64) + 0.5) * 2.0**-32
    u2 = ((h & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(2.0 * np.pi * u2), r * np.sin(2.0 * np.pi * u2)


def _finite_array(x, name):
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return a


class RRAMDevice:
    """A population of RRAM cells (any shape, e.g. one core's 256 x 256 array).

    Parameters
    ----------
    g_init : array_like
        Initial conductances in µS, each within ``[g_floor, g_ceil]`` of ``params``.
    params : AnalogParams, optional
    seed : int
        Seed (int, sequence of ints or SeedSequence) of the device-to-device variation and
        of every cell's own streams of pulse responses, reads and relaxation.
    """

    def __init__(self, g_init, params: AnalogParams | None = None, seed: int = 0):
        self.p = params or AnalogParams()
        g = _finite_array(g_init, "g_init")
        self._check_range(g, "g_init")
        self.G = g.copy()
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(seq)
        # keys of the per-cell streams (a spawned child: independent of ``rng``'s words)
        self._keys = seq.spawn(1)[0].generate_state(3, np.uint64)
        self._cell = np.arange(g.size, dtype=np.uint64).reshape(g.shape)
        self.draws = np.zeros((3,) + g.shape, dtype=np.uint32)   # per kind: draws so far
        # Device-to-device variation: each cell has its own switching speed and its own
        # saturated-SET conductance; the slowest / lowest-ceiling cells are the ones that
        # time out (the paper's 1% outside the window).
        p = self.p
        self.k_cell = np.exp(p.d2d_sigma * self.rng.standard_normal(g.shape) - 0.5 * p.d2d_sigma**2)
        self.g_ceil_cell = np.clip(p.g_ceil + p.g_ceil_sigma * self.rng.standard_normal(g.shape),
                                   np.maximum(g, p.g_floor + 1.0), p.g_ceil + 3 * p.g_ceil_sigma)
        self.fresh = np.zeros(g.shape, dtype=bool)  # programmed since the last relaxation
        self.any_fresh = False                      # cheap test before scanning ``fresh``

    def _normals(self, kind: int, idx):
        """The next pair of normals of every cell ``idx`` in stream ``kind``."""
        count = self.draws[kind][idx]
        z = cell_normals(self._keys[kind], self._cell[idx], count)
        self.draws[kind][idx] = count + 1
        return z

    def _check_range(self, g, name):
        lo, hi = self.p.g_floor, self.p.g_ceil
        if g.size and (g.min() < lo - 1e-9 or g.max() > hi + 1e-9):
            raise ValueError(f"{name} must be within the device range [{lo}, {hi}] µS, "
                             f"got [{g.min():.3g}, {g.max():.3g}]")

    # ------------------------------------------------------------------------------
    def step_mean(self, op: str, amplitude, g, width_ns=1000.0, k=1.0, g_ceil=None):
        """Mean conductance change (µS, signed) of one pulse on cells at ``g``.

        ``k`` is the cells' switching-speed factor and ``g_ceil`` their saturation
        conductance (default: the population's ``g_ceil``).
        """
        p = self.p
        g_ceil = p.g_ceil if g_ceil is None else g_ceil
        amplitude = np.asarray(amplitude, dtype=np.float64)
        wf = (np.asarray(width_ns, dtype=np.float64) / p.ref_width_ns) ** p.width_exp
        span = p.g_ceil - p.g_floor
        if op == "set":
            h = 2.0 * np.clip(g_ceil - g, 0.0, None) / span
            return k * p.set_k0 * np.exp((amplitude - p.set_v0) / p.v_slope) * wf * h
        if op == "reset":
            h = 2.0 * np.sqrt(np.clip(g - p.g_floor, 0.0, None) / span)
            return -k * p.reset_k0 * np.exp((amplitude - p.reset_v0) / p.v_slope) * wf * h
        raise ValueError(f"op must be 'set' or 'reset', got {op!r}")

    def apply_pulse(self, op: str, amplitude, width_ns=1000.0, index=None):
        """Apply one SET or RESET pulse to the cells ``index`` (all cells if None).

        ``amplitude`` (V) and ``width_ns`` may be scalars or arrays matching ``index``.
        Amplitudes outside 0-5 V or widths outside 1 ns - 1 ms raise ``ValueError``.
        """
        amplitude = _finite_array(amplitude, "amplitude")
        width_ns = _finite_array(width_ns, "width_ns")
        if np.any((amplitude < 0) | (amplitude > 5.0)):
            raise ValueError("amplitude must be within 0..5 V")
        if np.any((width_ns < 1.0) | (width_ns > 1e6)):
            raise ValueError("width_ns must be within 1..1e6 ns")
        idx = (slice(None),) if index is None else index
        g = self.G[idx]
        gc = self.g_ceil_cell[idx]
        mean = self.step_mean(op, amplitude, g, width_ns, self.k_cell[idx], gc)
        # Multiplicative lognormal spread with unit mean, plus additive jitter.
        s = self.p.step_sigma
        z_mult, z_jitter = self._normals(_PULSE, idx)
        mult = np.exp(s * z_mult - 0.5 * s * s)
        jitter = self.p.step_jitter * z_jitter
        # Jitter scales with the pulse strength, so a sub-threshold pulse does nothing.
        strength = np.minimum(np.abs(mean) / max(self.p.set_k0, 1e-12), 1.0)
        new = g + mean * mult + np.sign(mean) * jitter * strength
        self.G[idx] = np.clip(new, self.p.g_floor, gc)
        fresh = self.fresh[idx]
        self.fresh[idx] = True if np.ndim(fresh) == 0 else np.ones_like(fresh)
        self.any_fresh = True

    def mark_fresh(self, index=None) -> None:
        """Mark cells as just programmed (they relax at the next :meth:`relax`)."""
        self.fresh[(slice(None),) if index is None else index] = True
        self.any_fresh = True

    def read(self, index=None, noisy: bool = True) -> np.ndarray:
        """Board-ADC measurement of the cells ``index`` (µS), with read noise."""
        idx = (slice(None),) if index is None else index
        g = np.asarray(self.G[idx], dtype=np.float64)
        if noisy and self.p.read_noise:
            sd = np.hypot(self.p.board_noise_rel * g, self.p.board_noise_abs)
            g = g + sd * self._normals(_READ, idx)[0]
        if self.p.board_adc_lsb > 0:
            g = np.round(g / self.p.board_adc_lsb) * self.p.board_adc_lsb
        return g

    # ------------------------------------------------------------------------------
    def relax_std(self, g0) -> np.ndarray:
        """Standard deviation (µS) of the relaxation of a cell programmed to ``g0``."""
        p = self.p
        x = np.clip(np.asarray(g0, dtype=np.float64) - p.g_floor, 0.0, None) / p.relax_g_peak
        return p.relax_floor + p.relax_peak * x * np.exp(1.0 - x)

    def relax(self) -> int:
        """Apply the post-programming relaxation to every freshly programmed cell.

        Returns the number of cells that relaxed. Without the ``relaxation`` switch the
        cells are only marked as settled.
        """
        if not self.any_fresh:
            return 0
        mask = self.fresh
        n = int(mask.sum())
        if n and self.p.relaxation:
            g0 = self.G[mask]
            d = self.p.relax_mean_shift + self.relax_std(g0) * self._normals(_RELAX, mask)[0]
            # Fold at the deepest reset state: the non-Gaussian shape near gmin.
            self.G[mask] = np.minimum(self.p.g_floor + np.abs(g0 + d - self.p.g_floor),
                                      self.p.g_ceil)
        self.fresh[...] = False
        self.any_fresh = False
        return n


# ----------------------------------------------------------------------------------
class DeviceCells:
    """The cells ``index`` of a :class:`RRAMDevice`, reached directly (a
    :class:`~analog_models.programming.CellAccess`): vectorised reads and pulses, and
    relaxation for the settling between passes."""

    def __init__(self, device: RRAMDevice, index=None, width_ns: float = 1000.0,
                 on_pulse=None):
        self.device = device
        self.on_pulse = on_pulse    # called after every pulse step (e.g. to drop cached plans)
        sel = (slice(None),) if index is None else index
        self.shape = np.shape(device.G[sel])
        self.flat = np.arange(device.G.size).reshape(device.G.shape)[sel].ravel()
        self.width_ns = width_ns

    def _idx(self, cells):
        return np.unravel_index(self.flat[cells], self.device.G.shape)

    def read(self, cells) -> np.ndarray:
        return self.device.read(self._idx(cells))

    def pulse(self, cells, polarity, amp_v) -> None:
        for op, sign in (("set", 1), ("reset", -1)):
            m = polarity == sign
            if m.any():
                self.device.apply_pulse(op, amp_v[m], self.width_ns, self._idx(cells[m]))
        if self.on_pulse is not None:
            self.on_pulse()

    def settle(self) -> None:
        self.device.relax()


# Keyword names this module's write_verify took before it ran the shared algorithm.
_OLD_NAMES = {"v_set0": "set_v0", "v_reset0": "reset_v0", "v_step": "step_v", "tol": "tol_uS"}


def _config(config: WriteVerifyConfig | None, overrides: dict) -> WriteVerifyConfig:
    if config is not None and not isinstance(config, WriteVerifyConfig):
        raise TypeError(f"config must be a WriteVerifyConfig, not {config!r}")
    fields = {_OLD_NAMES.get(k, k): v for k, v in overrides.items()}
    unknown = set(fields) - set(WriteVerifyConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown write-verify settings {sorted(unknown)}")
    return dataclasses.replace(config or WriteVerifyConfig(), **fields).validate()


def _targets(device: RRAMDevice, targets, index) -> np.ndarray:
    t = _finite_array(targets, "targets")
    device._check_range(t, "targets")
    shape = np.shape(device.G[(slice(None),) if index is None else index])
    if t.shape != shape:
        raise ValueError(f"targets must have shape {shape}, got {t.shape}")
    return t


def write_verify(device: RRAMDevice, targets, index=None, config: WriteVerifyConfig | None = None,
                 **settings) -> dict:
    """One write-verify pass (:func:`analog_models.programming.write_verify_cells`, the
    algorithm the firmware runs through the chip) on the cells ``index`` of ``device``.

    Parameters
    ----------
    device : RRAMDevice
    targets : array_like
        Target conductances (µS), shape of ``device.G[index]``, within
        ``[g_floor, g_ceil]``.
    index : tuple or array, optional
        Cells to program (numpy index into ``device.G``); all cells if None.
    config : WriteVerifyConfig, optional
        The settings (the paper's by default); ``settings`` override single fields
        (``tol_uS=0.5``; the former names ``v_set0``, ``v_reset0``, ``v_step``, ``tol``
        are accepted too).

    Returns
    -------
    dict with ``pulses`` (int array per cell), ``success`` (bool: the last read is inside
    the window), ``reversals``, ``timed_out`` and ``final`` (the last read of each cell, what
    the host knows of it afterwards), each of the shape of the targets.
    """
    cfg = _config(config, settings)
    t = _targets(device, targets, index)
    access = DeviceCells(device, index, cfg.width_ns)
    r = write_verify_cells(access, t.ravel(), cfg)
    return {"pulses": r.pulses.reshape(t.shape), "success": r.ok.reshape(t.shape),
            "reversals": r.reversals.reshape(t.shape), "timed_out": r.timed_out.reshape(t.shape),
            "final": r.g.reshape(t.shape)}


def iterative_program(device: RRAMDevice, targets, index=None, passes: int = 3,
                      config: WriteVerifyConfig | None = None, **settings) -> dict:
    """Iterative programming (:func:`analog_models.programming.program_passes`, as the
    firmware runs it): write-verify, let the cells relax, then ``passes - 1`` more times
    re-measure every cell and re-program those outside the window, each followed by
    relaxation.

    Returns a dict with ``pulses`` (total per cell), ``first`` (the first pass's
    :func:`write_verify`-style result), ``after_pass`` (conductances without read noise
    after each pass's relaxation), ``success`` (the first pass's) and ``final`` (the
    last board-ADC read of every cell).
    """
    if not isinstance(passes, (int, np.integer)) or passes < 1:
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    cfg = _config(config, {**settings, "passes": int(passes)})
    t = _targets(device, targets, index)
    sel = (slice(None),) if index is None else index
    access = DeviceCells(device, index, cfg.width_ns)
    after = []
    res = program_passes(access, t.ravel(), cfg,
                         on_settled=lambda _: after.append(device.G[sel].copy()))
    f = res.first
    first = {"pulses": f.pulses.reshape(t.shape), "success": f.ok.reshape(t.shape),
             "reversals": f.reversals.reshape(t.shape), "timed_out": f.timed_out.reshape(t.shape)}
    return {"pulses": res.pulses.reshape(t.shape), "first": first, "after_pass": after,
            "success": first["success"], "final": res.g.reshape(t.shape)}

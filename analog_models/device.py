"""RRAM device model: a population of 1T1R cells under SET / RESET / READ pulses.

Physics (compact, phenomenological; parameters in :class:`~analog_models.params.AnalogParams`)

* **SET** (BL at the pulse amplitude, SL at ground) grows the filament: the mean step is
  ``set_k0 * exp((V - set_v0) / v_slope) * (width / 1 µs) ** width_exp * h_set(G)`` with
  ``h_set = 2 (g_ceil - G) / (g_ceil - g_floor)`` -- the step shrinks as the cell
  saturates. **RESET** (SL at the amplitude) dissolves it: the same law with
  ``reset_k0``, ``reset_v0`` and ``h_reset = 2 ((G - g_floor) / (g_ceil - g_floor)) ** 0.5``
  (a nearly reset cell has little filament left to remove, so RESET steps shrink near
  gmin). Both are exponential in voltage (field-driven ion hopping).
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

``write_verify`` and ``iterative_program`` implement the paper's programming algorithm
(SPEC §5) against this model.
"""

from __future__ import annotations

import numpy as np

from .params import AnalogParams


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
        Seed of the device's random generator (pulse responses, reads, relaxation).
    """

    def __init__(self, g_init, params: AnalogParams | None = None, seed: int = 0):
        self.p = params or AnalogParams()
        g = _finite_array(g_init, "g_init")
        self._check_range(g, "g_init")
        self.G = g.copy()
        self.rng = np.random.default_rng(seed)
        # Device-to-device variation: each cell has its own switching speed and its own
        # saturated-SET conductance; the slowest / lowest-ceiling cells are the ones that
        # time out (the paper's 1% outside the window).
        p = self.p
        self.k_cell = np.exp(p.d2d_sigma * self.rng.standard_normal(g.shape) - 0.5 * p.d2d_sigma**2)
        self.g_ceil_cell = np.clip(p.g_ceil + p.g_ceil_sigma * self.rng.standard_normal(g.shape),
                                   np.maximum(g, p.g_floor + 1.0), p.g_ceil + 3 * p.g_ceil_sigma)
        self.fresh = np.zeros(g.shape, dtype=bool)  # programmed since the last relaxation
        self.any_fresh = False                      # cheap test before scanning ``fresh``

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
        mult = np.exp(s * self.rng.standard_normal(np.shape(g)) - 0.5 * s * s)
        jitter = self.p.step_jitter * self.rng.standard_normal(np.shape(g))
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
            g = g + sd * self.rng.standard_normal(np.shape(g))
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
            d = self.p.relax_mean_shift + self.relax_std(g0) * self.rng.standard_normal(n)
            # Fold at the deepest reset state: the non-Gaussian shape near gmin.
            self.G[mask] = np.minimum(self.p.g_floor + np.abs(g0 + d - self.p.g_floor),
                                      self.p.g_ceil)
        self.fresh[...] = False
        self.any_fresh = False
        return n


# ----------------------------------------------------------------------------------
def write_verify(device: RRAMDevice, targets, index=None, *, v_set0: float = 1.2,
                 v_reset0: float = 1.5, v_step: float = 0.1, v_max: float = 2.55,
                 width_ns: float = 1000.0, tol: float = 1.0, max_reversals: int = 30,
                 max_pulses: int = 100) -> dict:
    """Incremental-pulse write-verify (paper, Methods; SPEC §5), vectorised over cells.

    For every cell: read; while below ``target - tol`` apply SET pulses starting at
    ``v_set0`` and rising by ``v_step`` each pulse; once above ``target + tol`` reverse to
    RESET pulses starting at ``v_reset0``, rising the same way (each reversal restarts
    the ramp of the new polarity); stop when a read falls within ``±tol`` or after
    ``max_reversals`` polarity reversals. Amplitudes saturate at ``v_max`` (the 8-bit,
    10 mV/code programming DAC).

    Parameters
    ----------
    device : RRAMDevice
    targets : array_like
        Target conductances (µS), shape of ``device.G[index]``, within
        ``[g_floor, g_ceil]``.
    index : tuple or array, optional
        Cells to program (numpy index into ``device.G``); all cells if None.

    Returns
    -------
    dict with ``pulses`` (int array per cell), ``success`` (bool array: last read inside
    the window before the timeout), ``reversals`` (int array) and ``final`` (float
    array: the last read of each cell, what the host knows of it afterwards).
    """
    t = _finite_array(targets, "targets")
    device._check_range(t, "targets")
    if tol <= 0:
        raise ValueError(f"tol must be > 0 µS, got {tol!r}")
    if max_reversals < 0:
        raise ValueError(f"max_reversals must be >= 0, got {max_reversals!r}")
    sel = (slice(None),) if index is None else index
    shape = np.shape(device.G[sel])
    if t.shape != shape:
        raise ValueError(f"targets must have shape {shape}, got {t.shape}")
    flat_idx = np.arange(device.G.size).reshape(device.G.shape)[sel].ravel()
    t = t.ravel()
    n = t.size
    pulses = np.zeros(n, dtype=np.int64)
    reversals = np.zeros(n, dtype=np.int64)
    polarity = np.zeros(n, dtype=np.int8)      # 0 none yet, +1 SET, -1 RESET
    amp = np.zeros(n)
    active = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    final = np.full(n, np.nan)
    for _ in range(max_pulses):
        if not active.any():
            break
        ai = np.flatnonzero(active)
        g = device.read(np.unravel_index(flat_idx[ai], device.G.shape))
        final[ai] = g
        err = g - t[ai]
        ok = np.abs(err) <= tol
        success[ai[ok]] = True
        active[ai[ok]] = False
        ai, err = ai[~ok], err[~ok]
        want = np.where(err < 0, 1, -1).astype(np.int8)
        flip = (polarity[ai] != 0) & (want != polarity[ai])
        reversals[ai[flip]] += 1
        timed_out = reversals[ai] > max_reversals
        active[ai[timed_out]] = False
        ai, want, flip = ai[~timed_out], want[~timed_out], flip[~timed_out]
        restart = flip | (polarity[ai] == 0)
        amp[ai] = np.where(restart, np.where(want > 0, v_set0, v_reset0),
                           np.minimum(amp[ai] + v_step, v_max))
        polarity[ai] = want
        for op, sign in (("set", 1), ("reset", -1)):
            m = ai[want == sign]
            if m.size:
                device.apply_pulse(op, amp[m], width_ns,
                                   np.unravel_index(flat_idx[m], device.G.shape))
        pulses[ai] += 1
    return {"pulses": pulses.reshape(shape), "success": success.reshape(shape),
            "reversals": reversals.reshape(shape), "final": final.reshape(shape)}


def iterative_program(device: RRAMDevice, targets, index=None, passes: int = 3,
                      tol: float = 1.0, **wv_kwargs) -> dict:
    """Iterative programming (paper, Methods): write-verify, let the cells relax, then
    ``passes - 1`` more times re-measure every cell and re-program those outside the
    ``±tol`` window, each followed by relaxation.

    Returns a dict with ``pulses`` (total per cell), ``first`` (the first pass's
    write-verify result), ``after_pass`` (list of conductance arrays measured without
    noise after each pass's relaxation) and ``success``.
    """
    if not isinstance(passes, (int, np.integer)) or passes < 1:
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    sel = (slice(None),) if index is None else index
    t = _finite_array(targets, "targets")
    first = write_verify(device, t, sel, tol=tol, **wv_kwargs)
    pulses = first["pulses"].copy()
    device.relax()
    after = [device.G[sel].copy()]
    flat_idx = np.arange(device.G.size).reshape(device.G.shape)[sel]
    for _ in range(passes - 1):
        g = device.read(sel)
        out = np.abs(g - t) > tol
        if out.any():
            sub = np.unravel_index(flat_idx[out], device.G.shape)
            r = write_verify(device, t[out], sub, tol=tol, **wv_kwargs)
            pulses[out] += r["pulses"]
        device.relax()
        after.append(device.G[sel].copy())
    return {"pulses": pulses, "first": first, "after_pass": after,
            "success": first["success"]}

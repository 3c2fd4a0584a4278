"""The transposable neurosynaptic array (TNSA): settling of floating lines.

Geometry: ``G[r, c]`` is the cell between BL/WL row ``r`` and SL column ``c``. A WL
enables every cell of its row. In a forward (BL -> SL) or recurrent MVM the BLs are
driven and the SLs float; in a backward MVM (SL -> BL) the SLs are driven and the BLs
float. Either way the model works on an *input-major* matrix ``Gin[i, o]`` (input line
``i``, output line ``o``): ``G`` masked by the enabled WLs for forward, its transpose
for backward.

Physics of one WL pulse (per output line ``o``, per vector of the batch)

* Ideal settled voltage (deviation from Vref): the conductance-weighted average
  ``sum_i a_i Gin[i,o] / sum_i Gin[i,o]`` of the input deviations ``a_i``.
* (1) **input drop** ``R_write``: each driver's gate and routing drop ``R_write * I_i``;
  with the output lines near Vref, ``I_i ~= a_i * sum_o Gin[i,o]`` so the line sits at
  ``a_i / (1 + R_write * g_i)``.
* (2) **driver drop** ``R_driver``: the Vref+Vread and Vref-Vread rails are shared by
  all drivers of the core (and of every core running in parallel); each rail droops by
  ``R_driver * n_parallel_cores * I_rail``, an input-dependent, non-linear gain. The rail
  current is taken with the output lines at their mean-field average.
* (3) **wire resistance** ``R_wire`` per cell pitch along the input lines: the cell at
  position ``o`` sees ``a_i * (1 - R_wire * sum_{k<=o} sum_{l>=k} Gin[i,l])`` (the
  current of all cells beyond a segment flows through it). Checked against
  :func:`exact_settle` (full nodal solve, wires on input *and* output lines).
* **read noise**: conductance fluctuations ``sigma_G = hypot(rel*G, abs)`` give the
  output voltage a Gaussian error of variance ``sum_i sigma_G² a_i² / (sum_i G)²``
  (the small cross term with the output voltage itself is neglected; the variance matrix
  is used through a rank-16 SVD factorisation for speed).
* **settling**: the line relaxes exponentially with ``tau = C_line / sum_i Gin[i,o]``
  from its previous voltage (fF / µS = ns); a pulse short against ``tau`` leaves part of
  the previous charge on the line.
* (6) **coupling**: when the input lines switch at the start of a pulse, each output line
  receives ``c_cross * sum_i delta a_i / C_line`` through the line crossings (removed by
  settling if the pulse is long enough; differential inputs cancel it); when the WL
  falls, the gate overlap of the enabled cells pulls the output line by
  ``-c_wl_overlap * V_WL * n_cells / C_line``.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from . import _kernels
from ._rng import NO_NORMALS, StreamNormals
from .params import AnalogParams


NOISE_RANK = 16
_UNSET = object()
_NO_Z = np.zeros((0, 0), dtype=np.float32)
_NO_COUNTS = np.zeros(1, dtype=np.int64)


class ArrayPlan:
    """Per-configuration constants of one (G, direction, WL mask), computed once.

    Attributes
    ----------
    geff : (n_in, n_out) effective conductance of the numerator (drops folded in)
    gin : (n_in, n_out) masked conductance
    denom : (n_out,) sum of conductances per output line (µS)
    g_in : (n_in,) conductance seen by each input driver (µS)
    f_write : (n_in,) input-drop factor
    noise_var : (n_in, n_out) read-noise variance of each cell (µS²)
    tau : (n_out,) settling time constant (ns)
    wl_kick : (n_out,) WL falling-edge coupling (V)
    c_out : float, output line capacitance (fF)
    """

    def __init__(self, G: np.ndarray, backward: bool, wl_mask: np.ndarray, p: AnalogParams,
                 out_perm: np.ndarray | None = None):
        m = wl_mask.astype(np.float64)
        if backward:
            gin = (G * m[:, None]).T          # inputs are SLs (columns), outputs BLs (rows)
            c_out = p.c_bl
        else:
            gin = G * m[:, None]              # inputs are BLs (rows), outputs SLs
            c_out = p.c_sl
        self.gin = gin
        self.c_out = c_out
        self.denom = gin.sum(axis=0)
        self.g_in = gin.sum(axis=1)
        self.f_write = (1.0 / (1.0 + p.r_write * 1e-6 * self.g_in) if p.input_drop
                        else np.ones_like(self.g_in))
        geff = gin * self.f_write[:, None]
        n_out = gin.shape[1]
        # Feedback of the output voltages on the drops (first order): the current of
        # cell (i, l) is G[i,l] (a_i - v_l), so the v_l part raises the input-line
        # voltages again. Its contribution to output o's numerator is linear in v:
        # (v @ K)[o] with K precomputed below.
        K = np.zeros((n_out, n_out))
        if p.input_drop:
            K += p.r_write * 1e-6 * (gin.T * self.f_write) @ gin
        if p.wire:
            geff = geff * wire_factor(gin, p.r_wire)
            pos = np.arange(n_out)
            span = np.minimum.outer(pos, pos) + 1.0          # segments shared by l and o
            K += p.r_wire * 1e-6 * span * (gin.T @ gin)
        self.geff = np.ascontiguousarray(geff)
        self.fb = np.ascontiguousarray(K) if (p.input_drop or p.wire) else None
        if p.read_noise:
            self.noise_var = np.ascontiguousarray(
                np.where(gin > 0, (p.read_noise_rel * gin) ** 2 + p.read_noise_abs**2, 0.0))
        else:
            self.noise_var = None
        with np.errstate(divide="ignore"):
            self.inv_denom = np.where(self.denom > 0, 1.0 / np.where(self.denom > 0, self.denom, 1), 0.0)
            self.tau = np.where(self.denom > 0, c_out / np.where(self.denom > 0, self.denom, 1), np.inf)
        n_cells = (gin > 0).sum(axis=0)
        self.wl_kick = (-p.c_wl_overlap * p.v_wl * n_cells / c_out if p.coupling
                        else np.zeros(gin.shape[1]))
        self.connected = self.denom > 0
        # Conductance each rail feeds through a driver (for the driver-drop model).
        self.rail_g = self.g_in * self.f_write
        if out_perm is not None:
            # Store the output side in another order (e.g. neuron order); every physical
            # position-dependent term was computed above in line order.
            for name in ("gin", "geff", "noise_var"):
                v = getattr(self, name)
                if v is not None:
                    setattr(self, name, np.ascontiguousarray(v[:, out_perm]))
            for name in ("denom", "inv_denom", "tau", "wl_kick", "connected"):
                setattr(self, name, getattr(self, name)[out_perm])
            if self.fb is not None:
                self.fb = np.ascontiguousarray(self.fb[np.ix_(out_perm, out_perm)])
        # One matrix for the whole linear part: target = a @ m_lin, where
        # m_lin = (geff + (geff / D) @ fb) / D folds the output-voltage feedback in.
        m = self.geff * self.inv_denom
        if self.fb is not None:
            m = m + (m @ self.fb) * self.inv_denom
        self.m_lin = np.ascontiguousarray(m.astype(np.float32))
        self.rail_g32 = self.rail_g.astype(np.float32)
        self.rail_g_sum = float(self.rail_g.sum())
        self.all_connected = bool(self.connected.all())
        self.wl_kick32 = self.wl_kick.astype(np.float32)
        self._decay = {}
        self._views = {}
        # Read-noise variance through a rank-NOISE_RANK factorisation of the per-cell
        # variance matrix (SVD): var = (a² @ U) @ V costs 2 x 256 x r per vector instead
        # of a full matrix product; it only sets the size of a noise term and its error
        # is checked in the tests (noise std within 3 % on average, 12 % at worst, for
        # random arrays).
        self.noise_u = self.noise_v = None
        if self.noise_var is not None:
            S = self.noise_var * self.inv_denom**2
            # One BLAS thread: on a loaded machine OpenBLAS's threads spin against the
            # other processes and a 256 x 256 SVD takes seconds instead of milliseconds.
            with threadpool_limits(limits=1, user_api="blas"):
                u, sv, vt = np.linalg.svd(S, full_matrices=False)
            r = min(NOISE_RANK, len(sv))
            self.noise_u = np.ascontiguousarray((u[:, :r] * sv[:r]).astype(np.float32))
            self.noise_v = np.ascontiguousarray(vt[:r].astype(np.float32))
        self._fixed_point(wl_mask, backward)

    def _fixed_point(self, wl_mask: np.ndarray, backward: bool) -> None:
        """The matrices :func:`settle_drive` multiplies, on fixed-point grids.

        Only the input lines with enabled cells take part (``rows``: the pulsed WLs of a
        forward MVM, every SL of a backward one); the others carry no current. The drive
        of an input line is a sign (-1, 0, +1) times a per-vector rail amplitude, so
        every product is a sum of matrix entries with signs. On a grid of step
        ``2**-e`` chosen so that twice the largest column sum is below ``2**24`` steps,
        every partial sum is exactly representable in float32: the products are exact
        whatever the order of summation, i.e. independent of BLAS blocking, of the batch
        size and of which output columns are computed. That is what lets a batched MVM
        compute only the outputs it reads and still equal the event path bit for bit.
        The grids (2**-22 of a unit column sum) are far below every analog noise.
        """
        n_in = self.gin.shape[0]
        if backward:
            rows = np.arange(n_in) if wl_mask.any() else np.zeros(0, np.int64)
        else:
            rows = np.flatnonzero(wl_mask[:n_in])
        self.rows = rows
        self.n_inputs = n_in
        # input lines in complete (2i, 2i+1) pairs: differential drive can use half-size
        # products (the pair's two lines always carry opposite signs)
        self.pairs = bool(rows.size and rows.size % 2 == 0 and np.array_equal(rows[0::2] + 1, rows[1::2])
                          and np.all(rows[0::2] % 2 == 0))
        self.mq = _on_grid(self.m_lin.astype(np.float64)[rows])
        self.railq = _on_grid(self.rail_g[rows][:, None])[:, 0].copy()
        self.uq = None if self.noise_u is None else _on_grid(self.noise_u.astype(np.float64)[rows], per_column=True)
        if self.pairs:
            self.md, self.ms = _pair_forms(self.mq)
            self.rail_d, self.rail_s = (a[:, 0].copy() for a in _pair_forms(self.railq[:, None]))
            self.ud, self.us = (None, None) if self.uq is None else _pair_forms(self.uq)
        self.noise_vq = self.noise_v_step = None
        if self.noise_v is not None:
            # second stage of the noise (rank r): 10-bit fixed point on both sides keeps
            # the r-term sums below 2**24 steps, exact in float32
            step = np.ldexp(1.0, int(np.frexp(max(float(np.abs(self.noise_v).max()), 1e-300))[1]) - NOISE_BITS)
            self.noise_vq = np.ascontiguousarray(np.rint(self.noise_v / step).astype(np.float32))
            self.noise_v_step = np.float32(step)

    def decay(self, width_ns: float, p: AnalogParams):
        """Residue of the previous charge after a pulse of ``width_ns`` per output (None:
        none anywhere)."""
        decay = self._decay.get(width_ns, _UNSET)
        if decay is _UNSET:
            decay = np.exp(-width_ns / self.tau)
            # A residue below 1e-5 of the step (0.1 µV per 10 mV) is far below every
            # noise in the model: flush it, which also avoids slow denormals. A pulse
            # that leaves no residue anywhere is stored as None.
            decay[decay < 1e-5] = 0.0
            decay = decay.astype(np.float32) if decay.any() else None
            self._decay[width_ns] = decay
        return decay

    def columns(self, sel: np.ndarray | None) -> "ArrayPlan | _Columns":
        """The plan restricted to the output columns ``sel`` (None: all of them)."""
        if sel is None:
            return self
        key = sel.tobytes()
        view = self._views.get(key)
        if view is None:
            if len(self._views) > 16:
                self._views.clear()
            view = self._views[key] = _Columns(self, sel)
        return view


def wire_factor(gin: np.ndarray, r_wire: float) -> np.ndarray:
    """First-order input-line wire-drop factor of every cell (see module docstring).

    The driver sits before position 0 of each input line; segment ``k`` carries the
    current of every cell at positions ``>= k``.
    """
    beyond = np.cumsum(gin[:, ::-1], axis=1)[:, ::-1]       # sum_{l>=k} G[i,l]
    return 1.0 - r_wire * 1e-6 * np.cumsum(beyond, axis=1)   # sum_{k<=o}


NOISE_BITS = 10


def _on_grid(m: np.ndarray, per_column: bool = False) -> np.ndarray:
    """``m`` rounded to a power-of-two grid on which any signed sum of a column's
    entries, and twice it, is exact in float32 (see :meth:`ArrayPlan._fixed_point`)."""
    col = np.abs(m).sum(axis=0)
    top = col if per_column else np.array([col.max() if col.size else 0.0])
    # 4x the largest sum below 2**24 steps: rounding can only add n/2 steps to a sum
    exp = np.frexp(np.maximum(4.0 * top, 1e-300))[1] - 24
    step = np.ldexp(1.0, exp)
    return np.ascontiguousarray((np.rint(m / step) * step).astype(np.float32))


def _pair_forms(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(even - odd, even + odd) rows of ``m``: drive ``e`` on line 2i and ``-e`` on 2i+1
    gives ``e @ diff`` for the signed sum and ``|e| @ sum`` for the unsigned one."""
    return (np.ascontiguousarray(m[0::2] - m[1::2]), np.ascontiguousarray(m[0::2] + m[1::2]))


class _Columns:
    """An :class:`ArrayPlan` restricted to some output columns (same inputs)."""

    def __init__(self, plan: ArrayPlan, sel: np.ndarray):
        self.parent = plan
        self.sel = sel
        for name in ("rows", "n_inputs", "pairs", "railq", "rail_g_sum", "c_out", "f_write", "uq"):
            setattr(self, name, getattr(plan, name))
        for name in ("mq", "md", "ms", "noise_vq"):
            v = getattr(plan, name, None)
            setattr(self, name, None if v is None else np.ascontiguousarray(v[:, sel]))
        if plan.pairs:
            self.rail_d, self.rail_s, self.ud, self.us = plan.rail_d, plan.rail_s, plan.ud, plan.us
        self.noise_v_step = plan.noise_v_step
        self.connected = plan.connected[sel]
        self.all_connected = bool(self.connected.all())
        self.wl_kick32 = np.ascontiguousarray(plan.wl_kick32[sel])
        self._decay = {}

    def decay(self, width_ns: float, p: AnalogParams):
        # None only when the whole array keeps no residue: the choice must not depend
        # on which columns are computed
        d = self._decay.get(width_ns, _UNSET)
        if d is _UNSET:
            full = self.parent.decay(width_ns, p)
            d = self._decay[width_ns] = None if full is None else np.ascontiguousarray(full[self.sel])
        return d


def settle(plan: ArrayPlan, a: np.ndarray, v_prev: np.ndarray, a_prev: np.ndarray,
           width_ns: float, p: AnalogParams, vread: float, z: np.ndarray | None,
           r_rail: float | None = None) -> tuple:
    """Output-line voltages after one WL pulse, vectorised over a batch.

    Parameters
    ----------
    plan : ArrayPlan
    a : (B, n_in) ideal input deviations from Vref (V), each in {0, ±Vread}
    v_prev : (B, n_out) output-line voltages before the pulse
    a_prev : (B, n_in) input deviations before the pulse (for the coupling kick)
    width_ns : WL pulse width
    vread : nominal Vread (V), the rail amplitude for the driver-drop model
    z : (B, n_out) standard normals for the read noise (None: no read noise)
    r_rail : rail resistance (Ω) for the driver-drop model; default
        ``r_driver * n_parallel_cores`` (:mod:`analog_models.rails` gives it for cores
        running together)

    Returns
    -------
    v_out : (B, n_out) output-line voltages after the WL falls
    f_write : (n_in,) input-drop factor: the driven lines sit at ``a * f_write``
    """
    d = np.sign(np.asarray(a)).astype(np.int8)
    v, _, _, _ = settle_drive(plan, d[:, plan.rows], False, np.asarray(v_prev, np.float32),
                              np.asarray(a_prev, np.float32).sum(axis=1), width_ns, p, vread, z,
                              lambda: ((d > 0).sum(axis=1), (d < 0).sum(axis=1)), r_rail)
    return v, plan.f_write


def settle_drive(plan, d: np.ndarray, pairs: bool, v_prev: np.ndarray, asum_prev,
                 width_ns: float, p: AnalogParams, vread: float, z: np.ndarray | None,
                 counts=None, r_rail: float | None = None) -> tuple:
    """Output-line voltages after one WL pulse, from the signs of the drive.

    Parameters
    ----------
    plan : ArrayPlan or its column view (:meth:`ArrayPlan.columns`)
    d : (B, K) drive signs (-1, 0, +1; int8 or float32) of the input lines ``plan.rows``; with
        ``pairs`` (B, K/2): the sign of line 2i of each pair, line 2i+1 carrying the
        opposite one (differential input, ``plan.pairs`` must hold)
    v_prev : (B, n_out) output-line voltages before the pulse
    asum_prev : (B,) sum of every input line's deviation before the pulse, or None
    width_ns, p, vread, z, r_rail : as :func:`settle`
    counts : callable -> (n_pos, n_neg), each (B,): lines driven to Vref+Vread and to
        Vref-Vread among *all* input lines (coupling); called only when needed

    Returns
    -------
    v_out : (B, n_out)
    s_pos, s_neg : (B,) rail factors of the driver drop (None: no drop)
    asum : (B,) sum of the input deviations of this pulse (None when not computed)

    Physics as in the module docstring: the ideal drive of line i is ``vread * d_i``,
    the driver drop scales the lines on each rail by its factor, so every product is
    ``s_pos * (P @ M) - s_neg * (N @ M)`` with ``P``/``N`` the lines at either polarity,
    from the exact sums ``(P -+ N) @ M`` on the plan's fixed-point grids.
    """
    f32 = np.float32
    # Every product is taken as (signed sum x, unsigned sum y) = ((P - N) @ M, (P + N) @ M)
    # over the lines at either polarity, P and N; both are exact on the plan's grids.
    if pairs:
        e = d.astype(f32, copy=False)
        ea = np.abs(e)

        def sums(diff, total, need_x=True):
            return (e @ diff if need_x else None), ea @ total
        mats = ((plan.rail_d, plan.rail_s), (plan.md, plan.ms),
                (None if plan.uq is None else (plan.ud, plan.us)))
    else:
        pos = (d > 0).astype(f32)
        neg = (d < 0).astype(f32)

        def sums(m, _=None, need_x=True):
            p_, n_ = pos @ m, neg @ m
            return p_ - n_, p_ + n_
        mats = ((plan.railq,), (plan.mq,), (None if plan.uq is None else (plan.uq,)))
    vr = f32(vread)
    drop = bool(p.driver_drop and vread > 0)
    k = f32((p.r_driver * p.n_parallel_cores if r_rail is None else r_rail) * 1e-6)
    noisy = z is not None and mats[2] is not None
    decay = plan.decay(width_ns, p) if p.settling else None
    # The coupling kick and the previous charge only survive through the residue.
    coupled = decay is not None and p.coupling and counts is not None
    if _kernels.KERNELS and v_prev.dtype == f32:
        return _settle_compiled(plan, sums, mats, pairs, e if pairs else None, v_prev, asum_prev, p,
                                vread, z, counts, drop, k, noisy, decay, coupled)
    s_p = s_n = None
    if drop:
        # Rail currents: every driven line feeds its cells, which return the current to
        # lines of the other polarity. The output lines are taken at the mean-field
        # average vbar (exact when all outputs are equal, e.g. all inputs alike).
        xr, yr = sums(*mats[0])
        g_pos, g_neg = (yr + xr) * f32(0.5), (yr - xr) * f32(0.5)
        vbar = vr * (g_pos - g_neg) / f32(max(plan.rail_g_sum, 1e-30))
        # minimum/maximum rather than np.clip: the same values, without clip's dispatch
        mx, mn = np.maximum, np.minimum
        s_p = mn(mx(f32(1.0) - k * g_pos * mx(vr - vbar, f32(0.0)) / vr, f32(0.0)), f32(1.0))
        s_n = mn(mx(f32(1.0) - k * g_neg * mx(vr + vbar, f32(0.0)) / vr, f32(0.0)), f32(1.0))
    # s_p P - s_n N = (s_p + s_n)/2 (P - N) + (s_p - s_n)/2 (P + N)
    if s_p is None:
        x, _ = sums(*mats[1]) if not pairs else (e @ plan.md, None)
        y = None
        ca, cb = np.full(1, vr, dtype=f32), None
    else:
        x, y = sums(*mats[1])
        ca, cb = vr * (s_p + s_n) * f32(0.5), vr * (s_p - s_n) * f32(0.5)
    q = qs = None
    if noisy:
        # variance: vread² (s_p² P + s_n² N) @ S, S = U V (rank r)
        if s_p is None:
            _, yu = sums(*mats[2], need_x=False)
            t = yu * f32(vread * vread)
        else:
            xu, yu = sums(*mats[2])
            sp2, sn2 = vr * vr * s_p * s_p, vr * vr * s_n * s_n
            t = yu * ((sp2 + sn2) * f32(0.5))[:, None]
            t += xu * ((sp2 - sn2) * f32(0.5))[:, None]
        # (a² @ U) @ V with the rank-r stage on 10-bit grids (exact, see _fixed_point):
        # each vector's r coefficients on a grid set by its largest one
        top = np.abs(t).max(axis=1, keepdims=True)
        scale = np.ldexp(f32(1.0), NOISE_BITS - np.frexp(top)[1]).astype(f32)
        q = np.rint(t * scale) @ plan.noise_vq
        qs = plan.noise_v_step / scale
    kick = asum = None
    if coupled:
        n_pos, n_neg = counts()
        sp = f32(1.0) if s_p is None else s_p
        sn = f32(1.0) if s_n is None else s_n
        asum = vr * (sp * n_pos.astype(f32) - sn * n_neg.astype(f32))
        prev = f32(0.0) if asum_prev is None else asum_prev
        kick = f32(p.c_cross / plan.c_out) * (asum - prev)
    if isinstance(z, StreamNormals):
        z = z.values()
    target = x * (ca[0] if cb is None else ca[:, None])
    if y is not None:
        target += y * cb[:, None]
    if q is not None:
        var = q * qs
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=var)
        var *= z
        target += var
    v0 = v_prev
    if decay is not None:
        if kick is not None:
            v0 = v0 + kick[:, None]
        v = v0 - target
        v *= decay
        v += target
    else:
        v = target
    # Lines with no enabled cell keep their charge.
    if not plan.all_connected:
        v = np.where(plan.connected, v, v0)
    if p.coupling:
        v += plan.wl_kick32
    return v, s_p, s_n, asum


def _settle_compiled(plan, sums, mats, pairs, e, v_prev, asum_prev, p, vread, z, counts, drop, k,
                     noisy, decay, coupled) -> tuple:
    """:func:`settle_drive` after the products, in two compiled loops (per vector, then
    per output) with the numpy path's float32 operations."""
    f32 = np.float32
    B = v_prev.shape[0]
    none1, none2 = np.zeros(1, f32), np.zeros((1, 1), f32)
    xr = yr = y = xu = yu = None
    if drop:
        xr, yr = sums(*mats[0])
        x, y = sums(*mats[1])
    else:
        x = e @ plan.md if pairs else sums(*mats[1])[0]
    if noisy:
        xu, yu = sums(*mats[2]) if drop else sums(*mats[2], need_x=False)
    n_pos, n_neg = counts() if coupled else (_NO_COUNTS, _NO_COUNTS)
    s_p, s_n, cb = ((np.empty(B, f32) for _ in range(3)) if drop else (None, None, None))
    ca = np.empty(B, f32) if drop else np.full(1, vread, dtype=f32)
    tq, qs = (np.empty((B, yu.shape[1]), f32), np.empty(B, f32)) if noisy else (none2, none1)
    asum, kick = (np.empty(B, f32), np.empty(B, f32)) if coupled else (None, None)
    _kernels.drive_factors(
        B, drop, f32(vread), k, f32(max(plan.rail_g_sum, 1e-30)), none1 if xr is None else xr,
        none1 if yr is None else yr, noisy, f32(vread * vread), NOISE_BITS,
        f32(plan.noise_v_step if noisy else 1.0), none2 if xu is None else xu,
        none2 if yu is None else yu, coupled, f32(p.c_cross / plan.c_out), n_pos, n_neg,
        asum_prev is not None, none1 if asum_prev is None else asum_prev,
        none1 if s_p is None else s_p, none1 if s_n is None else s_n, ca,
        none1 if cb is None else cb, tq, qs, none1 if asum is None else asum,
        none1 if kick is None else kick)
    v = np.empty(x.shape, dtype=f32)
    # the read noise's normals given, or looked up in their stream indices in the loop
    zs = z if isinstance(z, StreamNormals) else NO_NORMALS
    _kernels.settle_tail(
        x, none2 if y is None else y, ca, none1 if cb is None else cb, y is not None,
        tq @ plan.noise_vq if noisy else none2, qs, _NO_Z if not noisy or zs is z else z,
        zs.idx, zs.first, zs.step, zs.table, noisy, v_prev, none1 if kick is None else kick,
        coupled, none1 if decay is None else decay, decay is not None,
        np.asarray(plan.connected), bool(plan.all_connected), plan.wl_kick32, bool(p.coupling), v)
    return v, s_p, s_n, asum


def exact_settle(G: np.ndarray, a: np.ndarray, r_write: float, r_wire: float,
                 r_wire_out: float | None = None) -> np.ndarray:
    """Exact steady-state nodal solve of a small array (reference for the tests).

    Every cell position has an input-line node and an output-line node; the driver of
    input line ``i`` connects the ideal source ``a_i`` through ``r_write`` to node
    ``(i, 0)``; adjacent nodes along each input line and along each output line are
    joined by ``r_wire``; cell ``(i, o)`` joins the two nodes with ``G[i, o]``. The
    output lines float. After the WL falls, each output line's charge redistributes, so
    the sampled voltage is the mean of its nodes (uniform capacitance per cell).

    Parameters
    ----------
    G : (n_in, n_out) input-major conductances (µS), every output line with a cell > 0
    a : (n_in,) source deviations (V)
    r_wire_out : wire resistance per pitch of the output lines (default ``r_wire``)
    """
    n_in, n_out = G.shape
    n = 2 * n_in * n_out
    Y = np.zeros((n, n))
    rhs = np.zeros(n)

    def inn(i, o):
        return i * n_out + o

    def out(i, o):
        return n_in * n_out + i * n_out + o

    def stamp(x, y, g):
        Y[x, x] += g
        Y[y, y] += g
        Y[x, y] -= g
        Y[y, x] -= g

    gw = 1.0 / max(r_wire, 1e-9)
    gwo = 1.0 / max(r_wire if r_wire_out is None else r_wire_out, 1e-9)
    for i in range(n_in):
        gd = 1.0 / max(r_write, 1e-9)
        Y[inn(i, 0), inn(i, 0)] += gd
        rhs[inn(i, 0)] += gd * a[i]
        for o in range(n_out):
            if o + 1 < n_out:
                stamp(inn(i, o), inn(i, o + 1), gw)
            if i + 1 < n_in:
                stamp(out(i, o), out(i + 1, o), gwo)
            if G[i, o] > 0:
                stamp(inn(i, o), out(i, o), G[i, o] * 1e-6)
    v = np.linalg.solve(Y, rhs)
    vout = v[n_in * n_out:].reshape(n_in, n_out)
    return vout.mean(axis=0)

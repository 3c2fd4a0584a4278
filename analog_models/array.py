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

from .params import AnalogParams


NOISE_RANK = 16
_UNSET = object()


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
        # Read-noise variance through a rank-NOISE_RANK factorisation of the per-cell
        # variance matrix (SVD): var = (a² @ U) @ V costs 2 x 256 x r per vector instead
        # of a full matrix product; it only sets the size of a noise term and its error
        # is checked in the tests (noise std within 3 % on average, 12 % at worst, for
        # random arrays).
        self.noise_u = self.noise_v = None
        if self.noise_var is not None:
            S = self.noise_var * self.inv_denom**2
            u, sv, vt = np.linalg.svd(S, full_matrices=False)
            r = min(NOISE_RANK, len(sv))
            self.noise_u = np.ascontiguousarray((u[:, :r] * sv[:r]).astype(np.float32))
            self.noise_v = np.ascontiguousarray(vt[:r].astype(np.float32))


def wire_factor(gin: np.ndarray, r_wire: float) -> np.ndarray:
    """First-order input-line wire-drop factor of every cell (see module docstring).

    The driver sits before position 0 of each input line; segment ``k`` carries the
    current of every cell at positions ``>= k``.
    """
    beyond = np.cumsum(gin[:, ::-1], axis=1)[:, ::-1]       # sum_{l>=k} G[i,l]
    return 1.0 - r_wire * 1e-6 * np.cumsum(beyond, axis=1)   # sum_{k<=o}


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
    f32 = np.float32
    if p.driver_drop and vread > 0:
        # Rail currents: every driven line feeds its cells, which return the current to
        # lines of the other polarity. The output lines are taken at the mean-field
        # average vbar (exact when all outputs are equal, e.g. all inputs alike).
        k = (p.r_driver * p.n_parallel_cores if r_rail is None else r_rail) * 1e-6
        pos = a > 0
        g_diff = (a @ plan.rail_g32) / f32(vread)            # g(+ rows) - g(- rows)
        g_all = np.abs(a) @ plan.rail_g32 / f32(vread)       # rows driven either way
        g_pos = 0.5 * (g_all + g_diff)
        g_neg = 0.5 * (g_all - g_diff)
        vbar = f32(vread) * (g_pos - g_neg) / f32(max(plan.rail_g_sum, 1e-30))
        # minimum/maximum rather than np.clip: the same values, without clip's dispatch
        # cost (several µs per call on these one-element-per-vector arrays).
        mx, mn = np.maximum, np.minimum
        s_p = mn(mx(1.0 - k * g_pos * mx(vread - vbar, 0.0) / vread, 0.0), 1.0)
        s_n = mn(mx(1.0 - k * g_neg * mx(vread + vbar, 0.0) / vread, 0.0), 1.0)
        a = a * np.where(pos, s_p[:, None], s_n[:, None])
    target = a @ plan.m_lin
    if z is not None and plan.noise_u is not None:
        var = ((a * a) @ plan.noise_u) @ plan.noise_v
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=var)
        var *= z
        target += var
    decay = None
    if p.settling:
        decay = plan._decay.get(width_ns, _UNSET)
        if decay is _UNSET:
            decay = np.exp(-width_ns / plan.tau)
            # A residue below 1e-5 of the step (0.1 µV per 10 mV) is far below every
            # noise in the model: flush it, which also avoids slow denormals. A pulse
            # that leaves no residue anywhere is stored as None.
            decay[decay < 1e-5] = 0.0
            decay = decay.astype(f32) if decay.any() else None
            plan._decay[width_ns] = decay
    v0 = v_prev
    if decay is not None:
        # The coupling kick and the previous charge only survive through the residue.
        if p.coupling:
            v0 = v0 + (f32(p.c_cross / plan.c_out) * (a - a_prev).sum(axis=1, keepdims=True))
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
    return v, plan.f_write


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

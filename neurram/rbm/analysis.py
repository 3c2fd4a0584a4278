"""Proof that the chip samples (firing curves), and energy of the Gibbs steps.

* :func:`neuron_test_curves` — every neuron of one core in neuron-test mode (WLs low, the
  BL drivers drive the neurons' lines directly), stochastic mode on, 1-bit output: the
  neuron's own sign compare after the LFSR pulses. Input swept in integrator millivolts;
  a logistic fitted per neuron gives its slope and offset (comparator offset + charge
  injection).
* :func:`hidden_unit_curves` — the RBM's hidden units as sampled in the Gibbs loop:
  firing probability against the noise-free pre-activation the programmed (read-back)
  conductances compute, logistic fit per unit. Ideal: slope 1, offset 0.
* :func:`gibbs_energy` — :func:`analog_models.energy.mvm_energy` of the backward and
  forward MVMs of every core in one Gibbs step (121 fJ per neuron per noise step included).
"""

from __future__ import annotations

import numpy as np

from analog_models.energy import mvm_energy
from analog_models.config import NEURON_SL

from .model import VISIBLE_LEVELS


def fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 30, ridge: float = 1e-6):
    """Per column maximum-likelihood fit of ``P(y=1) = sigmoid(s (x - x0))``.

    ``x``, ``y``: (n, units). Returns ``(slope, offset)`` arrays of length ``units``."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    sx = x.std(0)
    sx = np.where(sx > 0, sx, 1.0)
    xm = x.mean(0)
    xs = (x - xm) / sx
    w = np.ones(x.shape[1])
    c = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(w * xs + c, -50, 50)))
        r = p - y
        q = p * (1 - p)
        gw, gc = (r * xs).sum(0), r.sum(0)
        hww, hwc, hcc = (q * xs * xs).sum(0) + ridge, (q * xs).sum(0), q.sum(0) + ridge
        det = hww * hcc - hwc * hwc
        det = np.where(np.abs(det) > 1e-12, det, 1e-12)
        w = np.clip(w - (hcc * gw - hwc * gc) / det, -1e3, 1e3)
        c = np.clip(c - (hww * gc - hwc * gw) / det, -1e4, 1e4)
    slope = w / sx
    offset = xm - c / np.where(w != 0, w, np.inf) * sx
    return slope, offset


def neuron_test_curves(crbm, core: int = 0, levels: int = 31, repeats: int = 48) -> dict:
    """Firing probability of all 256 neurons vs their integrated input (neuron test)."""
    p = crbm.p
    # the hidden units' setting: the direction whose samples the LFSR noise shapes
    cal = crbm.cal["BWD"]
    sig_v = p.gain * cal.vnoise * p.vnoise_lsb * np.sqrt(cal.noise_steps)
    span_v = 4 * p.cmp_offset_sigma + 4 * sig_v        # cover offsets and the noise
    in_bits = 6
    mag = (1 << (in_bits - 1)) - 1
    vread = int(np.clip(np.ceil(span_v / (p.gain * mag) / p.vread_lsb), 1, 255))
    step = max(1, (2 * mag + 1) // levels)
    xs = np.arange(-mag, mag + 1, step)
    x = np.repeat(xs, repeats)
    batch = np.repeat(x[:, None], 256, axis=1)
    cfg = crbm.config("FWD", vread=vread, vdecr=cal.vdecr, out_bits=1, noise_steps=cal.noise_steps,
                      vnoise=cal.vnoise, neuron_test=True)
    cfg.in_bits, cfg.in_signed, cfg.diff_in = in_bits, 1, 0
    codes = crbm.backend.neuron_test(core, batch, cfg, crbm._seeds()[0])
    fired = codes[:, NEURON_SL]             # neuron k's bit sits at SL entry NEURON_SL[k]
    v_mV = np.repeat(xs, repeats) * p.gain * p.vread_volts(vread) * 1e3
    vv = np.repeat(v_mV[:, None], 256, axis=1)
    slope, offset = fit_logistic(vv, fired)
    prob = fired.reshape(len(xs), repeats, 256).mean(1)
    return {"vnoise_code": cal.vnoise, "noise_steps": cal.noise_steps, "vread_code": vread,
            "expected_noise_sigma_mV": sig_v * 1e3,
            "expected_slope_per_mV": 1.702 / (np.hypot(sig_v, p.cmp_noise_sigma) * 1e3),
            "slope_per_mV_median": float(np.median(slope)),
            "slope_per_mV_spread": float(np.std(slope)),
            "offset_mV_std": float(np.std(offset)), "offset_mV_mean": float(np.mean(offset)),
            "_curve": {"v_mV": (xs * p.gain * p.vread_volts(vread) * 1e3).tolist(),
                       "prob": prob.tolist(), "slope": slope.tolist(), "offset": offset.tolist()}}


def ideal_hidden_preact(crbm, x_codes: np.ndarray) -> np.ndarray:
    """Noise-free hidden pre-activation of the read-back conductances (weight units)."""
    m = crbm.m
    k = m.wmax / (m.gmax - m.gmin) / VISIBLE_LEVELS
    nh = m.n_hidden
    acc = np.zeros((x_codes.shape[0], nh))
    for i in crbm._ideal("BWD", crbm.bwd_entries(x_codes)):
        acc += k * i[:, :nh]
    return acc


def hidden_unit_curves(crbm, x_codes: np.ndarray, repeats: int = 2) -> dict:
    """Chip-sampled hidden states vs the pre-activation they should follow."""
    pre = ideal_hidden_preact(crbm, x_codes)
    xs, ys = [], []
    for _ in range(repeats):
        ys.append(crbm.sample_hidden(x_codes))
        xs.append(pre)
    x, y = np.concatenate(xs), np.concatenate(ys)
    slope, offset = fit_logistic(x, y)
    # a unit's own slope and offset are only defined if its inputs cross its threshold:
    # at least 20 samples within 3 of zero, of both outcomes
    near = np.abs(x) < 3
    ok = (np.isfinite(slope) & (near.sum(0) >= 20) & ((y * near).sum(0) >= 5)
          & (((1 - y) * near).sum(0) >= 5))
    pooled_slope, pooled_offset = fit_logistic(x.reshape(-1, 1), y.reshape(-1, 1))
    edges = np.linspace(-8, 8, 33)
    mid = 0.5 * (edges[1:] + edges[:-1])
    idx = np.digitize(x.ravel(), edges) - 1
    yr = y.ravel()
    prob = [float(yr[idx == i].mean()) if np.any(idx == i) else None for i in range(len(mid))]
    return {"sigmoid_slope": float(np.median(slope[ok])), "sigmoid_slope_std": float(np.std(slope[ok])),
            "sigmoid_offset_std": float(np.std(offset[ok])), "sigmoid_offset_mean": float(np.mean(offset[ok])),
            "pooled_slope": float(pooled_slope[0]), "pooled_offset": float(pooled_offset[0]),
            "units_fitted": int(ok.sum()), "units": int(x.shape[1]), "samples_per_unit": int(x.shape[0]),
            "_curve": {"preact": mid.tolist(), "prob": prob,
                       "slope": slope.tolist(), "offset": offset.tolist()}}


def gibbs_energy(crbm, input_density: float = 0.2) -> dict:
    """Energy (and latency) of one Gibbs step for one image, summed over the cores."""
    p = crbm.p
    e_b = e_f = t = noise = 0.0
    t_b = t_f = 0.0
    nh = crbm.m.n_hidden
    for b in crbm.m.blocks:
        g = crbm.g_meas[b.core]
        cb = crbm._cfg("BWD", True)
        cf = crbm._cfg("FWD", crbm.visible_mode == "stochastic")
        rb = mvm_energy(cb, n_in=2 * b.n_cols, n_out=nh, params=p, G=g[:nh, :2 * b.n_cols].T,
                        input_density=input_density)
        rf = mvm_energy(cf, n_in=b.n_rows, n_out=2 * b.n_cols, params=p,
                        G=g[:b.n_rows, :2 * b.n_cols], input_density=0.5)
        e_b += rb["energy_J"]
        e_f += rf["energy_J"]
        noise += rb["breakdown_J"]["noise_injection"] + rf["breakdown_J"]["noise_injection"]
        t_b, t_f = max(t_b, rb["latency_s"]), max(t_f, rf["latency_s"])
    t = t_b + t_f
    return {"per_gibbs_step_nJ": (e_b + e_f) * 1e9, "backward_nJ": e_b * 1e9, "forward_nJ": e_f * 1e9,
            "noise_injection_nJ": noise * 1e9, "latency_per_step_us": t * 1e6,
            "cores_in_parallel": crbm.m.n_cores}


def readback_rbm(crbm):
    """The RBM the programmed cells hold: weights and biases decoded from the conductances
    read back after programming and relaxation (isolates the programming error from the
    MVM's own errors when recovered in software)."""
    from .model import RBM

    m = crbm.m
    k = m.wmax / (m.gmax - m.gmin)
    nh = m.n_hidden
    W = np.zeros((m.n_visible, nh), np.float32)
    a = np.zeros(nh)
    b = np.zeros(m.n_visible)
    for blk in m.blocks:
        g = crbm.g_meas[blk.core]
        d = (g[:, 0::2] - g[:, 1::2]) * k            # column pairs, weight units
        nv = len(blk.visible)
        W[blk.visible] = d[:nh, :nv].T
        b[blk.visible] = d[nh:blk.n_rows, :nv].sum(0)
        a += d[:nh, nv:blk.n_cols].sum(1)
    return RBM(W, a.astype(np.float32), b.astype(np.float32), m.wmax)

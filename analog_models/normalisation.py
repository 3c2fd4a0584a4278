"""De-normalisation: from a neuron's output code back to the dot product.

The maths (docs/analog_models.md, "Normalisation")
--------------------------------------------------
For one conversion of ``q`` input bit-planes (plane ``j`` of the segment sampled
``2^j`` times) the integrator ends at

    v_int[o] = gain * sum_j w_j * Vread * sum_i d_ij G[i,o] / D[o]

with ``gain = Csample / Cinteg``, ``d_ij`` in {-1, 0, +1} the drive of input line ``i`` in
plane ``j``, ``D[o] = sum_i G[i,o]`` (enabled cells of output line ``o``) and ``w_j`` the
effective weight of plane ``j``: the line voltage shared onto Csample ``2^j`` times, each
share keeping ``r = C_line / (C_line + Csample)`` of it, so ``w_j = sum_{k=1..2^j} r^k``
(``2^j r`` without sample depletion). Writing ``w_j ~= c 2^j`` (least squares over the
planes) gives, with the integer input ``x_i = sum_j 2^j d_ij``,

    sum_i x_i G[i,o] = v_int[o] * D[o] / (gain * c * Vread)        [µS x input units]

The ADC reads ``v_int`` as ``code_value * LSB`` with ``LSB = gain * V1 / 2^(k-2)`` for
``k`` output bits and first-cycle decrement ``V1`` (the DAC halves it exactly every
cycle; a mid-rise code, value
``(2 sign - 1)(mag + 1/2)``). A signed weight ``W = (G+ - G-) * wmax / (gmax - gmin)`` on
two rows (differential input) or two output lines (differential output) then gives
``W x = (sum x (G+ - G-)) * wmax / (gmax - gmin)``.
"""

from __future__ import annotations

import numpy as np

from rtl.contract.config import OUT_BITS_MAX

from .config import code_value
from .params import AnalogParams


def plane_weights(params: AnalogParams, n_planes: int, c_line: float) -> np.ndarray:
    """Effective weight ``w_j`` of each bit-plane ``j = 0 .. n_planes-1`` (see module doc)."""
    if not isinstance(n_planes, (int, np.integer)) or not 0 <= n_planes <= 8:
        raise ValueError(f"n_planes must be an integer in 0..8, got {n_planes!r}")
    r = params.share(c_line)
    n = 2 ** np.arange(n_planes)
    if params.sample_depletion:
        return r * (1 - r**n) / (1 - r)
    return r * n.astype(np.float64)


def plane_gain(params: AnalogParams, n_planes: int, c_line: float) -> float:
    """Least-squares ``c`` with ``w_j ~= c 2^j``."""
    if n_planes == 0:
        return 1.0
    w = plane_weights(params, n_planes, c_line)
    n = 2.0 ** np.arange(n_planes)
    return float(np.dot(w, n) / np.dot(n, n))


def lsb_volts(params: AnalogParams, vdecr_code: int, out_bits: int) -> float:
    """Integrator voltage of one output LSB for the VDECR code: the last decrement step
    ``gain * Vdecr * 2**-(k-2)`` (k >= 2; twice the only step of a sign-only conversion).
    The full scale ``2 * gain * Vdecr`` is ``2**(k-1)`` LSBs at every k."""
    if isinstance(out_bits, bool) or not isinstance(out_bits, (int, np.integer)) \
            or not 1 <= out_bits <= OUT_BITS_MAX:
        raise ValueError(f"out_bits must be an integer in 1..{OUT_BITS_MAX}, got {out_bits!r}")
    if out_bits == 1:
        return 2 * params.gain * params.vdecr_volts(vdecr_code)
    return params.gain * params.vdecr_volts(vdecr_code, int(out_bits) - 2)


def code_to_vint(codes, params: AnalogParams, vdecr_code: int, out_bits: int,
                 act: int = 0) -> np.ndarray:
    """Integrator voltage (V, relative to Vref) that the output codes stand for."""
    return code_value(codes, out_bits, act) * lsb_volts(params, vdecr_code, out_bits)


def denormalise(codes, params: AnalogParams, *, vdecr_code: int, vread_code: int,
                out_bits: int, n_planes: int, denom_uS, backward: bool = False,
                act: int = 0) -> np.ndarray:
    """Dot product ``sum_i x_i G[i,o]`` (µS x integer input units) from output codes.

    Parameters
    ----------
    codes : int array (..., n_out), output codes of the conversion (neuron or line order,
        matching ``denom_uS``)
    vdecr_code, vread_code : DAC codes used in the MVM
    out_bits : output bits of this conversion
    n_planes : magnitude bit-planes of the segment converted
    denom_uS : (n_out,) sum of the enabled conductances of each output line, ``D[o]``
    backward : outputs are BLs (their capacitance is used for the plane weights)
    """
    d = np.asarray(denom_uS, dtype=np.float64)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("denom_uS must be finite and >= 0 µS")
    vread = params.vread_volts(vread_code)
    if vread <= 0:
        raise ValueError(f"vread_code must be > 0 to de-normalise, got {vread_code!r}")
    c_line = params.c_bl if backward else params.c_sl
    c = plane_gain(params, n_planes, c_line)
    v = code_to_vint(codes, params, vdecr_code, out_bits, act)
    return v * d / (params.gain * c * vread)


def vint_scale(params: AnalogParams, n_planes: int, vread_code: int, backward: bool = False) -> float:
    """Integrator volts per unit of normalised input ``sum_i x_i G / D`` (for calibration)."""
    c_line = params.c_bl if backward else params.c_sl
    return params.gain * plane_gain(params, n_planes, c_line) * params.vread_volts(vread_code)


def weights_to_conductance(W, g_min: float = 1.0, g_max: float = 40.0, w_max: float | None = None):
    """Paper's differential mapping: ``(G+, G-)`` for a weight matrix ``W``.

    ``G+ = gmin + (gmax - gmin) W / wmax`` where ``W > 0`` else ``gmin``, and the mirror for
    ``G-``; ``wmax`` defaults to ``max |W|``. Returns ``(g_pos, g_neg, w_max)``.
    """
    W = np.asarray(W, dtype=np.float64)
    if not np.all(np.isfinite(W)):
        raise ValueError("W must be finite (no NaN or inf)")
    if not 0 < g_min < g_max:
        raise ValueError(f"need 0 < g_min < g_max, got {g_min}, {g_max}")
    wm = float(np.max(np.abs(W))) if w_max is None else float(w_max)
    if wm <= 0:
        raise ValueError("w_max must be > 0 (W is all zeros)")
    span = g_max - g_min
    g_pos = g_min + span * np.clip(W, 0, None) / wm
    g_neg = g_min + span * np.clip(-W, 0, None) / wm
    return g_pos, g_neg, wm


def diff_to_weight(dot_diff, w_max: float, g_min: float = 1.0, g_max: float = 40.0):
    """Weight units from a differential dot product in µS."""
    return np.asarray(dot_diff) * w_max / (g_max - g_min)

"""Compiled loops of the batched MVM (numba), each the exact float32 arithmetic of the
step-by-step numpy path it replaces (the tests compare them bit for bit).

numba is optional: without it (``KERNELS = False``) the batched path runs the same
steps through numpy, event by event over the batch. It is imported and the loops are
compiled (cached on disk) on first use, so importing the analog models stays cheap.
"""

from __future__ import annotations

import importlib.util

import numpy as np

KERNELS = importlib.util.find_spec("numba") is not None
_compiled: dict = {}


def _jit(name, fn):
    f = _compiled.get(name)
    if f is None:
        from numba import njit
        f = _compiled[name] = njit(cache=True, nogil=True)(fn)
    return f


def convert(*args):
    """:func:`_convert` compiled (see there)."""
    return _jit("convert", _convert)(*args)


def gather(*args):
    """:func:`_gather` compiled (see there)."""
    return _jit("gather", _gather)(*args)


def settle_tail(*args):
    """:func:`_settle_tail` compiled (see there)."""
    return _jit("settle_tail", _settle_tail)(*args)


def _gather(idx, first, step, table, out):  # pragma: no cover - compiled
    """``out[b, n] = table[idx[first + b * step, n]]``: one event's noise values for a
    batch from a block of stream indices (rows: vector-major events)."""
    B, N = out.shape
    for b in range(B):
        j = first + b * step
        for n in range(N):
            out[b, n] = table[idx[j, n]]


def _settle_tail(x, y, ca, cb, has_y, q, qs, z, has_noise, v_prev, kick, has_kick, decay,
                 has_decay, connected, all_connected, wl_kick, has_wl, out):  # pragma: no cover
    """The elementwise end of :func:`analog_models.array.settle_drive` in one pass, the
    same float32 operations in the same order as its numpy expressions:

    ``t = x*ca (+ y*cb)``; read noise ``t += sqrt(max(q*qs, 0)) * z``; previous charge
    ``v0 = v_prev (+ kick)``; residue ``v = (v0 - t) * decay + t`` (else ``v = t``);
    unconnected lines keep ``v0``; then the WL kick. ``ca``, ``cb``, ``qs``, ``kick``
    are per vector, ``decay``, ``connected``, ``wl_kick`` per output; ``ca`` of size 1
    is a scalar factor.
    """
    B, N = out.shape
    zero = np.float32(0.0)
    scalar_a = ca.shape[0] == 1
    for b in range(B):
        a = ca[0] if scalar_a else ca[b]
        for n in range(N):
            t = x[b, n] * a
            if has_y:
                t = t + y[b, n] * cb[b]
            if has_noise:
                var = q[b, n] * qs[b]
                var = max(var, zero)
                var = np.sqrt(var)
                t = t + var * z[b, n]
            v0 = v_prev[b, n]
            if has_kick:
                v0 = v0 + kick[b]
            if has_decay:
                v = v0 - t
                v = v * decay[n]
                v = v + t
            else:
                v = t
            if not all_connected and not connected[n]:
                v = v0
            if has_wl:
                v = v + wl_kick[n]
            out[b, n] = v


def _convert(v_int, latch, pend_sqrt, z1, n2_idx, n2_first, n2_step, n2_table, has_n2, offset,
             inj, n_integ, adc, gain, vdecr, h, bits):  # pragma: no cover - compiled
    """The k comparisons of one conversion (NeuronBank.compare / set_latch /
    decrement(mode 0) / integrate, in that order), per neuron: comparison ``c`` > 0
    first charges Csample to -/+ ``vdecr[c-1]`` by the latch and integrates it.

    ``v_int`` (B, N) and ``latch`` (B, N) are updated in place; ``bits`` (B, k, N)
    receives every decision. ``pend_sqrt`` realises the pending kT/C noise with
    ``z1`` at the first comparison (0: none); ``n2_table[n2_idx[n2_first + b * n2_step
    + c, n]]`` (a block of stream indices, rows: vector-major events) is minus the
    comparator noise (used when ``has_n2``).
    """
    B, N = v_int.shape
    K = bits.shape[1]
    zero = np.float32(0.0)
    # Vector by vector, each comparison over all neurons (a loop the compiler vectorises);
    # per neuron the same operations in the same order as a neuron-by-neuron loop.
    off = np.empty((K, N), dtype=np.float32)       # offset + charge injection, per comparison
    for c in range(K):
        ni = n_integ + c
        for n in range(N):
            off[c, n] = offset[n] + np.float32(ni) * inj[n] if ni else offset[n]
    thr = np.empty((K, N), dtype=np.float32)
    if not has_n2:
        for c in range(K):
            for n in range(N):
                thr[c, n] = -off[c, n]
    vs = np.empty(N, dtype=np.float32)
    lats = np.empty(N, dtype=np.bool_)
    for b in range(B):
        j = n2_first + b * n2_step
        if adc and has_n2:
            for c in range(K):
                for n in range(N):
                    thr[c, n] = n2_table[n2_idx[j + c, n]] - off[c, n]
        for n in range(N):
            v = v_int[b, n]
            if pend_sqrt != zero:
                v = v + pend_sqrt * z1[b, n]
            vs[n] = v
            lats[n] = latch[b, n]
        for c in range(K):
            for n in range(N):
                v = vs[n]
                lat = lats[n]
                if c > 0:
                    vd = vdecr[c - 1]
                    vcs = -vd if lat else vd
                    v = v + gain * vcs
                    if adc:
                        v = min(v, h)
                        v = max(v, -h)
                if adc:
                    r = v > thr[c, n]
                else:
                    r = v > zero
                bits[b, c, n] = r
                lats[n] = r
                vs[n] = v
        for n in range(N):
            v_int[b, n] = vs[n]
            latch[b, n] = lats[n]

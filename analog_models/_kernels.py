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


def convert(*args):
    """:func:`_convert` compiled (see there)."""
    f = _compiled.get("convert")
    if f is None:
        from numba import njit
        f = _compiled["convert"] = njit(cache=True, nogil=True)(_convert)
    return f(*args)


def _convert(v_int, latch, pend_sqrt, z1, n2_idx, n2_table, has_n2, offset, inj, n_integ,
             adc, gain, vdecr, h, bits):  # pragma: no cover - compiled
    """The k comparisons of one conversion (NeuronBank.compare / set_latch /
    decrement(mode 0) / integrate, in that order), per neuron: comparison ``c`` > 0
    first charges Csample to -/+ ``vdecr[c-1]`` by the latch and integrates it.

    ``v_int`` (B, N) and ``latch`` (B, N) are updated in place; ``bits`` (B, k, N)
    receives every decision. ``pend_sqrt`` realises the pending kT/C noise with
    ``z1`` at the first comparison (0: none); ``n2_table[n2_idx]`` (indices (B, k, N))
    is minus the comparator noise (used when ``has_n2``).
    """
    B, N = v_int.shape
    K = bits.shape[1]
    zero = np.float32(0.0)
    for b in range(B):
        for n in range(N):
            v = v_int[b, n]
            if pend_sqrt != zero:
                v = v + pend_sqrt * z1[b, n]
            lat = latch[b, n]
            for c in range(K):
                if c > 0:
                    vd = vdecr[c - 1]
                    vcs = -vd if lat else vd
                    v = v + gain * vcs
                    if adc:
                        v = min(v, h)
                        v = max(v, -h)
                if adc:
                    ni = n_integ + c
                    off = offset[n] + np.float32(ni) * inj[n] if ni else offset[n]
                    thr = n2_table[n2_idx[b, c, n]] - off if has_n2 else -off
                    r = v > thr
                else:
                    r = v > zero
                bits[b, c, n] = r
                lat = r
            v_int[b, n] = v
            latch[b, n] = lat

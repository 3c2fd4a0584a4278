"""Compiled loops of the batched MVM (numba), each the exact float32 arithmetic of the
step-by-step numpy path it replaces (the tests compare them bit for bit).

numba is optional: without it (``KERNELS = False``) the batched path runs the same
steps through numpy, event by event over the batch. It is imported and the loops are
compiled (cached on disk) on first use, so importing the analog models stays cheap.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

KERNELS = importlib.util.find_spec("numba") is not None
_compiled: dict = {}


# Plain functions the kernels call: numba resolves a kernel's calls through the module
# globals when it compiles it, so they become compiled functions on the first compilation
# (importing this module stays free of numba).
_HELPERS = ("_mulhi", "_mul128", "_add128", "_pcg_step", "_pcg_output", "_pcg_advance")


def _jit(name, fn):
    f = _compiled.get(name)
    if f is None:
        from numba import njit
        g = globals()
        for h in _HELPERS:
            if not hasattr(g[h], "py_func"):
                g[h] = njit(cache=True, nogil=True)(g[h])
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


def drive_factors(*args):
    """:func:`_drive_factors` compiled (see there)."""
    return _jit("drive_factors", _drive_factors)(*args)


def _drive_factors(B, drop, vr, kd, rail_sum, xr, yr, noisy, v2, noise_bits, v_step, xu, yu, coupled,
                   cc, n_pos, n_neg, has_prev, asum_prev, s_p, s_n, ca, cb, tq, qs, asum,
                   kick):  # pragma: no cover - compiled
    """The per-vector part of :func:`analog_models.array.settle_drive`, the same float32
    operations in the same order as its numpy expressions, from the products of the
    drive: the rail sums ``xr``, ``yr`` (with ``drop``) and the noise sums ``xu``, ``yu``
    (with ``noisy``; ``xu`` only with ``drop``), each (B,) or (B, r).

    Driver drop: ``g_pos, g_neg = (yr +- xr) / 2``, ``vbar``, the rail factors ``s_p``,
    ``s_n`` and the products' factors ``ca = vr (s_p + s_n) / 2``, ``cb = vr (s_p - s_n)
    / 2``. Read noise: the rank-r coefficients ``t`` (``yu * v2`` without drop), rounded
    on the vector's grid to ``tq`` with the step ``qs``. Coupling: ``asum`` and the
    ``kick`` ``cc * (asum - asum_prev)``. Outputs not enabled are left alone.
    """
    R = tq.shape[1]
    zero, one, half = np.float32(0.0), np.float32(1.0), np.float32(0.5)
    tb = np.empty(R, dtype=np.float32)
    for b in range(B):
        sp = sn = one
        if drop:
            g_pos = (yr[b] + xr[b]) * half
            g_neg = (yr[b] - xr[b]) * half
            vbar = vr * (g_pos - g_neg) / rail_sum
            sp = min(max(one - kd * g_pos * max(vr - vbar, zero) / vr, zero), one)
            sn = min(max(one - kd * g_neg * max(vr + vbar, zero) / vr, zero), one)
            s_p[b] = sp
            s_n[b] = sn
            ca[b] = vr * (sp + sn) * half
            cb[b] = vr * (sp - sn) * half
        if noisy:
            if drop:
                sp2 = vr * vr * sp * sp
                sn2 = vr * vr * sn * sn
                a1 = (sp2 + sn2) * half
                a2 = (sp2 - sn2) * half
                for r in range(R):
                    t = yu[b, r] * a1
                    tb[r] = t + xu[b, r] * a2
            else:
                for r in range(R):
                    tb[r] = yu[b, r] * v2
            top = zero
            for r in range(R):
                top = max(top, abs(tb[r]))
            scale = np.float32(math.ldexp(1.0, noise_bits - math.frexp(top)[1]))
            for r in range(R):
                tq[b, r] = np.float32(np.rint(tb[r] * scale))
            qs[b] = v_step / scale
        if coupled:
            a = vr * (sp * np.float32(n_pos[b]) - sn * np.float32(n_neg[b]))
            asum[b] = a
            kick[b] = cc * (a - asum_prev[b]) if has_prev else cc * (a - zero)


def sample_run(*args):
    """:func:`_sample_run` compiled (see there)."""
    return _jit("sample_run", _sample_run)(*args)


def _sample_run(v_int, v_line, gain_c, clip, h, deplete, keep, new_line):  # pragma: no cover
    """:meth:`analog_models.neuron.NeuronBank.sample_run` on a batch in one pass, its
    float32 operations in order: ``v_int += gain_c * v_line``, then (``clip``) the
    headroom clip to ``±h``; with ``deplete`` ``new_line = v_line * keep``."""
    B, N = v_int.shape
    for b in range(B):
        for n in range(N):
            u = v_line[b, n]
            v = v_int[b, n] + gain_c * u
            if clip:
                v = min(v, h)
                v = max(v, -h)
            v_int[b, n] = v
            if deplete:
                new_line[b, n] = u * keep


def _gather(idx, first, step, table, out):  # pragma: no cover - compiled
    """``out[b, n] = table[idx[first + b * step, n]]``: one event's noise values for a
    batch from a block of stream indices (rows: vector-major events)."""
    B, N = out.shape
    for b in range(B):
        j = first + b * step
        for n in range(N):
            out[b, n] = table[idx[j, n]]


def _settle_tail(x, y, ca, cb, has_y, q, qs, z, z_idx, z_first, z_step, z_table, has_noise,
                 v_prev, kick, has_kick, decay, has_decay, connected, all_connected, wl_kick, has_wl,
                 out):  # pragma: no cover
    """The elementwise end of :func:`analog_models.array.settle_drive` in one pass, the
    same float32 operations in the same order as its numpy expressions:

    ``t = x*ca (+ y*cb)``; read noise ``t += sqrt(max(q*qs, 0)) * z``; previous charge
    ``v0 = v_prev (+ kick)``; residue ``v = (v0 - t) * decay + t`` (else ``v = t``);
    unconnected lines keep ``v0``; then the WL kick. ``ca``, ``cb``, ``qs``, ``kick``
    are per vector, ``decay``, ``connected``, ``wl_kick`` per output; ``ca`` of size 1
    is a scalar factor. The normals ``z[b, n]`` are given, or when ``z`` is empty looked
    up as ``z_table[z_idx[z_first + b * z_step, n]]`` (a block of stream indices, rows:
    vector-major events).
    """
    B, N = out.shape
    zero = np.float32(0.0)
    scalar_a = ca.shape[0] == 1
    given_z = z.shape[0] > 0
    zb = np.empty(N, dtype=np.float32)
    for b in range(B):
        a = ca[0] if scalar_a else ca[b]
        # the vector's normals first (a lookup in the loop below would keep the compiler
        # from vectorising it)
        if has_noise:
            if given_z:
                zb[:] = z[b]
            else:
                j = z_first + b * z_step
                for n in range(N):
                    zb[n] = z_table[z_idx[j, n]]
        for n in range(N):
            t = x[b, n] * a
            if has_y:
                t = t + y[b, n] * cb[b]
            if has_noise:
                var = q[b, n] * qs[b]
                var = max(var, zero)
                var = np.sqrt(var)
                t = t + var * zb[n]
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


def _convert(v_int, latch, pend_sqrt, z1_idx, z1_first, z1_step, z1_table, n2_idx, n2_first,
             n2_step, n2_table, has_n2, offset, inj, n_integ, adc, gain, vdecr, h, bits, pack,
             packed):  # pragma: no cover - compiled
    """The k comparisons of one conversion (NeuronBank.compare / set_latch /
    decrement(mode 0) / integrate, in that order), per neuron: comparison ``c`` > 0
    first charges Csample to -/+ ``vdecr[c-1]`` by the latch and integrates it.

    ``v_int`` (B, N) and ``latch`` (B, N) are updated in place; ``bits`` (B, k, N)
    receives every decision, or with ``pack`` (k <= 8; ``bits`` then only gives k)
    ``packed`` (B, N) each neuron's k decisions as one integer, comparison 0 the most
    significant bit. ``pend_sqrt`` realises the pending kT/C noise with the
    normals ``z1_table[z1_idx[z1_first + b * z1_step, n]]`` at the first comparison (0:
    none); ``n2_table[n2_idx[n2_first + b * n2_step + c, n]]`` is minus the comparator
    noise (used when ``has_n2``); both index blocks of the streams, rows: vector-major
    events.
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
    zb = np.empty(N, dtype=np.float32)
    rb = np.empty((K, N), dtype=np.uint8)          # this vector's decisions
    for b in range(B):
        j = n2_first + b * n2_step
        if adc and has_n2:
            for c in range(K):
                for n in range(N):
                    thr[c, n] = n2_table[n2_idx[j + c, n]] - off[c, n]
        if pend_sqrt != zero:
            j1 = z1_first + b * z1_step
            for n in range(N):
                zb[n] = z1_table[z1_idx[j1, n]]
        for n in range(N):
            v = v_int[b, n]
            if pend_sqrt != zero:
                v = v + pend_sqrt * zb[n]
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
                rb[c, n] = r
                lats[n] = r
                vs[n] = v
        for n in range(N):
            v_int[b, n] = vs[n]
            latch[b, n] = lats[n]
        if pack:
            for n in range(N):
                packed[b, n] = rb[0, n]
            for c in range(1, K):
                for n in range(N):
                    packed[b, n] = (packed[b, n] << np.uint8(1)) | rb[c, n]
        else:
            for c in range(K):
                for n in range(N):
                    bits[b, c, n] = rb[c, n]


def column_rows(*args):
    """:func:`_column_rows` compiled (see there)."""
    return _jit("column_rows", _column_rows)(*args)


# PCG64 (numpy's ``np.random.PCG64``): a 128-bit LCG, state = state * MULT + inc, each
# step followed by the XSL-RR output of the new state; 128-bit values as (high, low)
# uint64 halves.
_PCG_MULT_HI = np.uint64(0x2360ED051FC65DA4)
_PCG_MULT_LO = np.uint64(0x4385DF649FCCF645)
_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _mulhi(a, b):  # pragma: no cover - compiled
    """High 64 bits of the 128-bit product ``a * b`` (uint64), by 32-bit halves."""
    a0, a1, b0, b1 = a & _U32, a >> _S32, b & _U32, b >> _S32
    p01, p10 = a0 * b1, a1 * b0
    mid = ((a0 * b0) >> _S32) + (p01 & _U32) + (p10 & _U32)
    return a1 * b1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


def _mul128(ah, al, bh, bl):  # pragma: no cover - compiled
    """``a * b`` mod 2**128 as (high, low)."""
    return _mulhi(al, bl) + al * bh + ah * bl, al * bl


def _add128(ah, al, bh, bl):  # pragma: no cover - compiled
    """``a + b`` mod 2**128 as (high, low)."""
    lo = al + bl
    return ah + bh + (np.uint64(1) if lo < al else np.uint64(0)), lo


def _pcg_step(sh, sl, ih, il):  # pragma: no cover - compiled
    """One LCG step: ``state * MULT + inc``."""
    h, l = _mul128(sh, sl, _PCG_MULT_HI, _PCG_MULT_LO)
    return _add128(h, l, ih, il)


def _pcg_output(sh, sl):  # pragma: no cover - compiled
    """XSL-RR: (high ^ low) rotated right by the top 6 bits of the state."""
    x = sh ^ sl
    rot = sh >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


def _pcg_advance(sh, sl, ih, il, delta):  # pragma: no cover - compiled
    """The state ``delta`` steps on (``PCG64.advance``), by squaring: O(log delta)."""
    one, zero = np.uint64(1), np.uint64(0)
    mh, ml = _PCG_MULT_HI, _PCG_MULT_LO          # the step's multiplier to the 2**k
    ph, pl = ih, il                              # ... and its increment
    ah, al, bh, bl = zero, one, zero, zero       # the accumulated jump
    while delta > 0:
        if delta & 1:
            ah, al = _mul128(ah, al, mh, ml)
            bh, bl = _mul128(bh, bl, mh, ml)
            bh, bl = _add128(bh, bl, ph, pl)
        m1h, m1l = _add128(mh, ml, zero, one)
        ph, pl = _mul128(m1h, m1l, ph, pl)
        mh, ml = _mul128(mh, ml, mh, ml)
        delta >>= 1
    h, l = _mul128(ah, al, sh, sl)
    return _add128(h, l, bh, bl)


def _column_rows(pcg, last, word, cols, start, bits, out):  # pragma: no cover - compiled
    """Values ``start .. start + n - 1`` of the column streams ``cols`` into ``out``
    (n, len(cols)), row-major, as :class:`analog_models._rng.ColumnStreams` defines them:
    value ``i`` of column ``c`` is lane ``i % (64 // bits)`` (low bits first) of word
    ``i // (64 // bits)`` of the column's PCG64.

    Per column ``c``: ``pcg[:, c]`` = (state high, state low, inc high, inc low) after
    producing word ``last[c]`` (-1: none yet), whose value ``word[c]`` keeps the lanes
    not read yet; all three are updated. A column that skipped words jumps over them.
    Returns -1 (nothing changed) if a column would be read backwards, else 0.
    """
    n, m = out.shape
    if n == 0 or m == 0:
        return 0
    lanes = 64 // bits
    mask = np.uint64((1 << bits) - 1)
    w0 = start // lanes
    w1 = (start + n - 1) // lanes
    for j in range(m):
        if last[cols[j]] > w0:
            return -1
    sh = np.empty(m, np.uint64)
    sl = np.empty(m, np.uint64)
    ih = np.empty(m, np.uint64)
    il = np.empty(m, np.uint64)
    wd = np.empty(m, np.uint64)
    # the first word: kept from the last read, or the columns jump to it
    for j in range(m):
        c = cols[j]
        h, l, a, b = pcg[0, c], pcg[1, c], pcg[2, c], pcg[3, c]
        if last[c] == w0:
            wd[j] = word[c]
        else:
            skip = w0 - last[c] - 1
            if skip > 0:
                h, l = _pcg_advance(h, l, a, b, skip)
            h, l = _pcg_step(h, l, a, b)
            wd[j] = _pcg_output(h, l)
        sh[j], sl[j], ih[j], il[j] = h, l, a, b
    w = w0
    while True:
        base = w * lanes - start          # row of lane 0 of word w
        l0 = max(0, -base)
        l1 = min(lanes, n - base)
        for q in range(l0, l1):
            s = np.uint64(q * bits)
            r = base + q
            for j in range(m):
                out[r, j] = (wd[j] >> s) & mask
        if w == w1:
            break
        w += 1
        # every column steps once: independent across columns (the compiler vectorises)
        for j in range(m):
            h, l = _pcg_step(sh[j], sl[j], ih[j], il[j])
            sh[j], sl[j] = h, l
            wd[j] = _pcg_output(h, l)
    for j in range(m):
        c = cols[j]
        pcg[0, c], pcg[1, c] = sh[j], sl[j]
        last[c] = w1
        word[c] = wd[j]
    return 0

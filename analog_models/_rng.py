"""Fast, reproducible Gaussian draws for the per-event analog noise.

``Generator.standard_normal`` costs ~15 ns per value, which alone would make the
vectorised MVM several times slower than the matrix product it models. The analog noise
only needs a Gaussian shape, not 53-bit resolution, so a draw here is a 16-bit uniform
integer mapped through a table of the inverse normal CDF at the 65536 mid-quantiles
(resolution 1.5e-5 in probability, tails to ±4.3σ). Drawing integers is ~10x cheaper.

The stream is sequential: drawing ``(a, b, 256)`` at once gives exactly the values of
``a*b`` successive draws of ``(256,)``. The event path (one event at a time) and the
vectorised path (all events of a batch at once) rely on this to agree bit for bit.
"""

from __future__ import annotations

import numpy as np


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse standard-normal CDF (Acklam's rational approximation, |err| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    lo = p < 0.02425
    hi = p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
                (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))
    for mask, sgn, pp in ((lo, 1.0, p[lo]), (hi, -1.0, 1 - p[hi])):
        qq = np.sqrt(-2 * np.log(pp))
        out[mask] = sgn * ((((((c[0] * qq + c[1]) * qq + c[2]) * qq + c[3]) * qq + c[4]) * qq + c[5]) /
                           ((((d[0] * qq + d[1]) * qq + d[2]) * qq + d[3]) * qq + 1))
    return out


_TABLE = _norm_ppf((np.arange(65536) + 0.5) / 65536.0)
# Normalise the table's variance exactly to 1 (the discretisation loses ~1e-4 of it).
_TABLE = (_TABLE / np.sqrt(np.mean(_TABLE**2))).astype(np.float32)


def _indices(rng: np.random.Generator, bits: int, shape) -> np.ndarray:
    """Quantile-table indices: uint16 (``bits`` 16) or uint8 (``bits`` 8) of ``shape``.

    The generator's raw 64-bit words split into 4 or 8 indices (several times cheaper
    than ``Generator.integers``); a row of 256 indices is 64 or 32 whole words, so
    drawing rows one by one or as a block gives the same indices.
    """
    n = int(np.prod(shape))
    per_word = 64 // bits
    words = rng.bit_generator.random_raw(-(-n // per_word))
    return words.view(np.uint16 if bits == 16 else np.uint8)[:n].reshape(shape)


def normals(rng: np.random.Generator, shape) -> np.ndarray:
    """Standard-normal values (float32) drawn from ``rng`` through the quantile table."""
    # take(mode="wrap") skips the bounds check of fancy indexing (indices are in range).
    return np.take(_TABLE, _indices(rng, 16, shape), mode="wrap")


# Comparator noise only decides bits within a few sigma of the threshold: 256 quantiles
# (tails to ±2.9σ) suffice, and one byte per draw halves the generator and lookup cost.
_TABLE8 = _norm_ppf((np.arange(256) + 0.5) / 256.0)
_TABLE8 = (_TABLE8 / np.sqrt(np.mean(_TABLE8**2))).astype(np.float32)


def normals8(rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    """Coarse standard normals (256 levels) times ``scale``, float32, sequential stream
    (drawing a block equals drawing its rows one after another)."""
    return np.take(_TABLE8 * np.float32(scale), _indices(rng, 8, shape), mode="wrap")


class RowStream:
    """Rows of quantile-table indices drawn from one generator, ``block`` rows per call.

    The draws above are sequential, so rows served from a block fetched ahead are exactly
    the rows one call per row would give; the stream only saves the generator's per-call
    cost (several microseconds, more than the draw of 256 values itself), which the event
    path would otherwise pay on every WL pulse and comparison. The vectorised path takes
    its blocks from the same stream, so both paths still consume one sequence in one order.

    Parameters
    ----------
    rng : numpy.random.Generator
    bits : 16 (``normals``) or 8 (``normals8``)
    width : values per row
    block : rows fetched per generator call when the stream runs dry
    """

    def __init__(self, rng: np.random.Generator, bits: int, width: int = 256, block: int = 64):
        if bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {bits!r}")
        if width <= 0 or (width * bits) % 64:
            # Whole 64-bit generator words per row keep the stream sequential.
            raise ValueError(f"width must be a positive multiple of {64 // bits}, got {width!r}")
        self.rng, self.bits, self.width, self.block = rng, bits, width, block
        self._buf = None
        self._pos = 0

    def rows(self, n: int) -> np.ndarray:
        """The next ``n`` rows of indices, shape (n, width)."""
        if n <= 0:
            # Not through the generator: even an empty draw may advance it.
            return np.empty((0, self.width), dtype=np.uint16 if self.bits == 16 else np.uint8)
        buf = self._buf
        left = 0 if buf is None else buf.shape[0] - self._pos
        if n <= left:
            out = buf[self._pos:self._pos + n]
            self._pos += n
            return out
        head = buf[self._pos:] if left else None
        fresh = _indices(self.rng, self.bits, (max(n - left, self.block), self.width))
        self._buf, self._pos = fresh, n - left
        out = fresh[:n - left]
        return out if head is None else np.concatenate([head, out])

    def normals(self, n: int, scale: float = 1.0, cols=None) -> np.ndarray:
        """The next ``n`` rows as standard normals (float32) times ``scale``; with
        ``cols`` only those columns are looked up (the stream advances by whole rows)."""
        table = _TABLE if self.bits == 16 else _TABLE8
        if scale != 1.0:
            table = table * np.float32(scale)
        idx = self.rows(n)
        if cols is not None:
            idx = idx[:, cols]
        return np.take(table, idx, mode="wrap")

"""Fast, reproducible Gaussian draws for the per-event analog noise.

``Generator.standard_normal`` costs ~15 ns per value, which alone would make the
vectorised MVM several times slower than the matrix product it models. The analog noise
only needs a Gaussian shape, not 53-bit resolution, so a draw here is a 16-bit uniform
integer (a quarter of a raw 64-bit generator word) mapped through a table of the inverse
normal CDF at the 65536 mid-quantiles (resolution 1.5e-5 in probability, tails to
±4.3σ); the comparator's noise uses 8-bit draws and a 256-entry table.

:class:`ColumnStreams` gives every neuron its own sequence, read by rows (one event's
draw for every neuron): the event path (one event at a time), the batched path (all the
events of a batch at once) and a batched path that simulates only some neurons all see
the same value at every (event, neuron), so they agree bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels


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


# Comparator noise only decides bits within a few sigma of the threshold: 256 quantiles
# (tails to ±2.9σ) suffice, and one byte per draw halves the generator and lookup cost.
_TABLE8 = _norm_ppf((np.arange(256) + 0.5) / 256.0)
_TABLE8 = (_TABLE8 / np.sqrt(np.mean(_TABLE8**2))).astype(np.float32)


class StreamNormals(NamedTuple):
    """One event's standard normals for a batch, not looked up yet: vector ``b``'s are
    ``table[idx[first + b * step]]`` (``idx`` a block of stream indices, rows:
    vector-major events). A compiled loop that consumes them looks them up itself."""

    idx: np.ndarray
    first: int
    step: int
    batch: int
    table: np.ndarray

    def values(self) -> np.ndarray:
        """The normals, (batch, columns)."""
        if _kernels.KERNELS:
            z = np.empty((self.batch, self.idx.shape[1]), dtype=self.table.dtype)
            _kernels.gather(self.idx, self.first, self.step, self.table, z)
            return z
        return np.take(self.table, self.idx[self.first:self.first + self.batch * self.step:self.step])


#: No normals (a compiled loop's argument when it draws none).
NO_NORMALS = StreamNormals(np.zeros((1, 1), dtype=np.uint16), 0, 0, 0, _TABLE)


class ColumnStreams:
    """One independent stream of quantile-table indices per column (neuron), read by rows.

    Row ``r`` holds value ``r`` of every column's own sequence; a column's sequence is its
    generator's raw 64-bit words (``np.random.PCG64`` seeded from ``[*seed, c]``) split
    into ``64 // bits`` indices, low bits first. Because each column has its own
    generator, a caller that needs only some columns of the next rows draws only theirs
    (a batched MVM that simulates 8 of 256 neurons), and the other columns skip the rows
    they missed when next read (``advance``: jumps without drawing). Any mix of full and
    partial reads therefore yields the same value at every (row, column).

    The generators' states are held as arrays; with numba a compiled loop
    (:func:`analog_models._kernels.column_rows`) runs them all and writes the rows in
    place, else each column's ``np.random.PCG64`` draws in turn (the same words).

    Parameters
    ----------
    seed : sequence of int
        Entropy of the streams; column ``c`` is seeded from ``[*seed, c]``.
    bits : 16 (``normals``) or 8 (``normals8``)
    width : columns
    block : rows fetched ahead for all columns when rows are read one at a time
    """

    def __init__(self, seed, bits: int, width: int = 256, block: int = 64):
        if bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {bits!r}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width!r}")
        self.seed, self.bits, self.width, self.block = [int(s) for s in seed], bits, width, block
        self.lanes = 64 // bits
        self.dtype = np.uint16 if bits == 16 else np.uint8
        # per column: PCG64 (state high, state low, inc high, inc low) after producing
        # word ``_last`` (-1: none), and that word (its lanes not read yet)
        self._pcg = np.zeros((4, width), dtype=np.uint64)
        self._seeded = np.zeros(width, dtype=bool)
        self._last = np.full(width, -1, dtype=np.int64)
        self._word = np.zeros(width, dtype=np.uint64)
        self._all = np.arange(width, dtype=np.int64)
        self.pos = 0                              # rows read so far
        self._buf = None                          # (rows, width) fetched ahead
        self._buf_start = self._buf_end = 0

    def _seed(self, cols: np.ndarray) -> None:
        """Seed the generators of ``cols`` not seeded yet (on first use: a core whose
        batched MVMs simulate a few neurons never seeds the others)."""
        for c in cols[~self._seeded[cols]].tolist():
            st = np.random.PCG64(np.random.SeedSequence(self.seed + [c])).state["state"]
            self._pcg[:, c] = _halves(st["state"]) + _halves(st["inc"])
            self._seeded[c] = True

    def _fill(self, out: np.ndarray, start: int, cols: np.ndarray) -> None:
        """Values ``start .. start + len(out) - 1`` of the columns ``cols`` into ``out``
        (rows, len(cols)); reads only move forward."""
        self._seed(cols)
        if _kernels.KERNELS:
            if _kernels.column_rows(self._pcg, self._last, self._word, cols, start, self.bits, out):
                raise RuntimeError("column stream read backwards")
            return
        lanes, n = self.lanes, out.shape[0]
        w0, w1 = start // lanes, (start + n - 1) // lanes
        off = start - w0 * lanes
        gen = np.random.PCG64(0)
        for j, c in enumerate(cols.tolist()):
            last = int(self._last[c])
            if last > w0:
                raise RuntimeError("column stream read backwards")
            words = [self._word[c:c + 1].copy()] if last == w0 else []
            first = max(last + 1, w0)
            if first <= w1:
                gen.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                             "state": {"state": _whole(self._pcg[0, c], self._pcg[1, c]),
                                       "inc": _whole(self._pcg[2, c], self._pcg[3, c])}}
                if first > last + 1:
                    gen.advance(first - last - 1)
                words.append(gen.random_raw(w1 - first + 1))
                self._pcg[:2, c] = _halves(gen.state["state"]["state"])
                self._last[c] = w1
                self._word[c] = words[-1][-1]
            vals = (words[0] if len(words) == 1 else np.concatenate(words)).view(self.dtype)
            out[:, j] = vals[off:off + n]

    def rows(self, n: int, cols=None) -> np.ndarray:
        """The next ``n`` rows, all columns or only ``cols``: shape (n, len(cols)),
        C-contiguous."""
        if cols is None:
            idx = self._all
        else:
            idx = np.ascontiguousarray(cols, dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= self.width):
                raise ValueError(f"cols must be column indices in 0..{self.width - 1}, got {cols!r}")
        out = np.empty((n, idx.size), dtype=self.dtype)
        r0 = self.pos
        k = 0
        if self._buf is not None and r0 < self._buf_end:
            k = min(n, self._buf_end - r0)
            part = self._buf[r0 - self._buf_start:r0 - self._buf_start + k]
            out[:k] = part if cols is None else part[:, idx]
        rest = n - k
        if rest and cols is None and rest < self.block:
            # one row at a time (the event path): fetch a block of rows for every column
            start = r0 + k
            self._buf = np.empty((self.block, self.width), dtype=self.dtype)
            self._fill(self._buf, start, self._all)
            self._buf_start, self._buf_end = start, start + self.block
            out[k:] = self._buf[:rest]
        elif rest:
            self._fill(out[k:], r0 + k, idx)
        self.pos += n
        return out

    def normals(self, n: int, scale: float = 1.0, cols=None) -> np.ndarray:
        """The next ``n`` rows as standard normals (float32) times ``scale``."""
        table = _TABLE if self.bits == 16 else _TABLE8
        if scale != 1.0:
            table = table * np.float32(scale)
        return np.take(table, self.rows(n, cols), mode="wrap")


_LOW64 = (1 << 64) - 1


def _halves(v: int) -> list:
    """A 128-bit generator value as [high, low] 64-bit halves."""
    return [v >> 64, v & _LOW64]


def _whole(hi, lo) -> int:
    return (int(hi) << 64) | int(lo)

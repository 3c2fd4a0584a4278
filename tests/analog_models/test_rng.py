"""Noise streams: one sequence per neuron, the same values whatever is read when."""

import numpy as np
import pytest

from analog_models._rng import _TABLE, _TABLE8, ColumnStreams
from tests.analog_models.conftest import needs_kernels


@pytest.mark.parametrize("bits", [16, 8])
def test_column_streams_give_one_value_per_row_and_column_whatever_is_read(bits):
    """Rows read one by one, in blocks, or only some columns at a time: the value at
    each (row, column) is the same."""
    ref = ColumnStreams([5, 1], bits, width=16, block=4).rows(120)
    s = ColumnStreams([5, 1], bits, width=16, block=4)
    got = np.full((120, 16), -1, dtype=np.int64)
    r = 0
    for n, cols in ((1, None), (3, None), (2, [3, 7]), (9, [0]), (1, None), (40, None),
                    (5, [15, 2, 9]), (1, None), (1, [4]), (57, None)):
        block = s.rows(n, cols)
        assert block.shape == (n, 16 if cols is None else len(cols))
        got[r:r + n, slice(None) if cols is None else cols] = block
        r += n
    assert r == 120
    seen = got >= 0
    np.testing.assert_array_equal(got[seen], ref[seen].astype(np.int64))
    assert seen[-57:].all() and not seen.all()
    # the columns are independent streams, and uniform
    assert len({tuple(ref[:, c]) for c in range(16)}) == 16
    assert abs(ref.mean() / (2**bits - 1) - 0.5) < 0.05


def test_column_streams_reject_bad_arguments():
    with pytest.raises(ValueError, match="bits"):
        ColumnStreams([0], 12)
    with pytest.raises(ValueError, match="width"):
        ColumnStreams([0], 8, width=0)


def test_normal_tables_are_standard():
    for t in (_TABLE, _TABLE8):
        assert abs(float(np.mean(t))) < 1e-6 and abs(float(np.mean(t.astype(float) ** 2)) - 1) < 1e-6
        assert np.all(np.diff(t) > 0)
    z = ColumnStreams([3], 16, width=8).normals(4000)
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


def _reference(seed, bits, width, n):
    """Rows 0..n-1 of every column from the definition: column ``c``'s
    ``np.random.PCG64(SeedSequence([*seed, c]))`` raw words, split low bits first."""
    dtype = np.uint16 if bits == 16 else np.uint8
    words = -(-n * bits // 64)
    return np.stack([np.random.PCG64(np.random.SeedSequence([*seed, c])).random_raw(words).view(dtype)[:n]
                     for c in range(width)], axis=1)


def _random_reads(rng, width, total):
    """A random mix of single-row (event path), full and partial-column reads."""
    r = 0
    while r < total:
        kind = rng.integers(4)
        n = 1 if kind in (0, 3) else min(int(rng.integers(0, 90)), total - r)
        cols = None if kind < 2 else np.sort(rng.choice(width, int(rng.integers(1, width + 1)), replace=False))
        if kind == 3:
            cols = cols[::-1]                 # any order, not contiguous
        yield n, cols
        r += n


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_kernels), False])
@pytest.mark.parametrize("bits", [16, 8])
def test_column_streams_are_the_columns_pcg64_words(bits, compiled, monkeypatch):
    """Whatever mix of reads, with the compiled generator or numpy's, every value is the
    one numpy's PCG64 of that column gives (jumps over skipped words included, and a word
    whose lanes are read by several calls)."""
    from analog_models import _kernels
    monkeypatch.setattr(_kernels, "KERNELS", compiled)
    rng = np.random.default_rng(bits + compiled)
    width, total = 24, 700
    ref = _reference([9, 4], bits, width, total)
    s = ColumnStreams([9, 4], bits, width=width, block=8)
    got = np.full((total, width), -1, dtype=np.int64)
    r = 0
    for n, cols in _random_reads(rng, width, total):
        block = s.rows(n, cols)
        assert block.shape == (n, width if cols is None else len(cols)) and block.dtype == ref.dtype
        assert block.flags.c_contiguous
        got[r:r + n, slice(None) if cols is None else cols] = block
        r += n
    seen = got >= 0
    assert seen.mean() > 0.4 and not seen.all()
    np.testing.assert_array_equal(got[seen], ref[seen].astype(np.int64))


@needs_kernels
@pytest.mark.parametrize("bits", [16, 8])
def test_compiled_and_numpy_streams_continue_each_other(bits, monkeypatch):
    """The generator states are the same whichever implementation advanced them: a
    stream (or its copy, as ``CoreModel.save_state`` takes) switching between the two at
    random gives the reference values."""
    import copy
    from analog_models import _kernels
    rng = np.random.default_rng(7 + bits)
    width, total = 16, 600
    ref = _reference([2], bits, width, total)
    s = ColumnStreams([2], bits, width=width, block=5)
    r = 0
    for n, cols in _random_reads(rng, width, total):
        monkeypatch.setattr(_kernels, "KERNELS", bool(rng.integers(2)))
        if rng.random() < 0.2:
            s = copy.deepcopy(s)
        block = s.rows(n, cols)
        np.testing.assert_array_equal(block, ref[r:r + n, slice(None) if cols is None else cols])
        r += n


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_kernels), False])
def test_column_streams_jump_far_ahead_and_refuse_to_go_back(compiled, monkeypatch):
    """A column that skipped 2**40 + 3 words (the 128-bit jump-ahead) gives the words
    of ``PCG64.advance``; rows are never read backwards."""
    from analog_models import _kernels
    monkeypatch.setattr(_kernels, "KERNELS", compiled)
    s = ColumnStreams([1, 1], 16, width=4)
    s.rows(5, cols=[0])
    s.pos = 4 * (2**40 + 3) + 2                 # as if that many rows of column 3 were skipped
    got = s.rows(7, cols=[3, 0])
    for j, c in enumerate((3, 0)):
        g = np.random.PCG64(np.random.SeedSequence([1, 1, c]))
        g.advance(2**40 + 3)
        np.testing.assert_array_equal(got[:, j], g.random_raw(3).view(np.uint16)[2:9])
    s.pos = 0
    with pytest.raises(RuntimeError, match="backwards"):
        s.rows(1, cols=[3])
    with pytest.raises(ValueError, match="cols"):
        s.rows(1, cols=[4])

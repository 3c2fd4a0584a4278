"""Noise streams: one sequence per neuron, the same values whatever is read when."""

import numpy as np
import pytest

from analog_models._rng import _TABLE, _TABLE8, ColumnStreams


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

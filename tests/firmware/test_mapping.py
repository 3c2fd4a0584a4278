"""High level, host-only parts: weight mapping, bias rows, batch-norm folding, placement."""

import numpy as np
import pytest

from firmware import highlevel as hl


def test_weights_to_conductance_paper_scheme():
    w = np.array([[0.5, -1.0], [0.0, 0.25]])
    g, wmax = hl.weights_to_conductance(w, gmin=1, gmax=41)
    assert wmax == 1.0
    # row 2i = G+, 2i+1 = G-; G = gmin + 40 * |w|/wmax on the side of its sign
    assert g.tolist() == [[21, 1], [1, 41], [1, 11], [1, 1]]
    # the difference recovers w * (gmax - gmin) / wmax
    assert np.allclose((g[0::2] - g[1::2]) / 40, w)
    with pytest.raises(ValueError, match="NaN"):
        hl.weights_to_conductance(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="gmin < gmax"):
        hl.weights_to_conductance(w, gmin=5, gmax=5)


def test_bias_rows_count_and_value():
    w = np.full((3, 2), 0.1)
    m, nb = hl.bias_rows(w, np.array([0.25, -0.05]))
    assert nb == 3                       # bias range 0.25 is 2.5x the weight range -> 3 rows
    assert m.shape == (6, 2)
    assert np.allclose(m[3:].sum(axis=0), [0.25, -0.05])
    x = np.array([0.3, -0.2, 1.0])
    assert np.allclose(np.r_[x, [1.0] * nb] @ m, x @ w + [0.25, -0.05])


def test_fold_batchnorm_matches_explicit():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    bn = dict(gamma=rng.uniform(0.5, 2, 3), beta=rng.normal(size=3), mean=rng.normal(size=3),
              var=rng.uniform(0.5, 2, 3))
    x = rng.normal(size=(4, 5))
    ref = bn["gamma"] * (x @ w + b - bn["mean"]) / np.sqrt(bn["var"] + 1e-5) + bn["beta"]
    w2, b2 = hl.fold_batchnorm(w, b, **bn)
    assert np.allclose(x @ w2 + b2, ref)


def test_conv_flatten_and_im2col_equal_direct_convolution():
    rng = np.random.default_rng(1)
    k = rng.normal(size=(3, 3, 2, 4))
    x = rng.normal(size=(2, 5, 5, 2))
    p = hl.im2col(x, 3, 3, stride=1, padding=1)
    y = p @ hl.conv_weight_matrix(k)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    direct = np.zeros((2, 5, 5, 4))
    for i in range(5):
        for j in range(5):
            direct[:, i, j] = np.einsum("nhwc,hwco->no", xp[:, i:i + 3, j:j + 3], k)
    assert np.allclose(y, direct)


def _layer(name, rows, cols, intensity=1.0):
    return hl.Layer(name, np.ones((rows, cols)), 0, 1.0, intensity=intensity)


def test_split_beyond_one_core():
    pl = hl.place([_layer("a", 300, 300)], n_cores=48, replicate=False, split_wide=False)
    # 300 logical rows -> 3 segments of <= 128 (<= 256 differential rows); 300 cols -> 2
    assert len(pl.blocks) == 6
    assert all(b.n_rows <= 128 and b.n_cols <= 256 for b in pl.blocks)
    assert sorted({b.core for b in pl.blocks}) == list(range(6))
    covered = np.zeros((300, 300), int)
    for b in pl.blocks:
        covered[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]] += 1
    assert (covered == 1).all()


def test_wide_split_and_replication():
    layers = [_layer("conv1", 27, 16, intensity=1024), _layer("fc", 64, 200)]
    pl = hl.place(layers, n_cores=4)
    fc = [b for b in pl.blocks if b.layer == "fc"]
    assert len(fc) == 2 and all(b.n_cols <= 128 for b in fc)       # wide -> two cores
    conv = [b for b in pl.blocks if b.layer == "conv1"]
    assert len(conv) == 2 and {b.replica for b in conv} == {0, 1}  # replicated on the spare core
    assert len(set(b.core for b in pl.blocks)) == 4
    rep = pl.report()
    assert rep["cores_used"] == 4 and len(rep["blocks"]) == 4


def test_merge_when_more_than_cores():
    layers = [_layer(f"s{i}", 30, 20) for i in range(6)]
    pl = hl.place(layers, n_cores=2, replicate=False)
    assert len(pl.cores_used()) <= 2
    for core in pl.cores_used():
        bs = [b for b in pl.blocks if b.core == core]
        occ = np.zeros((256, 256), int)
        for b in bs:
            occ[b.row0:b.row0 + 2 * b.n_rows, b.col0:b.col0 + b.n_cols] += 1
        assert occ.max() == 1                      # no two blocks share a cell
    assert any(b.merge == "diagonal" for b in pl.blocks)
    with pytest.raises(ValueError, match="cores"):
        hl.place([_layer(f"s{i}", 128, 256) for i in range(3)], n_cores=2)

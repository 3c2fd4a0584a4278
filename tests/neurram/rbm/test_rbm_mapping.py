import numpy as np
import pytest

from neurram.rbm import mapping, model


def _rbm(nv, nh, seed=0):
    rng = np.random.default_rng(seed)
    return model.RBM(np.clip(rng.normal(0, 0.3, (nv, nh)), -1, 1), rng.normal(0, 2, nh),
                     rng.normal(-2, 1, nv), 1.0)


def test_full_size_rbm_over_seven_cores_with_neighbours_apart():
    m = mapping.map_rbm(_rbm(794, 120), (28, 28))
    rep = m.report()
    assert m.n_cores == 7                          # 794 visible + bias columns at <= 128 per core
    assert rep["touching_pixel_pairs_on_same_core"] == 0
    seen = np.concatenate([b.visible for b in m.blocks])
    assert np.array_equal(np.sort(seen), np.arange(794))        # every visible unit once
    assert all(b.n_cols <= 128 for b in m.blocks)
    px = [c["pixels"] for c in rep["cores"]]
    assert max(px) - min(px) <= 1                  # each core sees an evenly down-sampled image


def test_conductances_encode_the_weights():
    r = _rbm(74, 16, seed=1)
    m = mapping.map_rbm(r, (8, 8))
    b = m.blocks[0]
    g = m.conductance(b)
    assert g.min() >= m.gmin - 1e-12 and g.max() <= m.gmax + 1e-9
    d = g[:, 0::2] - g[:, 1::2]                    # column pairs: G+ - G-
    w = d[:m.n_hidden, :len(b.visible)] * m.wmax / (m.gmax - m.gmin)
    assert np.allclose(w, r.W[b.visible].T)
    bias = d[m.n_hidden:m.n_hidden + m.n_bias_rows, :len(b.visible)].sum(0)
    assert np.allclose(bias * m.wmax / (m.gmax - m.gmin), r.b[b.visible])
    assert b.n_rows == m.n_hidden + m.n_bias_rows
    hb = d[:m.n_hidden, len(b.visible):b.n_cols].sum(1)
    assert np.allclose(hb * m.wmax / (m.gmax - m.gmin), r.a)


def test_sizes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="n_hidden = 255"):
        mapping.map_rbm(_rbm(794, 255), (28, 28))     # + bias rows > 256 rows
    with pytest.raises(ValueError, match="n_visible"):
        mapping.map_rbm(_rbm(790, 120), (28, 28))
    with pytest.raises(ValueError, match="n_cores"):
        mapping.map_rbm(_rbm(794, 120), (28, 28), n_cores=3)


def test_readback_of_exact_conductances_is_the_rbm():
    from types import SimpleNamespace

    from neurram.rbm.analysis import readback_rbm

    r = _rbm(74, 16, seed=2)
    m = mapping.map_rbm(r, (8, 8))
    back = readback_rbm(SimpleNamespace(m=m, g_meas={b.core: m.conductance(b) for b in m.blocks}))
    assert np.allclose(back.W, r.W, atol=1e-6) and np.allclose(back.a, r.a) and np.allclose(back.b, r.b)

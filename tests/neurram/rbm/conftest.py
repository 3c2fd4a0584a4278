"""A small RBM on the 8 x 8 digits, trained once per session, and its chip-model copy."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits_data():
    from neurram.rbm import model

    return model.load("digits")


@pytest.fixture(scope="session")
def small_rbm(digits_data, tmp_path_factory):
    from neurram.rbm import model

    cfg = model.TrainConfig(n_hidden=32, epochs=12, lr=0.02, train_noise=0.35, seed=0)
    return model.cached_train(digits_data, cfg, tmp_path_factory.mktemp("rbm-cache"))


def _calibrated(rbm, data, lfsr_seed=1, visible_mode="3bit", chip_seed=0):
    from neurram.rbm import chip, mapping, model, sampler

    m = mapping.map_rbm(rbm, data.shape)
    crbm = sampler.ChipRBM(m, chip.fast_backend(m.n_cores, seed=chip_seed), lfsr_seed=lfsr_seed,
                           visible_mode=visible_mode)
    crbm.program()
    v = model.visible(data.x_train, data.y_train)
    rng = np.random.default_rng(0)
    h = (rng.random((len(v), rbm.n_hidden)) < model.sigmoid(v @ rbm.W + rbm.a)).astype(np.int64)
    crbm.calibrate(v, h)
    return crbm


@pytest.fixture(scope="session")
def chip_rbm(small_rbm, digits_data):
    return _calibrated(small_rbm, digits_data)


@pytest.fixture(scope="session")
def calibrated():
    return _calibrated

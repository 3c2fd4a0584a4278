"""A small CNN trained once per session on the digits set (tiny epochs), shared by the tests."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def digits_split():
    from neurram.data import digits
    return digits()


@pytest.fixture(scope="session")
def digits_model(digits_split, tmp_path_factory):
    from neurram.nets.train import TrainConfig, load_or_train, set_threads
    set_threads(1)
    cache = tmp_path_factory.mktemp("ckpt")
    model, info = load_or_train(digits_split, TrainConfig(noise=0.1, epochs=4, batch=32), cache_dir=cache,
                                progress=False)
    return model, info, cache


@pytest.fixture(scope="session")
def digits_graph(digits_model, digits_split):
    from neurram.nets.importers import from_torch
    return from_torch(digits_model[0], digits_split.image_shape)

import numpy as np
import pytest
import torch

from neurram.nets.model import MnistCNN, QuantReLU, weight_noise
from neurram.nets.train import TrainConfig, checkpoint_key, load_or_train


def test_quant_relu_levels_and_pact_gradient():
    q = QuantReLU(bits=3, alpha=2.0)
    x = torch.linspace(-1, 3, 101, requires_grad=True)
    y = q(x)
    step = 2.0 / 7
    assert torch.allclose(y, torch.round(y / step) * step, atol=1e-5)
    assert float(y.min()) == 0.0 and abs(float(y.max()) - 2.0) < 1e-4
    y.sum().backward()
    # PACT: alpha collects the gradient of the clipped inputs, x only inside (0, alpha)
    assert float(q.alpha.grad) == pytest.approx(float((x > 2.0 + 1e-6).sum()))
    assert torch.all(x.grad[(x > 0.01) & (x < 1.99)] == 1) and torch.all(x.grad[x < 0] == 0)
    with torch.no_grad():
        assert torch.allclose(q(x), y, atol=1e-5)     # inference form gives the same values


def test_weight_noise_is_relative_to_max_folded_weight():
    torch.manual_seed(0)
    w = torch.randn(64, 8, 3, 3)
    scale = torch.rand(64) + 0.5
    d = weight_noise(w, 0.1, scale)
    eff = (d * scale.reshape(-1, 1, 1, 1)).std()
    assert float(eff) == pytest.approx(0.1 * float((w * scale.reshape(-1, 1, 1, 1)).abs().max()), rel=0.05)
    assert torch.all(weight_noise(w, 0.0) == 0)


def test_model_shapes():
    assert MnistCNN((28, 28))(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert MnistCNN((8, 8))(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="too small"):
        MnistCNN((4, 4))
    with pytest.raises(ValueError, match="six"):
        MnistCNN(channels=(8, 8))


def test_checkpoint_is_cached_and_keyed(digits_model, digits_split):
    model, info, cache = digits_model
    assert info["test_acc"] > 0.5 and not info["cached"]
    again, info2 = load_or_train(digits_split, TrainConfig(noise=0.1, epochs=4, batch=32), cache_dir=cache,
                                 progress=False)
    assert info2["cached"] and info2["key"] == info["key"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    base = checkpoint_key(model.config, digits_split.name, TrainConfig(noise=0.1, epochs=4, batch=32))
    for other in (TrainConfig(noise=0.2, epochs=4, batch=32), TrainConfig(noise=0.1, epochs=5, batch=32),
                  TrainConfig(noise=0.1, epochs=4, batch=32, seed=1)):
        assert checkpoint_key(model.config, digits_split.name, other) != base
    assert checkpoint_key(model.config, "mnist5k-s2022", TrainConfig(noise=0.1, epochs=4, batch=32)) != base


def test_train_config_validation():
    with pytest.raises(ValueError, match="noise"):
        TrainConfig(noise=-0.1).validate()
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0).validate()


def test_training_does_not_depend_on_the_callers_thread_count(digits_split):
    """A checkpoint is a function of its key: the same config trained while the caller runs
    torch on two threads gives the weights of one thread (the reductions split by thread count)."""
    cfg = TrainConfig(noise=0.1, epochs=1, batch=32)
    states = []
    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            model, _ = load_or_train(digits_split, cfg, cache_dir=None, progress=False)
            assert torch.get_num_threads() == n            # the caller's setting is restored
            states.append(model.state_dict())
    finally:
        torch.set_num_threads(before)
    for name, a in states[0].items():
        assert torch.equal(a, states[1][name]), name

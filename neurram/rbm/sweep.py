"""The ``rbm`` job kind of ``neurram sweep``: image recovery by the RBM on one simulated
chip instance (seed) with any analog parameters, e.g. recovery over 20 chips or over the
driver resistance.

The trained model comes from the same cache as ``neurram rbm`` / ``make rbm`` (keyed by the
data and the training configuration), so a sweep trains once per worker at most.
"""

from __future__ import annotations

import time


def recover(*, seed: int, params: dict, dataset: str, corruption: str, hidden: int,
            epochs: int, lr: float, train_noise: float, train_seed: int, test_images: int,
            steps: int, visible_mode: str, program: str, lfsr_seed: int, cache: str) -> dict:
    """Program the RBM on chip instance ``seed`` with ``params`` (AnalogParams overrides),
    calibrate it on training images, and run ``steps`` Gibbs steps on ``test_images``
    corrupted test images; the same recovery in software beside it."""
    from neurram.sweeps.spec import analog_params

    from . import chip, mapping, model, sampler

    t0 = time.perf_counter()
    data = model.load(dataset)
    cfg = model.train_config(n_hidden=hidden, epochs=epochs, lr=lr, train_noise=train_noise,
                             seed=train_seed)
    rbm = model.cached_train(data, cfg, cache)
    mp = mapping.map_rbm(rbm, data.shape)
    backend = chip.fast_backend(mp.n_cores, params=analog_params(params), seed=seed)
    crbm = sampler.ChipRBM(mp, backend, lfsr_seed=lfsr_seed, visible_mode=visible_mode)
    crbm.program(program, progress=False)
    crbm.calibrate(*model.calibration_set(rbm, data, crbm.op.calib_vectors, seed=train_seed + 7))
    c = model.corrupt(*model.test_subset(data, min(test_images, len(data.x_test))), data.shape,
                      corruption, seed=1)
    hist = crbm.recover(c, steps)["hist"]
    sw = model.software_recover(rbm, c, steps, visible_mode=visible_mode, seed=5)
    return {"l2_reduction": model.l2_reduction(hist[-1], c),
            "l2_reduction_software": model.l2_reduction(sw[-1], c),
            "l2_error": model.l2_error(hist[-1], c.original),
            "cores_used": mp.n_cores, "mvms": backend.mvm_count,
            "chip_s": round(time.perf_counter() - t0, 2)}

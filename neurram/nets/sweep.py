"""The ``net`` job kind of ``neurram sweep``: test accuracy of a trained network on one
simulated chip instance (seed) with any analog parameters, e.g. accuracy over 50 chips.

The trained model comes from the same checkpoint cache as ``neurram net`` / ``make mnist``
(keyed by model, split, training noise, seed and epochs), so a sweep over chip instances
trains once per worker at most and usually not at all.
"""

from __future__ import annotations

import time

from rtl.contract.constants import N_CORES


def evaluate(*, seed: int, params: dict, data: str, train_noise: float, epochs: int | None,
             test_images: int | None, calibrate: bool, shared_vread: bool,
             program: str, out_bits: int, out: str) -> dict:
    """Program the network on chip instance ``seed`` with ``params`` (AnalogParams
    overrides), optionally calibrate on training activations, and measure test accuracy."""
    from neurram.sweeps.spec import analog_params

    from . import software
    from .chip import ChipNet, make_mid
    from .pipeline import Experiment

    exp = Experiment(data=data, out=out, epochs=epochs, test_images=test_images,
                     program=program, out_bits=out_bits, progress=False)
    t0 = time.perf_counter()
    graph = exp.graph(float(train_noise))
    net = ChipNet(graph, make_mid("fast", N_CORES, analog_params(params), seed), out_bits=out_bits)
    net.program(method=program)
    x, y = exp.test_set()
    res = {"cores_used": net.cores_used, "acc_software": software.accuracy(graph, x, y),
           "acc_uncalibrated": exp.evaluate(net)["acc"]}
    if calibrate:
        exp.calibrate(net, "train", shared_vread, seed)
        res["acc"] = exp.evaluate(net)["acc"]
    else:
        res["acc"] = res["acc_uncalibrated"]
    res["chip_s"] = round(time.perf_counter() - t0, 2)
    return res

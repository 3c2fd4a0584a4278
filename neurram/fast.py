"""The batched chip backend at network scale: a reference conv job and the ``fast`` bench.

* :func:`first_conv` maps the first layer of the paper's MNIST CNN (3x3, 1 -> 8 channels,
  28x28, padding 1, 3-bit unsigned inputs) onto any mid level and runs images through it;
  :func:`conv_job` does the same on a transport (``cosim.session.run_with_cosim`` entry),
  so one function produces the codes the golden model, the cosimulation and
  :class:`firmware.fastchip.FastChip` are compared on.
* :func:`run` is the ``fast`` section of ``neurram bench``: a batch of images through a
  deployment of the whole CNN shape (random weights; 3x3 conv 8, 8, pool, 16, 16, pool,
  32, 32, pool, dense 10) on the fast backend, against the same computation in float
  numpy in the same run.
"""

from __future__ import annotations

import base64
import logging
import time

import numpy as np

log = logging.getLogger(__name__)

#: (name, kind, in channels, out channels) of the paper's MNIST CNN; "pool" = 2x2 max-pool.
CNN = [("conv1", 1, 8), ("conv2", 8, 8), "pool", ("conv3", 8, 16), ("conv4", 16, 16), "pool",
       ("conv5", 16, 32), ("conv6", 32, 32), "pool", ("fc", 32 * 3 * 3, 10)]

#: the 1,000-image MNIST test set through the CNN within a minute (wall on an idle
#: machine; the CPU-time figure is what a loaded shared machine still measures fairly)
GOALS = {
    "fast.cnn_images_per_s": (">=", 1000 / 60),
    "fast.cnn_cpu_s": ("<=", 60.0),
}


def _cfg():
    from firmware.midlevel import MvmConfig

    # The paper's CNN quantises every layer's input to 3 bits, unsigned (after ReLU).
    return MvmConfig(in_bits=3, signed=False, out_bits=6)


def images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random 28x28 one-channel images in [0, 1] (N, H, W, C)."""
    return np.random.default_rng([seed, 7]).uniform(0, 1, (n, 28, 28, 1))


def first_conv(mid, x, *, seed: int = 0, n_cores: int | None = None) -> dict:
    """Conv1 of the MNIST CNN (random weights from ``seed``) on ``mid``; backdoor-loaded.

    Returns ``{"y": outputs (N, 28, 28, 8), "codes": every MVM's raw codes (int16),
    "placement": the placement report}``.
    """
    from firmware.highlevel import Deployment

    rng = np.random.default_rng([seed, 11])
    net = Deployment(mid, _cfg())
    net.add_conv("conv1", rng.normal(0, 0.5, (3, 3, 1, 8)), rng.normal(0, 0.2, 8), padding=1,
                 input_hw=(28, 28))
    net.place()
    net.program("backdoor")
    mid.record_codes = True
    mid.codes_log.clear()
    y = net.run("conv1", x)
    codes = np.concatenate([c.reshape(-1) for c in mid.codes_log]).astype(np.int16)
    return {"y": y, "codes": codes, "placement": net.placement.report()}


def conv_job(transport, n_images: int = 2, seed: int = 0) -> dict:
    """:func:`first_conv` on a transport (golden or cosim) for ``n_images`` images."""
    from analog_models.params import AnalogParams
    from firmware.lowlevel import Chip
    from firmware.midlevel import MidLevel

    mid = MidLevel(Chip(transport), AnalogParams(), progress=False)
    out = first_conv(mid, images(n_images, seed), seed=seed)
    return {"y": out["y"], "codes_b64": base64.b64encode(out["codes"].tobytes()).decode(),
            "placement": out["placement"]}


# ------------------------------------------------------------------------------ bench
def _pool(x):
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, :2 * h2, :2 * w2].reshape(n, h2, 2, w2, 2, c).max(axis=(2, 4))


def cnn_weights(seed: int = 0) -> list:
    """Random He-scaled weights of :data:`CNN`: per layer (name, kernel or matrix, bias)."""
    rng = np.random.default_rng([seed, 13])
    out = []
    for layer in CNN:
        if layer == "pool":
            continue
        name, c_in, c_out = layer
        if name == "fc":
            w = rng.normal(0, np.sqrt(2 / c_in), (c_in, c_out))
        else:
            w = rng.normal(0, np.sqrt(2 / (9 * c_in)), (3, 3, c_in, c_out))
        out.append((name, w, rng.normal(0, 0.05, c_out)))
    return out


def cnn_float(weights, x, in_ranges=None) -> tuple[np.ndarray, list]:
    """The CNN in float numpy (ReLU between layers; each layer's input clipped to its
    range when ``in_ranges`` is given). Returns logits and each layer's input range
    (the 99.9th percentile of its input)."""
    from firmware.highlevel import conv_weight_matrix, im2col

    ranges = []
    it = iter(weights)
    h = x
    for i, layer in enumerate(CNN):
        if layer == "pool":
            h = _pool(h)
            continue
        name, w, b = next(it)
        r = float(np.percentile(h, 99.9)) or 1.0
        ranges.append(r)
        hc = h if in_ranges is None else np.clip(h, 0, in_ranges[len(ranges) - 1])
        if name == "fc":
            h = hc.reshape(hc.shape[0], -1) @ w + b
        else:
            p = im2col(hc, 3, 3, 1, 1)
            h = np.maximum(p @ conv_weight_matrix(w) + b, 0)
    return h, ranges


def deploy_cnn(mid, weights, in_ranges):
    """The CNN as a :class:`firmware.highlevel.Deployment` on ``mid`` (backdoor-loaded)."""
    from firmware.highlevel import Deployment

    net = Deployment(mid, _cfg())
    # input sizes set each layer's intensity: spare cores replicate the busiest layers
    hw = {"conv1": (28, 28), "conv2": (28, 28), "conv3": (14, 14), "conv4": (14, 14),
          "conv5": (7, 7), "conv6": (7, 7)}
    for (name, w, b), r in zip(weights, in_ranges):
        if name == "fc":
            net.add_dense(name, w, b, in_range=r)
        else:
            net.add_conv(name, w, b, padding=1, in_range=r, input_hw=hw[name])
    net.place()
    net.program("backdoor")
    return net


def cnn_chip(net, x, timings: dict | None = None) -> np.ndarray:
    """The CNN on the chip: each layer's MVMs on the cores, ReLU / pooling on the host."""
    h = x
    it = iter(net.layers)
    for layer in CNN:
        if layer == "pool":
            h = _pool(h)
            continue
        name = next(it)
        t = time.perf_counter()
        if name == "fc":
            h = net.run(name, h.reshape(h.shape[0], -1))
        else:
            h = np.maximum(net.run(name, h), 0)
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
    return h


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def run(images_n: int = 1000, seed: int = 0) -> dict:
    """``fast.*``: the CNN shape on the batched backend vs float numpy, same batch, same run.

    Keys: ``fast.cnn_images_per_s`` (chip model), ``fast.cnn_s`` (wall time of the
    batch), ``fast.cnn_cpu_s`` / ``fast.cnn_images_per_cpu_s`` (CPU time of the process,
    all threads: what a shared machine's load does not inflate), ``fast.ratio_vs_float``
    and ``fast.ratio_vs_float_cpu`` (chip model / float numpy, same layers, same batch), ``fast.cnn_layer_s.<layer>``, ``fast.mvms`` (MVM vectors in the batch) and
    ``fast.conv1_corr`` (correlation of the first layer's chip outputs with its float
    result: a sanity check that the deployment computes the layer; uncalibrated). Random
    weights pass through seven uncalibrated layers chaotically, so the logits themselves
    are not compared.
    """
    from firmware.fastchip import FastChip

    x = images(images_n, seed)
    w = cnn_weights(seed)
    _, ranges = cnn_float(w, x)
    chip = FastChip(48, seed=seed)
    net = deploy_cnn(chip, w, ranges)
    cnn_chip(net, x[:64])                   # every core's array plan built outside the timing
    timings: dict = {}
    t, c = time.perf_counter(), time.process_time()
    cnn_chip(net, x, timings)
    t_chip, c_chip = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    cnn_float(w, x, ranges)
    t_float, c_float = time.perf_counter() - t, time.process_time() - c
    n_mvm = sum(x.shape[0] * (28 * 28 if n in ("conv1", "conv2") else 14 * 14 if n in ("conv3", "conv4")
                              else 7 * 7 if n in ("conv5", "conv6") else 1) for n in net.layers)
    out = {"fast.cnn_images_per_s": images_n / t_chip, "fast.cnn_s": t_chip,
           "fast.cnn_cpu_s": c_chip, "fast.cnn_images_per_cpu_s": images_n / c_chip,
           "fast.float_s": t_float, "fast.ratio_vs_float": t_chip / t_float,
           "fast.ratio_vs_float_cpu": c_chip / c_float,
           "fast.mvms": n_mvm, "fast.images": images_n,
           "fast.threads": chip.threads,
           "fast.conv1_corr": _corr(net.run("conv1", x[:50]), net.reference("conv1", x[:50]))}
    out.update({f"fast.cnn_layer_s.{k}": v for k, v in timings.items()})
    return out

"""``neurram bench`` section ``net``: the MNIST test set through the deployed CNN on the chip model.

The CNN is the cached best checkpoint of ``make mnist`` when there is one, else the same
architecture freshly initialised (the speed does not depend on the weight values). It is
programmed by write-verify on the fast backend (48 cores, every non-ideality on) and
calibrated on 200 training images, then the 1,000 test images run through every layer on
the chip (``net.test_set_s``, the goal); the ratio is against float
torch inference of the same model on the same batch, measured in the same run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

GOALS = {"net.test_set_s": ("<=", 60.0)}


def _model(split):
    import torch

    from .model import MnistCNN

    model = MnistCNN(image_hw=split.image_shape[1:])
    report = Path("build/mnist/report.json")
    best = json.loads(report.read_text())["nrt.best_train_noise"] if report.exists() else None
    found = []
    for ckpt in sorted(Path("build/nets/ckpt").glob("cnn-*.pt")):
        blob = torch.load(ckpt, weights_only=False)
        info = blob["info"]
        if info.get("split") == split.name:
            found.append((info["train"]["noise"] != best, str(ckpt), blob["state"]))
    if found:
        _, path, state = min(found, key=lambda f: f[:2])    # the deployed (best-n) model first
        model.load_state_dict(state)
        return model, path
    torch.manual_seed(0)
    return model.eval(), "untrained (no cached checkpoint)"


def run(seed: int = 1, n_images: int | None = None, **_) -> dict:
    import torch

    from neurram.data import mnist

    from .chip import ChipNet, make_mid
    from .importers import from_torch
    from .train import set_threads

    set_threads(1)
    split = mnist()
    model, source = _model(split)
    model.eval()
    graph = from_torch(model, split.image_shape)
    x = split.x_test[:n_images] if n_images else split.x_test
    net = ChipNet(graph, make_mid("fast", 48, None, seed))
    t0 = time.perf_counter()
    net.program(method="write-verify")
    t_prog = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.calibrate_all(split.x_train[:200])
    t_cal = time.perf_counter() - t0
    t0 = time.perf_counter()
    logits = net.forward(x)
    t_chip = time.perf_counter() - t0
    xt = torch.as_tensor(x)
    with torch.no_grad():
        t0 = time.perf_counter()
        ref = model(xt)
        t_torch = time.perf_counter() - t0
    return {
        "net.test_images": int(len(x)),
        "net.test_set_s": round(t_chip, 3),
        "net.images_per_s": round(len(x) / t_chip, 2),
        "net.torch_float_s": round(t_torch, 4),
        "net.ratio_vs_torch": round(t_chip / t_torch, 1),
        "net.program_s": round(t_prog, 2),
        "net.calibrate_s": round(t_cal, 2),
        "net.agree_with_torch": float(np.mean(logits.argmax(1) == ref.numpy().argmax(1))),
        "net.model": source,
    }

"""Training of the CNN family (one model per training-noise level), cached on disk.

A checkpoint's file name is a hash of everything that determines it (model configuration,
data split name, training noise, seed, epochs and optimiser settings), so a rerun with the
same settings loads it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from .model import MnistCNN

__all__ = ["TrainConfig", "checkpoint_key", "train", "load_or_train", "predict", "set_threads",
           "training_threads", "DEFAULT_CACHE", "TRAIN_THREADS"]

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("build/nets/ckpt")
#: bump when the model or the training loop changes in a way that invalidates checkpoints
TRAIN_VERSION = 1


def set_threads(n: int | None = None) -> int:
    """One intra-op thread by default: these small convolutions gain little from a second
    one, and on a two-core machine shared with other jobs the second thread's spin-waits
    cost more than it computes."""
    n = n or 1
    torch.set_num_threads(n)
    return n


#: Intra-op threads of every gradient step (training and fine-tuning), whatever the caller set.
TRAIN_THREADS = 1


@contextmanager
def training_threads():
    """Run the block on :data:`TRAIN_THREADS` intra-op threads, then restore the caller's.

    torch's CPU kernels split their reductions by thread count, so the same seed trained
    on one thread and on two gives different weights; a checkpoint cached under its key,
    or a layer fine-tuned on the chip, must not depend on who ran it with which setting.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained checkpoint besides the data."""

    noise: float = 0.0          #: training weight noise (fraction of max |W| per layer)
    seed: int = 0
    epochs: int = 8
    lr: float = 3e-3
    batch: int = 128
    weight_decay: float = 1e-4

    def validate(self) -> "TrainConfig":
        if not 0.0 <= self.noise < 10.0:
            raise ValueError(f"noise must be a fraction in [0, 10), got {self.noise!r}")
        for name in ("epochs", "batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        return self


def checkpoint_key(model_config: dict, split_name: str, cfg: TrainConfig) -> str:
    blob = json.dumps({"model": model_config, "split": split_name, "train": asdict(cfg),
                       "version": TRAIN_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _batches(n: int, batch: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for i in range(0, n, batch):
        yield order[i:i + batch]


def train(model: MnistCNN, x, y, cfg: TrainConfig, *, progress: bool = True,
          desc: str = "train", lr_scale: float = 1.0) -> list[float]:
    """Train ``model`` in place (Adam, cosine learning rate); returns the loss per epoch."""
    cfg = cfg.validate()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    params_alpha = [p for n, p in model.named_parameters() if n.endswith("alpha")]
    params_rest = [p for n, p in model.named_parameters() if not n.endswith("alpha")]
    opt = torch.optim.Adam([{"params": params_rest, "weight_decay": cfg.weight_decay},
                            {"params": params_alpha, "weight_decay": 0.0}], lr=cfg.lr * lr_scale)
    steps = cfg.epochs * ((len(xt) + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.set_noise(cfg.noise)
    model.train()
    losses = []
    with training_threads():
        for _ in tqdm(range(cfg.epochs), desc=desc, unit="epoch", disable=not progress, leave=False):
            tot, n = 0.0, 0
            for idx in _batches(len(xt), cfg.batch, rng):
                opt.zero_grad()
                loss = F.cross_entropy(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                sched.step()
                tot += loss.item() * len(idx)
                n += len(idx)
            losses.append(tot / n)
    model.eval()
    return losses


@torch.no_grad()
def predict(model, x, batch: int = 500) -> np.ndarray:
    """Logits of ``model`` (eval mode) for images ``x`` (N, 1, H, W)."""
    model.eval()
    xt = torch.as_tensor(np.asarray(x, np.float32))
    return np.concatenate([model(xt[i:i + batch]).numpy() for i in range(0, len(xt), batch)])


def load_or_train(split, cfg: TrainConfig, *, cache_dir: Path | None = DEFAULT_CACHE,
                  model_kw: dict | None = None, progress: bool = True) -> tuple[MnistCNN, dict]:
    """The model trained on ``split`` with ``cfg``, from the cache when it is there.

    Returns ``(model, info)``; ``info`` holds the key, training time, losses and the
    software test accuracy of the model (quantised activations, float weights, no noise).
    """
    cfg = cfg.validate()
    model_kw = {"image_hw": tuple(split.image_shape[1:]), **(model_kw or {})}
    torch.manual_seed(cfg.seed)
    model = MnistCNN(**model_kw)
    key = checkpoint_key(model.config, split.name, cfg)
    path = None if cache_dir is None else Path(cache_dir) / f"cnn-{key}.pt"
    if path is not None and path.exists():
        blob = torch.load(path, weights_only=False)
        model.load_state_dict(blob["state"])
        model.eval()
        log.info("loaded %s (noise %.2f, cached)", path, cfg.noise)
        return model, {**blob["info"], "cached": True}
    t0 = time.perf_counter()
    losses = train(model, split.x_train, split.y_train, cfg, progress=progress,
                   desc=f"train n={cfg.noise:.2f}")
    acc = float(np.mean(predict(model, split.x_test).argmax(1) == split.y_test))
    info = {"key": key, "split": split.name, "train": asdict(cfg), "model": model.config,
            "train_s": round(time.perf_counter() - t0, 2), "losses": losses, "test_acc": acc}
    log.info("trained noise %.2f in %.1f s: test accuracy %.4f", cfg.noise, info["train_s"], acc)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state": model.state_dict(), "info": info}, tmp)
        tmp.replace(path)
    return model, {**info, "cached": False}

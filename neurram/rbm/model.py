"""The software RBM: data, CD-k training with weight-noise injection, corruptions, the
software Gibbs recovery and the L2 metric.

Conventions: visible vector = binarised pixels (row-major) followed by the one-hot label;
``W`` is (n_visible, n_hidden), ``a`` the hidden bias, ``b`` the visible bias. Units are
{0, 1}. Training follows the authors' recipe (SPEC §9: CD-5, batch 16, momentum 0.5 then
0.9, weight decay 1e-4, |W| <= 1, Gaussian weight noise of ``train_noise * wmax`` drawn
anew for every mini-batch); the learning rate is larger than their 1e-3 because the shared
split has 4,000 training images instead of 60,000 (documented in docs/rbm.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

N_LABELS = 10
#: input resolution of the visible units on the chip (3-bit unsigned SL inputs)
VISIBLE_LEVELS = 7
#: probit <-> logistic matching: sigmoid(x) ~= Phi(x / 1.702)
PROBIT_SCALE = 1.702


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


# ================================================================== data
@dataclass(frozen=True)
class RBMData:
    """Binarised images (N, H*W) with one-hot labels, for one split."""

    name: str
    shape: tuple[int, int]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def n_visible(self) -> int:
        return self.n_pixels + N_LABELS


def load(dataset: str = "mnist", threshold: float = 0.5) -> RBMData:
    """The shared split of ``neurram.data`` (``mnist`` or ``digits``), pixels > threshold."""
    from neurram import data

    if dataset not in ("mnist", "digits"):
        raise ValueError(f"dataset must be 'mnist' or 'digits', got {dataset!r}")
    s = data.mnist() if dataset == "mnist" else data.digits()
    h, w = s.image_shape[1:]

    def flat(x):
        return (x.reshape(len(x), -1) > threshold).astype(np.float32)

    return RBMData(f"{s.name}-b{threshold:g}", (h, w), flat(s.x_train), s.y_train,
                   flat(s.x_test), s.y_test)


def one_hot(y, n=N_LABELS) -> np.ndarray:
    y = np.asarray(y, dtype=np.int64)
    out = np.zeros((len(y), n), np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def visible(x, y) -> np.ndarray:
    return np.concatenate([np.asarray(x, np.float32), one_hot(y)], axis=1)


# ================================================================== model + training
@dataclass(frozen=True)
class TrainConfig:
    n_hidden: int = 120
    cd_k: int = 5
    batch: int = 16
    epochs: int = 30
    lr: float = 0.01
    momentum0: float = 0.5       #: first epoch
    momentum: float = 0.9
    weight_decay: float = 1e-4
    wmax: float = 1.0            #: |W| <= wmax (weights clipped after every update)
    train_noise: float = 0.35    #: Gaussian weight noise std as a fraction of wmax
    n_train: int | None = None   #: first n training images (None: all)
    seed: int = 0

    def key(self, data_name: str) -> str:
        blob = json.dumps({"data": data_name, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_config(**fields) -> TrainConfig:
    """A :class:`TrainConfig` whose training noise is checked (fraction of wmax, 0..2)."""
    noise = fields.get("train_noise", TrainConfig.train_noise)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 2.0:
        raise ValueError(f"training noise must be in 0..2 (fraction of wmax), got {noise!r}")
    return TrainConfig(**fields)


@dataclass
class RBM:
    W: np.ndarray     # (n_visible, n_hidden)
    a: np.ndarray     # (n_hidden,)  hidden bias
    b: np.ndarray     # (n_visible,) visible bias
    wmax: float = 1.0

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def noisy(self, noise: float, rng: np.random.Generator) -> "RBM":
        """A copy with Gaussian weight noise ``noise * wmax`` on W (the chip's error model)."""
        if noise == 0:
            return self
        return RBM(self.W + rng.normal(0.0, noise * self.wmax, self.W.shape).astype(np.float32),
                   self.a, self.b, self.wmax)


def train(v: np.ndarray, cfg: TrainConfig, progress: bool = False) -> RBM:
    """CD-k with weight-noise injection (numpy, float32)."""
    from threadpoolctl import threadpool_limits

    # Mini-batches of 16 are far too small for threaded BLAS: one thread is ~10x faster.
    with threadpool_limits(1):
        return _train(v, cfg, progress)


def _train(v, cfg: TrainConfig, progress: bool) -> RBM:
    from firmware.progress import progress as bar

    rng = np.random.default_rng(cfg.seed)
    v = np.asarray(v, np.float32)
    n, nv = v.shape
    p = 0.8 * v.mean(axis=0) + 0.1                  # authors' visible-bias initialisation
    W = (0.01 * rng.standard_normal((nv, cfg.n_hidden))).astype(np.float32)
    a = (0.01 * rng.standard_normal(cfg.n_hidden)).astype(np.float32)
    b = np.log(p / (1 - p)).astype(np.float32)
    vW, va, vb = np.zeros_like(W), np.zeros_like(a), np.zeros_like(b)
    sig = cfg.train_noise * cfg.wmax
    for epoch in bar(range(cfg.epochs), desc=f"train rbm (noise {cfg.train_noise:.0%})",
                     enabled=progress, min_items=1, unit="epoch"):
        mom = cfg.momentum0 if epoch == 0 else cfg.momentum
        order = rng.permutation(n)
        err = 0.0
        for s in range(0, n - cfg.batch + 1, cfg.batch):
            x = v[order[s:s + cfg.batch]]
            Wn = W + np.float32(sig) * rng.standard_normal(W.shape, dtype=np.float32) if sig else W
            ph = sigmoid(x @ Wn + a)
            vk = x
            for _ in range(cfg.cd_k):
                hk = (rng.random(ph.shape, dtype=np.float32) < sigmoid(vk @ Wn + a)).astype(np.float32)
                vk = sigmoid(hk @ Wn.T + b)
            phk = sigmoid(vk @ Wn + a)
            err += float(np.sum((vk - x) ** 2))
            gW = (x.T @ ph - vk.T @ phk) / cfg.batch - cfg.weight_decay * W
            vW = mom * vW + cfg.lr * gW
            va = mom * va + cfg.lr * (ph - phk).mean(axis=0)
            vb = mom * vb + cfg.lr * (x - vk).mean(axis=0)
            W = np.clip(W + vW, -cfg.wmax, cfg.wmax)
            a = a + va
            b = b + vb
        log.debug("epoch %d: reconstruction error %.4f", epoch, err / n)
    return RBM(W.astype(np.float32), a.astype(np.float32), b.astype(np.float32), cfg.wmax)


def cached_train(data: RBMData, cfg: TrainConfig, cache_dir: str | Path = "build/rbm/cache",
                 progress: bool = False) -> RBM:
    """Train, or load the weights cached under ``cache_dir/<hash of data + cfg>.npz``."""
    path = Path(cache_dir) / f"rbm-{cfg.key(data.name)}.npz"
    if path.exists():
        z = np.load(path)
        log.info("loaded cached RBM %s", path)
        return RBM(z["W"], z["a"], z["b"], float(z["wmax"]))
    x = data.x_train if cfg.n_train is None else data.x_train[:cfg.n_train]
    y = data.y_train if cfg.n_train is None else data.y_train[:cfg.n_train]
    rbm = train(visible(x, y), cfg, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, W=rbm.W, a=rbm.a, b=rbm.b, wmax=rbm.wmax,
             config=json.dumps(dataclasses.asdict(cfg)), data=data.name)
    tmp.replace(path)
    log.info("trained RBM cached at %s", path)
    return rbm


# ================================================================== corruption + metric
def test_subset(data: RBMData, n: int):
    """``n`` test images drawn by a fixed permutation (the split's test set is ordered by
    class, so its first images are all zeros)."""
    idx = np.random.default_rng(2022).permutation(len(data.x_test))[:n]
    return data.x_test[idx], data.y_test[idx]


def calibration_set(rbm: RBM, data: RBMData, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training images (visible values with labels) and binary hidden states the
    software RBM samples for them: the operating-point calibration's data."""
    v = visible(data.x_train, data.y_train)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(v))[:n]
    h = (rng.random((len(idx), rbm.n_hidden)) < sigmoid(v[idx] @ rbm.W + rbm.a)).astype(np.int64)
    return v[idx], h


CORRUPTIONS = ("noise20", "occlude_bottom")


@dataclass
class Corrupted:
    """A batch of damaged test images and what the sampler may trust."""

    kind: str
    original: np.ndarray   # (B, n_pixels) in {0, 1}
    corrupted: np.ndarray  # (B, n_pixels) in [0, 1]
    known: np.ndarray      # (B, n_pixels) bool: pixels clamped every step
    labels: np.ndarray     # (B,) int


def corrupt(x, y, shape: tuple[int, int], kind: str, seed: int = 0, fraction: float = 0.2,
            gray: float | None = None) -> Corrupted:
    """``noise20``: a random ``fraction`` of the pixels flipped (the authors' noise);
    ``occlude_bottom``: the bottom third of the rows replaced by gray (the mean pixel)."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"x must have shape (batch, {shape[0] * shape[1]}), got {x.shape}")
    rng = np.random.default_rng(seed)
    if kind == "noise20":
        damaged = rng.random(x.shape) < fraction
        xc = np.where(damaged, 1.0 - x, x)
    elif kind == "occlude_bottom":
        h, w = shape
        first = h - int(round(h / 3))
        damaged = np.zeros(x.shape, bool)
        damaged[:, first * w:] = True
        g = float(x.mean()) if gray is None else float(gray)
        xc = np.where(damaged, g, x)
    else:
        raise ValueError(f"kind must be one of {CORRUPTIONS}, got {kind!r}")
    return Corrupted(kind, x, xc.astype(np.float32), ~damaged, np.asarray(y, np.int64))


def check_mask(known, n_pixels: int, batch: int, name: str = "known") -> np.ndarray:
    m = np.asarray(known)
    if m.shape != (batch, n_pixels):
        raise ValueError(f"{name} must have shape ({batch}, {n_pixels}) (one flag per pixel of "
                         f"every image), got {m.shape}")
    if m.dtype != bool:
        raise ValueError(f"{name} must be a boolean mask, got dtype {m.dtype}")
    return m


def l2_error(recovered, original) -> float:
    """Mean over images of the L2 distance (pixels only)."""
    return float(np.mean(np.linalg.norm(np.asarray(recovered) - np.asarray(original), axis=1)))


def l2_reduction(recovered, c: Corrupted) -> float:
    """Fraction by which the recovered images' L2 error is below the corrupted ones'
    (0.70 = 70 % lower)."""
    return 1.0 - l2_error(recovered, c.original) / l2_error(c.corrupted, c.original)


# ================================================================== software Gibbs
def quantise_visible(v) -> np.ndarray:
    """Visible values -> the 3-bit unsigned input codes 0..7 of the SL drivers."""
    return np.clip(np.rint(np.asarray(v) * VISIBLE_LEVELS), 0, VISIBLE_LEVELS).astype(np.int64)


def clamp(v: np.ndarray, c: Corrupted) -> np.ndarray:
    """Reset the known pixels and the label (every Gibbs step)."""
    n = c.original.shape[1]
    v[:, :n] = np.where(c.known, c.original, v[:, :n])
    v[:, n:] = one_hot(c.labels)
    return v


def initial_visible(c: Corrupted) -> np.ndarray:
    """Start of the chain: the corrupted pixels and the label (``c`` validated here)."""
    b, n = np.shape(c.original)
    check_mask(c.known, n, b, "known (corruption mask)")
    if np.shape(c.corrupted) != (b, n) or np.shape(c.labels) != (b,):
        raise ValueError(f"corrupted must have shape {(b, n)} and labels {(b,)}, got "
                         f"{np.shape(c.corrupted)} and {np.shape(c.labels)}")
    return clamp(np.concatenate([c.corrupted, one_hot(c.labels)], axis=1), c)


def software_recover(rbm: RBM, c: Corrupted, steps: int = 10, visible_mode: str = "3bit",
                     seed: int = 0, temperature: float = 1.0,
                     visible_noise: float = 0.0) -> list[np.ndarray]:
    """The chip's schedule in floating point: hidden units sampled from the logistic of
    the 3-bit visible input, visible units 3-bit (rounded 7 p / 7) or sampled, known pixels
    and label clamped each step. Returns the visible pixels after each step (0 = start).

    ``temperature`` divides the hidden pre-activation, ``visible_noise`` adds a Gaussian
    error of that std to the visible one: the two chip errors, for attributing losses."""
    if visible_mode not in ("3bit", "stochastic"):
        raise ValueError(f"visible_mode must be '3bit' or 'stochastic', got {visible_mode!r}")
    rng = np.random.default_rng(seed)
    n = c.original.shape[1]
    v = initial_visible(c)
    hist = [v[:, :n].copy()]
    for _ in range(steps):
        x = quantise_visible(v) / VISIBLE_LEVELS
        ph = sigmoid((x @ rbm.W + rbm.a) / temperature)
        h = (rng.random(ph.shape) < ph).astype(np.float32)
        pre = h @ rbm.W.T + rbm.b
        if visible_noise:
            pre = pre + visible_noise * rng.standard_normal(pre.shape)
        pv = sigmoid(pre)
        v = (quantise_visible(pv) / VISIBLE_LEVELS if visible_mode == "3bit"
             else (rng.random(pv.shape) < pv).astype(np.float32))
        v = clamp(v.astype(np.float32), c)
        hist.append(v[:, :n].copy())
    return hist

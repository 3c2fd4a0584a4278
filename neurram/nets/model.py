"""The paper's MNIST CNN in PyTorch: PACT-clipped 3-bit activations and weight-noise training.

Architecture (SPEC §9, authors' public code, facts only): 3x3 conv 8, 8, max-pool, 16, 16,
max-pool, 32, 32, max-pool, dense 10, batch-norm after every convolution, ReLU with a
trainable clip (PACT, initial clip 3) and 3-bit unsigned fake quantisation of every layer's
input, the image included (straight-through estimator for the rounding).

Noise-resilient training (Methods): every training forward pass draws Gaussian noise of
std ``noise * max|W|`` per layer and adds it to the weights. ``W`` is the weight the chip
holds, i.e. the convolution kernel with its batch-norm folded in (the running variance gives
the per-channel scale); the bias (batch-norm shift / dense bias) gets noise of the same std
times the layer's input range, as one bias row of the chip would.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["QuantReLU", "ConvBN", "NoisyLinear", "MnistCNN", "weight_noise"]


class QuantReLU(nn.Module):
    """``round(clip(x, 0, alpha) / alpha * L) * alpha / L`` with ``L = 2**bits - 1``.

    ``alpha`` is trainable (PACT: its gradient is the upstream gradient where ``x >= alpha``)
    unless ``trainable=False`` (the image quantiser, whose range is the pixel range 1).
    The rounding passes gradients straight through.
    """

    def __init__(self, bits: int = 3, alpha: float = 3.0, trainable: bool = True):
        super().__init__()
        if not 1 <= int(bits) <= 8:
            raise ValueError(f"bits must be in 1..8, got {bits!r}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        self.bits = int(bits)
        a = torch.tensor(float(alpha))
        if trainable:
            self.alpha = nn.Parameter(a)
        else:
            self.register_buffer("alpha", a)

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1

    @property
    def clip(self) -> float:
        return float(self.alpha.detach().abs())

    @property
    def effective_clip(self) -> float:
        return self.clip + 1e-6

    def forward(self, x):
        if not torch.is_grad_enabled() or not self.alpha.requires_grad:
            # inference: constants, so that an exported graph reads Clip -> Mul -> Round -> Mul
            a = self.clip + 1e-6
            return torch.round(torch.clamp(x, 0.0, a) * (self.levels / a)) * (a / self.levels)
        alpha = self.alpha.abs() + 1e-6
        y = torch.minimum(F.relu(x), alpha)
        step = alpha / self.levels
        return y + (torch.round(y / step) * step - y).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, alpha={self.clip:.4g}"


def weight_noise(w, noise: float, scale=None):
    """Gaussian noise of std ``noise * max|w * scale|`` in units of ``w`` (``scale`` per
    output channel: a following batch-norm's gain)."""
    if noise <= 0:
        return torch.zeros_like(w)
    if scale is None:
        wmax = w.detach().abs().max()
        return torch.randn_like(w) * noise * wmax
    shape = (-1,) + (1,) * (w.dim() - 1)
    s = scale.detach().reshape(shape)
    wmax = (w.detach() * s).abs().max()
    return torch.randn_like(w) * noise * wmax / s.abs().clamp_min(1e-12)


class ConvBN(nn.Module):
    """3x3 convolution (no bias) + batch-norm, with folded-weight noise in training."""

    def __init__(self, c_in: int, c_out: int, in_range: float):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.noise = 0.0
        self.in_range = float(in_range)

    def forward(self, x):
        if not (self.training and self.noise > 0):
            return self.bn(self.conv(x))
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        w = self.conv.weight + weight_noise(self.conv.weight, self.noise, scale)
        y = self.bn(F.conv2d(x, w, None, self.conv.stride, self.conv.padding))
        wmax = (self.conv.weight.detach() * scale.detach().reshape(-1, 1, 1, 1)).abs().max()
        b = torch.randn(y.shape[1], device=y.device) * self.noise * wmax * self.in_range
        return y + b.reshape(1, -1, 1, 1)


class NoisyLinear(nn.Linear):
    """Dense layer with weight noise of std ``noise * max|W|`` in training."""

    def __init__(self, n_in: int, n_out: int, in_range: float):
        super().__init__(n_in, n_out)
        self.noise = 0.0
        self.in_range = float(in_range)

    def forward(self, x):
        if not (self.training and self.noise > 0):
            return super().forward(x)
        wmax = self.weight.detach().abs().max()
        w = self.weight + weight_noise(self.weight, self.noise)
        b = self.bias + torch.randn_like(self.bias) * self.noise * wmax * self.in_range
        return F.linear(x, w, b)


class MnistCNN(nn.Module):
    """The paper's 7-layer CNN for (N, 1, H, W) images in [0, 1]; H, W divisible by 8 or not
    (max-pools floor, as in the paper's 28 -> 14 -> 7 -> 3).

    Parameters
    ----------
    image_hw : (int, int)
        Image size (28x28 MNIST, 8x8 digits).
    channels : tuple of int
        The six convolutions' output channels.
    bits : int
        Activation (and image) quantisation bits.
    clip0 : float
        Initial PACT clip.
    """

    def __init__(self, image_hw=(28, 28), channels=(8, 8, 16, 16, 32, 32), n_classes: int = 10,
                 bits: int = 3, clip0: float = 3.0):
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"channels must list six convolutions, got {channels!r}")
        self.config = {"image_hw": list(image_hw), "channels": list(channels),
                       "n_classes": int(n_classes), "bits": int(bits), "clip0": float(clip0)}
        layers: list[nn.Module] = [QuantReLU(bits, 1.0, trainable=False)]
        c_in, h, w, in_range = 1, *image_hw, 1.0
        for i, c in enumerate(channels):
            layers += [ConvBN(c_in, c, in_range), QuantReLU(bits, clip0)]
            in_range = clip0
            c_in = c
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"image {image_hw} too small for three 2x2 max-pools")
        layers += [nn.Flatten(), NoisyLinear(c_in * h * w, n_classes, in_range)]
        self.body = nn.Sequential(*layers)

    def set_noise(self, noise: float) -> None:
        """Training weight noise, as a fraction of each layer's max |W|."""
        if not 0.0 <= noise < 10.0:
            raise ValueError(f"noise must be a fraction in [0, 10), got {noise!r}")
        for m in self.modules():
            if isinstance(m, (ConvBN, NoisyLinear)):
                m.noise = float(noise)

    def forward(self, x):
        return self.body(x)

    def mvm_layers(self) -> list[nn.Module]:
        return [m for m in self.body if isinstance(m, (ConvBN, NoisyLinear))]

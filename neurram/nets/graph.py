"""A network as the chip sees it: a chain of MVM layers and host-side digital operations.

Both importers (:mod:`neurram.nets.importers`: a ``torch.nn.Module`` or an ONNX file) reduce a
model to a :class:`NetGraph` — numpy only, batch-norm folded, weights in the layout of
:class:`firmware.highlevel.Deployment` — and everything downstream (the chip deployment,
the software references with quantised or noisy weights) reads that one description.

Host operations run in the digital domain, as on the paper's board: ReLU with its clip and
re-quantisation, max / average pooling, flattening. Activations travel between operations
as NHWC float arrays; every MVM layer's input is quantised to ``in_bits`` unsigned levels of
``[0, in_range]`` (the preceding clipped ReLU, or the image range for the first layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware.highlevel import bias_rows, im2col

__all__ = ["GraphError", "MvmOp", "ActOp", "PoolOp", "FlattenOp", "NetGraph", "quantise",
           "effective_matrix"]


class GraphError(ValueError):
    """A model that cannot be deployed; the message names the layer."""


@dataclass
class MvmOp:
    """A convolution or dense layer (batch-norm folded).

    ``weight`` is (kh, kw, I, O) for ``conv`` and (I, O) for ``dense``; dense inputs are in
    the model's flatten order (C, H, W).
    """

    name: str
    kind: str
    weight: np.ndarray
    bias: np.ndarray | None
    stride: int = 1
    padding: int = 0
    in_range: float = 1.0
    in_bits: int = 3
    source: str = ""            #: the model's layer name(s)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.weight.shape[:-1]))

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[-1])

    def matrix(self) -> np.ndarray:
        """(n_in, n_out) weight matrix in the chip's row order."""
        return self.weight.reshape(-1, self.n_out)


@dataclass
class ActOp:
    """ReLU, optionally clipped at ``clip`` and quantised to ``bits`` unsigned levels."""

    name: str
    clip: float | None = None
    bits: int | None = None
    source: str = ""

    def __call__(self, x):
        y = np.maximum(x, 0.0)
        if self.clip is not None:
            y = np.minimum(y, self.clip)
            if self.bits is not None:
                y = quantise(y, self.clip, self.bits)
        return y


@dataclass
class PoolOp:
    name: str
    kind: str          #: "max" or "avg"
    k: int
    stride: int
    source: str = ""

    def __call__(self, x):
        n, h, w, c = x.shape
        ho, wo = (h - self.k) // self.stride + 1, (w - self.k) // self.stride + 1
        out = None
        for i in range(self.k):
            for j in range(self.k):
                p = x[:, i:i + self.stride * ho:self.stride, j:j + self.stride * wo:self.stride, :]
                if out is None:
                    out = p.copy()
                elif self.kind == "max":
                    np.maximum(out, p, out=out)
                else:
                    out += p
        return out if self.kind == "max" else out / (self.k * self.k)


@dataclass
class FlattenOp:
    name: str
    source: str = ""

    def __call__(self, x):
        # the model flattens (C, H, W); host activations are NHWC
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1) if x.ndim == 4 else x


def quantise(x, in_range: float, bits: int):
    """``round(clip(x, 0, r) / r * L) * r / L``, ``L = 2**bits - 1`` (unsigned)."""
    levels = (1 << bits) - 1
    return np.round(np.clip(x, 0.0, in_range) / in_range * levels) * (in_range / levels)


def effective_matrix(op: MvmOp):
    """The layer as the chip holds it: ``(matrix incl. bias rows, n_bias, wmax)``.

    Bias rows follow :func:`firmware.highlevel.bias_rows` (input ``in_range``), so software
    weight quantisation and noise act on exactly the cells the chip programs.
    """
    m, n_b = bias_rows(op.matrix(), op.bias, op.in_range)
    return m, n_b, float(np.abs(m).max()) or 1.0


@dataclass
class NetGraph:
    """A chain of operations from an image of ``input_shape`` (C, H, W) to logits."""

    input_shape: tuple
    ops: list = field(default_factory=list)
    input_range: float = 1.0
    input_bits: int = 3

    def mvm_ops(self) -> list[MvmOp]:
        return [o for o in self.ops if isinstance(o, MvmOp)]

    def validate(self) -> "NetGraph":
        """Check weights and shapes, and give every MVM layer its input range and bits.

        Raises :class:`GraphError` naming the offending layer.
        """
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise GraphError(f"input_shape must be (C, H, W), got {self.input_shape!r}")
        shape = tuple(int(s) for s in self.input_shape)   # C, H, W or (features,)
        rng, bits, quantised = self.input_range, self.input_bits, True
        if not self.mvm_ops():
            raise GraphError("the model has no Conv2d or Linear layer to put on the chip")
        for op in self.ops:
            where = f"layer {op.name!r}" + (f" ({op.source})" if op.source and op.source != op.name else "")
            if isinstance(op, MvmOp):
                for what, a in (("weight", op.weight), ("bias", op.bias)):
                    if a is not None and not np.all(np.isfinite(a)):
                        raise GraphError(f"{where}: {what} contains NaN or inf")
                if not quantised:
                    raise GraphError(f"{where}: its input is not a clipped ReLU output, so the chip "
                                     f"has no input range for it (clip the preceding ReLU, or give "
                                     f"relu_range)")
                op.in_range, op.in_bits = float(rng), int(bits)
                if op.kind == "conv":
                    kh, kw, ci, co = op.weight.shape
                    if len(shape) != 3 or shape[0] != ci:
                        raise GraphError(f"{where}: expects {ci} input channels, gets activations of shape {shape}")
                    h = (shape[1] + 2 * op.padding - kh) // op.stride + 1
                    w = (shape[2] + 2 * op.padding - kw) // op.stride + 1
                    if h < 1 or w < 1:
                        raise GraphError(f"{where}: kernel {kh}x{kw} larger than its input {shape[1:]}")
                    shape = (co, h, w)
                else:
                    if len(shape) != 1:
                        raise GraphError(f"{where}: a dense layer needs flattened input (add a "
                                         f"Flatten), gets activations of shape {shape}")
                    if shape[0] != op.n_in:
                        raise GraphError(f"{where}: expects {op.n_in} inputs, gets {shape[0]}")
                    shape = (op.n_out,)
                quantised = False
            elif isinstance(op, ActOp):
                if op.clip is not None:
                    if not (math.isfinite(op.clip) and op.clip > 0):
                        raise GraphError(f"{where}: clip must be a positive finite number, got {op.clip!r}")
                    rng, bits, quantised = op.clip, op.bits or bits, True
            elif isinstance(op, PoolOp):
                if len(shape) != 3:
                    raise GraphError(f"{where}: pooling needs (C, H, W) activations, gets {shape}")
                h = (shape[1] - op.k) // op.stride + 1
                w = (shape[2] - op.k) // op.stride + 1
                if h < 1 or w < 1:
                    raise GraphError(f"{where}: pool {op.k}x{op.k} larger than its input {shape[1:]}")
                shape = (shape[0], h, w)
            elif isinstance(op, FlattenOp):
                shape = (int(np.prod(shape)),)
            else:
                raise GraphError(f"unknown operation {op!r}")
        self.output_shape = shape
        return self

    def check_input(self, x) -> np.ndarray:
        """(N, C, H, W) images -> validated float array."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.input_shape):
            raise GraphError(f"input must have shape (N, {', '.join(map(str, self.input_shape))}), "
                             f"got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise GraphError("input contains NaN or inf")
        return x

    def run_numpy(self, x, *, upto: int | None = None, start: int | None = None, mvm=None):
        """Run the chain on the host in numpy (``mvm(op, x_nhwc) -> y`` does the layers).

        ``x``: images (N, C, H, W) when ``start`` is None (they are quantised to the input
        range first), else the host-layout activation entering op ``start``. Returns the
        activation after op ``upto - 1`` (default: the logits).
        """
        if start is None:
            start = 0
            x = self.check_input(x).transpose(0, 2, 3, 1)
            x = quantise(x, self.input_range, self.input_bits)
        mvm = mvm or _float_mvm
        for op in self.ops[start:upto]:
            x = mvm(op, x) if isinstance(op, MvmOp) else op(x)
        return x


def _float_mvm(op: MvmOp, x):
    xq = quantise(x, op.in_range, op.in_bits)
    m = op.matrix()
    if op.kind == "conv":
        kh, kw = op.weight.shape[:2]
        p = im2col(xq, kh, kw, op.stride, op.padding)
        y = p @ m
    else:
        y = xq.reshape(xq.shape[0], -1) @ m
    return y + (op.bias if op.bias is not None else 0.0)

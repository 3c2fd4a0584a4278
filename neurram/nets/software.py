"""Software references of a deployed graph: float, 4-bit weights, Gaussian weight noise.

All three act on the matrix the chip holds (:func:`~neurram.nets.graph.effective_matrix`:
batch-norm folded, bias rows appended), so "10% weight noise" means noise of std
``0.1 * max|W|`` on every cell of that layer — the same scale the conductance errors of the
chip have — and "4-bit weights" means that matrix rounded to 15 signed levels of
``max|W|`` (the paper's 4-bit-weight software equivalent). Activations are quantised
exactly as on the chip. The torch forward here is the fast path; it equals
:meth:`NetGraph.run_numpy` for float weights (a test checks it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .graph import ActOp, FlattenOp, MvmOp, NetGraph, PoolOp, effective_matrix

__all__ = ["layer_weights", "forward", "accuracy", "noisy_accuracy"]


def layer_weights(op: MvmOp, *, weight_bits: int | None = None, noise: float = 0.0,
                  rng: np.random.Generator | None = None):
    """``(weight in torch layout, bias)`` of one layer after quantisation and/or noise."""
    m, n_b, wmax = effective_matrix(op)
    if weight_bits is not None:
        levels = (1 << (weight_bits - 1)) - 1
        m = np.round(m / wmax * levels) * (wmax / levels)
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng()
        m = m + rng.standard_normal(m.shape) * noise * wmax
    n_in = op.n_in
    w, b = m[:n_in], m[n_in:].sum(axis=0) * op.in_range
    if op.kind == "conv":
        w = w.reshape(op.weight.shape).transpose(3, 2, 0, 1)     # (O, I, kh, kw)
    else:
        w = w.T
    return torch.as_tensor(np.ascontiguousarray(w), dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)


def _q(x, r, bits):
    levels = (1 << bits) - 1
    return torch.round(torch.clamp(x, 0.0, r) * (levels / r)) * (r / levels)


@torch.no_grad()
def forward(graph: NetGraph, x, *, weights: dict | None = None, start: int | None = None,
            upto: int | None = None, batch: int = 500) -> np.ndarray:
    """Run ops ``start .. upto-1`` in torch. ``x``: images (N, C, H, W) when ``start`` is
    None, else the activation entering op ``start`` (host layout NHWC or (N, n)).

    ``weights`` maps layer names to ``(w, b)`` from :func:`layer_weights` (default: float).
    Returns the activation in host layout (NHWC, or (N, n) after a flatten)."""
    images = start is None
    ops = graph.ops[start or 0:upto]
    weights = dict(weights or {})
    for op in ops:
        if isinstance(op, MvmOp) and op.name not in weights:
            weights[op.name] = layer_weights(op)
    x = np.asarray(x, dtype=np.float32)
    if images:
        graph.check_input(x)
    outs = []
    for i in range(0, len(x), batch):
        a = torch.as_tensor(x[i:i + batch])
        if images:
            a = _q(a, graph.input_range, graph.input_bits)
        elif a.dim() == 4:
            a = a.permute(0, 3, 1, 2)
        for op in ops:
            if isinstance(op, MvmOp):
                w, b = weights[op.name]
                a = _q(a, op.in_range, op.in_bits)
                if op.kind == "conv":
                    a = F.conv2d(a, w, b, stride=op.stride, padding=op.padding)
                else:
                    a = F.linear(a, w, b)
            elif isinstance(op, ActOp):
                a = F.relu(a)
                if op.clip is not None:
                    a = torch.clamp(a, max=op.clip)
                    if op.bits is not None:
                        a = _q(a, op.clip, op.bits)
            elif isinstance(op, PoolOp):
                a = (F.max_pool2d if op.kind == "max" else F.avg_pool2d)(a, op.k, op.stride)
            elif isinstance(op, FlattenOp):
                a = a.flatten(1)
        outs.append((a.permute(0, 2, 3, 1) if a.dim() == 4 else a).numpy())
    return np.concatenate(outs)


def accuracy(graph: NetGraph, x, y, **kw) -> float:
    return float(np.mean(forward(graph, x, **kw).argmax(1) == np.asarray(y)))


def noisy_accuracy(graph: NetGraph, x, y, *, noise: float = 0.1, draws: int = 10,
                   weight_bits: int | None = None, seed: int = 0) -> tuple[float, float, list]:
    """Mean and std of the accuracy over ``draws`` weight-noise draws (Methods: 10)."""
    rng = np.random.default_rng(seed)
    accs = []
    for _ in range(draws):
        w = {op.name: layer_weights(op, noise=noise, weight_bits=weight_bits, rng=rng)
             for op in graph.mvm_ops()}
        accs.append(accuracy(graph, x, y, weights=w))
    return float(np.mean(accs)), float(np.std(accs)), accs

"""Fine-tuning the not-yet-programmed layers on activations measured on the chip.

:class:`Tail` is a trainable torch copy of a graph's operations from one op onwards
(batch-norm already folded, PACT clips fixed at their deployed values because the layers
in front are programmed with them). It trains with weight noise of std ``noise * max|W|``
on the chip matrix of each layer (bias rows included), the same definition as training and
the software references use; :meth:`Tail.write_back` copies the weights into the graph so
they can be programmed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .graph import ActOp, FlattenOp, MvmOp, NetGraph, PoolOp
from .software import _q
from .train import training_threads

__all__ = ["Tail", "finetune"]


class Tail(nn.Module):
    """Graph ops ``start ..`` as a torch module on host-layout activations."""

    def __init__(self, graph: NetGraph, start: int):
        super().__init__()
        self.graph, self.start = graph, int(start)
        self.ops = graph.ops[start:]
        self.w = nn.ParameterDict()
        self.b = nn.ParameterDict()
        self.n_bias = {}
        for op in self.ops:
            if isinstance(op, MvmOp):
                w = op.weight.transpose(3, 2, 0, 1) if op.kind == "conv" else op.weight.T
                self.w[op.name] = nn.Parameter(torch.tensor(np.ascontiguousarray(w), dtype=torch.float32))
                b = op.bias if op.bias is not None else np.zeros(op.n_out)
                self.b[op.name] = nn.Parameter(torch.tensor(b, dtype=torch.float32))
        self.noise = 0.0

    def forward(self, a):
        if a.dim() == 4:
            a = a.permute(0, 3, 1, 2)
        for op in self.ops:
            if isinstance(op, MvmOp):
                w, b = self.w[op.name], self.b[op.name]
                if self.training and self.noise > 0:
                    # max over the chip matrix: weights and the bias rows (b / in_range / rows)
                    n_b = max(1, int(np.ceil(float(b.detach().abs().max()) / op.in_range
                                             / max(float(w.detach().abs().max()), 1e-12) - 1e-12)))
                    wmax = torch.maximum(w.detach().abs().max(), b.detach().abs().max() / (n_b * op.in_range))
                    w = w + torch.randn_like(w) * self.noise * wmax
                    b = b + torch.randn_like(b) * self.noise * wmax * op.in_range * n_b ** 0.5
                a = a + (_q(a, op.in_range, op.in_bits) - a).detach()   # straight-through
                a = F.conv2d(a, w, b, stride=op.stride, padding=op.padding) if op.kind == "conv" \
                    else F.linear(a, w, b)
            elif isinstance(op, ActOp):
                a = F.relu(a)
                if op.clip is not None:
                    y = torch.clamp(a, max=op.clip)
                    a = y + (_q(y, op.clip, op.bits).detach() - y.detach()) if op.bits else y
            elif isinstance(op, PoolOp):
                a = (F.max_pool2d if op.kind == "max" else F.avg_pool2d)(a, op.k, op.stride)
            elif isinstance(op, FlattenOp):
                a = a.flatten(1)
        return a

    def write_back(self) -> list[str]:
        """Copy the trained weights into the graph's ops; returns the layer names."""
        names = []
        for op in self.ops:
            if isinstance(op, MvmOp):
                w = self.w[op.name].detach().double().numpy()
                op.weight = w.transpose(2, 3, 1, 0).copy() if op.kind == "conv" else w.T.copy()
                op.bias = self.b[op.name].detach().double().numpy().copy()
                names.append(op.name)
        return names


def finetune(graph: NetGraph, start: int, x_in, y, *, epochs: int = 3, lr: float = 2e-5,
             noise: float = 0.2, batch: int = 64, seed: int = 0, progress: bool = False) -> list[float]:
    """Fine-tune graph ops ``start ..`` on ``x_in`` (activations entering op ``start``, as
    measured on the chip) and write the weights back; returns the loss per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tail = Tail(graph, start)
    tail.noise = float(noise)
    opt = torch.optim.Adam(tail.parameters(), lr=lr)
    xt = torch.as_tensor(np.asarray(x_in, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    tail.train()
    losses = []
    with training_threads():
        for _ in tqdm(range(epochs), desc=f"fine-tune from op {start}", disable=not progress, leave=False):
            tot = 0.0
            order = rng.permutation(len(xt))
            for i in range(0, len(xt), batch):
                idx = order[i:i + batch]
                opt.zero_grad()
                loss = F.cross_entropy(tail(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                tot += loss.item() * len(idx)
            losses.append(tot / len(xt))
    tail.eval()
    tail.write_back()
    return losses

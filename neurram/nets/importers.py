"""Model importers: a ``torch.nn.Module`` or an ONNX file -> :class:`~neurram.nets.graph.NetGraph`.

The supported layer set (the paper's CNNs): Conv2d, Linear (ONNX: Gemm or MatMul + Add),
BatchNorm (folded into the preceding layer), ReLU, clipped ReLU (ReLU6, Hardtanh(0, a),
ONNX Clip(0, a)), clipped-quantised ReLU (:class:`~neurram.nets.model.QuantReLU`; ONNX
Clip -> Mul -> Round -> Mul), MaxPool2d, AvgPool2d, Flatten; Dropout and Identity are
skipped. Anything else raises :class:`~neurram.nets.graph.GraphError` naming the layer —
before anything touches the chip.

Layers are named by position (``conv1`` ... ``dense7``) so that both paths name the
same layer the same way; ``source`` keeps the model's own name.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from firmware.highlevel import fold_batchnorm

from .graph import ActOp, FlattenOp, GraphError, MvmOp, NetGraph, PoolOp

__all__ = ["from_torch", "from_onnx", "export_onnx"]


def _square(v, what, where):
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise GraphError(f"{where}: only square {what} are supported, got {tuple(v)}")
        v = v[0]
    return int(v)


def _levels_to_bits(levels: float, where: str) -> int:
    bits = math.log2(levels + 1)
    if abs(bits - round(bits)) > 1e-3 or not 1 <= round(bits) <= 8:
        raise GraphError(f"{where}: quantisation to {levels:.4g} levels is not 1..8 unsigned bits")
    return int(round(bits))


class _Builder:
    """Collects operations in order, folds batch-norm, names the MVM layers."""

    def __init__(self, input_shape, input_range, input_bits, act_bits, relu_range):
        self.g = NetGraph(tuple(int(s) for s in input_shape), [], float(input_range), int(input_bits))
        self.act_bits = int(act_bits)
        self.relu_range = relu_range
        self.n_mvm = 0

    def mvm(self, kind, weight, bias, source, stride=1, padding=0):
        self.n_mvm += 1
        name = f"{kind}{self.n_mvm}"
        w = np.asarray(weight, dtype=np.float64)
        b = None if bias is None else np.asarray(bias, dtype=np.float64).copy()
        self.g.ops.append(MvmOp(name, kind, w, b, int(stride), int(padding), source=source))

    def batchnorm(self, gamma, beta, mean, var, eps, source):
        prev = self.g.ops[-1] if self.g.ops else None
        if not isinstance(prev, MvmOp):
            raise GraphError(f"layer {source!r}: batch-norm must directly follow a Conv2d or "
                             f"Linear layer to be folded into it")
        arrs = [np.asarray(a, dtype=np.float64) for a in (gamma, beta, mean, var)]
        for a, what in zip(arrs, ("weight", "bias", "running_mean", "running_var")):
            if not np.all(np.isfinite(a)):
                raise GraphError(f"layer {source!r}: batch-norm {what} contains NaN or inf")
        try:
            prev.weight, prev.bias = fold_batchnorm(prev.weight, prev.bias, *arrs, eps=float(eps))
        except ValueError as e:
            raise GraphError(f"layer {source!r}: {e}") from None
        prev.source = f"{prev.source}+{source}"

    def act(self, source, clip=None, bits=None):
        if not any(isinstance(o, MvmOp) for o in self.g.ops):
            if clip is None:
                return      # a ReLU on the (non-negative) image does nothing
            # a quantiser in front of the first layer defines the image range
            self.g.input_range = float(clip)
            self.g.input_bits = int(bits or self.g.input_bits)
            return
        if clip is None and self.relu_range is not None:
            clip = float(self.relu_range)
        if clip is not None and bits is None:
            bits = self.act_bits
        self.g.ops.append(ActOp(f"act{len(self.g.ops)}", None if clip is None else float(clip),
                                bits, source=source))

    def pool(self, kind, k, stride, source):
        self.g.ops.append(PoolOp(f"{kind}pool{len(self.g.ops)}", kind, int(k), int(stride), source))

    def flatten(self, source):
        self.g.ops.append(FlattenOp(f"flatten{len(self.g.ops)}", source))

    def done(self) -> NetGraph:
        return self.g.validate()


# ====================================================================== torch
def from_torch(model, input_shape, *, input_range: float = 1.0, input_bits: int = 3,
               act_bits: int = 3, relu_range: float | None = None) -> NetGraph:
    """Import a torch model (traced with ``torch.fx``; the data flow must be a chain).

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in eval mode (batch-norm running statistics); its mode is restored.
    input_shape : (C, H, W)
        Shape of one input image.
    input_range, input_bits : float, int
        Image range and quantisation, unless the model starts with a quantiser.
    act_bits : int
        Quantisation of clipped ReLUs that do not quantise themselves.
    relu_range : float, optional
        Clip to give plain (unclipped) ReLUs; without it a plain ReLU before a layer is an error.
    """
    import torch
    from torch import fx, nn

    from .model import ConvBN, NoisyLinear, QuantReLU

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    supported = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6,
                 nn.Hardtanh, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
                 QuantReLU, ConvBN, NoisyLinear)

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return isinstance(m, supported) or super().is_leaf_module(m, qualname)

    was_training = model.training
    model.eval()
    try:
        try:
            graph = _Tracer().trace(model)
        except Exception as e:   # fx cannot follow data-dependent Python control flow
            raise GraphError(f"cannot trace the model with torch.fx: {e}") from e
        mods = dict(model.named_modules())
        b = _Builder(input_shape, input_range, input_bits, act_bits, relu_range)
        prev = None
        with torch.no_grad():
            for node in graph.nodes:
                if node.op == "placeholder":
                    prev = node
                    continue
                if node.op == "get_attr":
                    raise GraphError(f"node {node.name!r}: parameters used outside a supported layer")
                if node.op == "output":
                    break
                if not node.args or node.args[0] is not prev:
                    raise GraphError(f"node {node.name!r}: only a chain of layers is supported "
                                     f"(branches or multiple inputs found)")
                if node.op == "call_module":
                    _torch_module(b, node.target, mods[node.target], nn, ConvBN, QuantReLU)
                elif node.op in ("call_function", "call_method"):
                    _torch_function(b, node, torch)
                prev = node
    finally:
        model.train(was_training)
    return b.done()


def _np(t):
    return None if t is None else t.detach().cpu().double().numpy()


def _torch_conv(b, name, m):
    where = f"layer {name!r}"
    if m.groups != 1 or _square(m.dilation, "dilations", where) != 1:
        raise GraphError(f"{where}: grouped or dilated convolutions are not supported")
    if m.padding_mode != "zeros":
        raise GraphError(f"{where}: padding_mode {m.padding_mode!r} is not supported (zeros only)")
    k = _square(m.kernel_size, "kernels", where)
    pad = m.padding
    if pad == "same":
        if _square(m.stride, "strides", where) != 1 or k % 2 == 0:
            raise GraphError(f"{where}: padding='same' needs stride 1 and an odd kernel")
        pad = (k - 1) // 2
    elif pad == "valid":
        pad = 0
    b.mvm("conv", _np(m.weight).transpose(2, 3, 1, 0), _np(m.bias), name,
          _square(m.stride, "strides", where), _square(pad, "paddings", where))


def _torch_bn(b, name, m):
    if m.running_mean is None or not m.affine:
        raise GraphError(f"layer {name!r}: batch-norm needs running statistics and affine parameters")
    b.batchnorm(_np(m.weight), _np(m.bias), _np(m.running_mean), _np(m.running_var), m.eps, name)


def _torch_module(b, name, m, nn, ConvBN, QuantReLU):
    where = f"layer {name!r} ({type(m).__name__})"
    if isinstance(m, ConvBN):
        _torch_conv(b, f"{name}.conv", m.conv)
        _torch_bn(b, f"{name}.bn", m.bn)
    elif isinstance(m, nn.Conv2d):
        _torch_conv(b, name, m)
    elif isinstance(m, nn.Linear):
        b.mvm("dense", _np(m.weight).T, _np(m.bias), name)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        _torch_bn(b, name, m)
    elif isinstance(m, QuantReLU):
        b.act(name, m.effective_clip, m.bits)
    elif isinstance(m, nn.ReLU6):
        b.act(name, 6.0)
    elif isinstance(m, nn.Hardtanh):
        if m.min_val != 0:
            raise GraphError(f"{where}: only Hardtanh(0, a) (a clipped ReLU) is supported")
        b.act(name, float(m.max_val))
    elif isinstance(m, nn.ReLU):
        b.act(name)
    elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _square(m.kernel_size, "kernels", where)
        s = _square(m.stride if m.stride is not None else k, "strides", where)
        if _square(m.padding, "paddings", where) != 0 or m.ceil_mode:
            raise GraphError(f"{where}: pooling with padding or ceil_mode is not supported")
        if isinstance(m, nn.MaxPool2d) and _square(m.dilation, "dilations", where) != 1:
            raise GraphError(f"{where}: dilated pooling is not supported")
        b.pool("max" if isinstance(m, nn.MaxPool2d) else "avg", k, s, name)
    elif isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise GraphError(f"{where}: only Flatten(start_dim=1) is supported")
        b.flatten(name)
    elif isinstance(m, (nn.Dropout, nn.Identity)):
        return
    else:
        raise GraphError(f"{where}: unsupported layer (supported: Conv2d, Linear, BatchNorm, "
                         f"ReLU, clipped ReLU, MaxPool2d, AvgPool2d, Flatten)")


def _torch_function(b, node, torch):
    import torch.nn.functional as F

    t = node.target
    if t in (torch.relu, F.relu) or t == "relu":
        b.act(node.name)
    elif t in (torch.flatten,) or t == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0 if t is torch.flatten else 0)
        if start != 1:
            raise GraphError(f"node {node.name!r}: only flatten from dim 1 is supported")
        b.flatten(node.name)
    elif t in ("view", "reshape") and len(node.args) == 3 and node.args[2] == -1:
        b.flatten(node.name)
    else:
        raise GraphError(f"node {node.name!r}: unsupported operation {getattr(t, '__name__', t)!r}")


# ======================================================================= ONNX
def export_onnx(model, path, input_shape) -> Path:
    """Export a torch model to ONNX in inference form (constant clips, folded nothing:
    batch-norm stays a node and the importer folds it)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # the TorchScript exporter keeps one ONNX node per torch op, which is what the
            # importer's pattern match expects; its graph is the same for every torch version
            torch.onnx.export(model, (torch.zeros((1,) + tuple(input_shape)),), str(path),
                              dynamo=False, input_names=["image"], output_names=["logits"],
                              dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    finally:
        model.train(was_training)
    return path


def from_onnx(model, *, input_range: float = 1.0, input_bits: int = 3, act_bits: int = 3,
              relu_range: float | None = None) -> NetGraph:
    """Import an ONNX model (path or ``onnx.ModelProto``) of the supported layer set."""
    import onnx
    from onnx import numpy_helper

    if isinstance(model, (str, Path)):
        if not Path(model).exists():
            raise FileNotFoundError(f"no ONNX file at {str(model)!r}")
        model = onnx.load(str(model))
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"model must be a path or onnx.ModelProto, got {type(model).__name__}")
    g = model.graph
    const = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    const[n.output[0]] = numpy_helper.to_array(a.t)
                elif a.name in ("value_float", "value_int"):
                    const[n.output[0]] = np.array(onnx.helper.get_attribute_value(a))
    inputs = [i for i in g.input if i.name not in const]
    if len(inputs) != 1:
        raise GraphError(f"the ONNX graph must have one input, has {[i.name for i in inputs]}")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or min(dims[1:]) < 1:
        raise GraphError(f"ONNX input {inputs[0].name!r} must be (N, C, H, W) images, got dims {dims}")
    b = _Builder(dims[1:], input_range, input_bits, act_bits, relu_range)
    nodes = []
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in const:   # exporters alias weights
            const[n.output[0]] = const[n.input[0]]
        elif n.op_type != "Constant":
            nodes.append(n)
    cur = inputs[0].name
    i = 0

    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def other(n, where):
        """The constant operand of a binary node whose other operand is the chain."""
        ins = list(n.input)
        if cur not in ins:
            raise GraphError(f"{where}: only a chain of layers is supported")
        rest = [x for x in ins if x != cur]
        if len(rest) != 1 or rest[0] not in const:
            raise GraphError(f"{where}: needs a constant operand")
        return const[rest[0]]

    while i < len(nodes):
        n = nodes[i]
        where = f"layer {n.name or n.output[0]!r} ({n.op_type})"
        a = attrs(n)
        if n.op_type not in ("Mul", "Div", "Add") and (not n.input or n.input[0] != cur):
            raise GraphError(f"{where}: only a chain of layers is supported (branches or multiple inputs found)")
        op = n.op_type
        if op == "Conv":
            if a.get("group", 1) != 1 or set(a.get("dilations", [1])) != {1}:
                raise GraphError(f"{where}: grouped or dilated convolutions are not supported")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise GraphError(f"{where}: auto_pad is not supported, use explicit pads")
            w = const.get(n.input[1])
            if w is None:
                raise GraphError(f"{where}: weights must be an initializer")
            bias = const.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            b.mvm("conv", w.astype(np.float64).transpose(2, 3, 1, 0), bias, n.name,
                  _square(a.get("strides", [1]), "strides", where),
                  _square(a.get("pads", [0]), "paddings", where))
        elif op == "Gemm":
            w = const.get(n.input[1])
            if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise GraphError(f"{where}: only Gemm(x, W[, b]) with constant W, alpha = beta = 1")
            w = w.T if a.get("transB", 0) else w
            bias = const.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            b.mvm("dense", w, bias, n.name)
        elif op == "MatMul":
            w = const.get(n.input[1])
            if w is None or w.ndim != 2:
                raise GraphError(f"{where}: only MatMul(x, W) with a constant 2-D W")
            b.mvm("dense", w, None, n.name)
        elif op == "Add":
            prev = b.g.ops[-1] if b.g.ops else None
            c = other(n, where)
            if not isinstance(prev, MvmOp) or c.size != prev.n_out:
                raise GraphError(f"{where}: an Add must be the bias of the preceding layer")
            prev.bias = (0 if prev.bias is None else prev.bias) + c.reshape(-1).astype(np.float64)
        elif op == "BatchNormalization":
            ps = [const.get(x) for x in n.input[1:5]]
            if any(p is None for p in ps):
                raise GraphError(f"{where}: batch-norm parameters must be initializers")
            b.batchnorm(*ps, a.get("epsilon", 1e-5), n.name)
        elif op == "Relu":
            b.act(n.name)
        elif op == "Clip":
            lo = const.get(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("min")
            hi = const.get(n.input[2]) if len(n.input) > 2 and n.input[2] else a.get("max")
            if lo is None or float(np.asarray(lo)) != 0.0 or hi is None:
                raise GraphError(f"{where}: only Clip(0, a) (a clipped ReLU) is supported")
            clip, bits = float(np.asarray(hi)), None
            # fake quantisation: Mul(L/a) | Div(a/L) -> Round -> Mul(a/L) | Div(L/a)
            nxt = nodes[i + 1:i + 4]
            if len(nxt) == 3 and nxt[0].op_type in ("Mul", "Div") and nxt[1].op_type == "Round" \
                    and nxt[2].op_type in ("Mul", "Div"):
                cur = n.output[0]
                f = float(np.asarray(other(nxt[0], where)))
                f = f if nxt[0].op_type == "Mul" else 1 / f
                cur = nxt[1].output[0]
                g2 = float(np.asarray(other(nxt[2], where)))
                g2 = g2 if nxt[2].op_type == "Mul" else 1 / g2
                if abs(f * g2 - 1) > 1e-4:
                    raise GraphError(f"{where}: quantiser scales {f:.6g} and {g2:.6g} do not invert")
                bits = _levels_to_bits(clip * f, where)
                b.act(n.name, clip, bits)
                cur = nxt[2].output[0]
                i += 4
                continue
            b.act(n.name, clip, bits)
        elif op in ("MaxPool", "AveragePool"):
            if set(a.get("pads", [0])) != {0} or a.get("ceil_mode", 0) or set(a.get("dilations", [1])) != {1}:
                raise GraphError(f"{where}: pooling with padding, dilation or ceil_mode is not supported")
            k = _square(a["kernel_shape"], "kernels", where)
            b.pool("max" if op == "MaxPool" else "avg", k, _square(a.get("strides", [k]), "strides", where), n.name)
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise GraphError(f"{where}: only Flatten(axis=1) is supported")
            b.flatten(n.name)
        elif op == "Reshape":
            shape = const.get(n.input[1])
            if shape is None or shape.size != 2 or shape[-1] not in (-1,) and shape[0] not in (-1, 0):
                raise GraphError(f"{where}: only a flattening Reshape to (N, -1) is supported")
            b.flatten(n.name)
        elif op in ("Identity", "Dropout"):
            pass
        else:
            raise GraphError(f"{where}: unsupported layer (supported: Conv, Gemm, MatMul+Add, "
                             f"BatchNormalization, Relu, Clip, MaxPool, AveragePool, Flatten)")
        cur = n.output[0]
        i += 1
    return b.done()

"""A :class:`~neurram.nets.graph.NetGraph` deployed on the chip model through the firmware high level.

:class:`ChipNet` builds the existing :class:`firmware.highlevel.Deployment` from the graph
(bias rows, differential rows, segments of at most 128 logical rows, placement on the 48
cores with replication of compute-heavy layers, one :class:`~firmware.midlevel.MvmConfig`
per layer) and runs the chain: MVM layers on the chip, everything between them on the host
(partial sums of split layers are added by ``Deployment.run``; ReLU clip, re-quantisation,
pooling and flattening by the graph's host operations). Every check — supported layers,
NaN/inf weights, the 48-core fit, input shape — happens before a single cell is programmed.

Layers can be programmed one at a time (:meth:`ChipNet.program`), and any layer can run in
software instead (``chip_layers``), which is what progressive fine-tuning needs.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from firmware.highlevel import Deployment, Placement
from firmware.midlevel import MvmConfig
from rtl.contract.constants import N_CORES

from .graph import GraphError, MvmOp, NetGraph, _float_mvm

__all__ = ["ChipNet", "golden_mid", "make_mid", "CALIB_VECTORS"]

log = logging.getLogger(__name__)

#: vectors (MVM inputs) a layer's calibration runs on
CALIB_VECTORS = 1024


def golden_mid(n_cores: int = N_CORES, params=None, seed: int = 0):
    """The frame-level chip: ``MidLevel(Chip(GoldenTransport(...)))`` (bit-exact, slow)."""
    from analog_models.params import AnalogParams
    from cosim.transport import GoldenTransport
    from firmware.lowlevel import Chip
    from firmware.midlevel import MidLevel

    params = params if params is not None else AnalogParams()
    t = GoldenTransport(n_cores=n_cores, params=params, seed=seed)
    return MidLevel(Chip(t), params, progress=False)


def make_mid(backend: str = "fast", n_cores: int = N_CORES, params=None, seed: int = 0):
    """A mid-level chip driver: ``fast`` (:class:`firmware.fastchip.FastChip`, batched) or
    ``golden`` (frame level); the same seed is the same chip on both."""
    if backend == "fast":
        from analog_models.params import AnalogParams
        from firmware.fastchip import FastChip

        return FastChip(n_cores=n_cores, params=params if params is not None else AnalogParams(),
                        seed=seed)
    if backend == "golden":
        return golden_mid(n_cores, params, seed)
    raise ValueError(f"backend must be 'fast' or 'golden', got {backend!r}")


class ChipNet:
    """A network graph mapped onto a chip.

    Parameters
    ----------
    graph : NetGraph
        Validated network (from :func:`neurram.nets.importers.from_torch` / ``from_onnx``).
    mid : firmware.midlevel.MidLevel
        The chip driver (any backend with the MidLevel interface).
    out_bits : int
        ADC bits of the hidden layers; ``last_out_bits`` for the output layer.
    replicate : bool
        Put compute-heavy layers on spare cores too (data parallelism).
    """

    def __init__(self, graph: NetGraph, mid, *, out_bits: int = 6, last_out_bits: int = 8,
                 gmin: float = 1.0, gmax: float = 40.0, replicate: bool = True):
        if not isinstance(graph, NetGraph):
            raise TypeError(f"graph must be a NetGraph, got {type(graph).__name__}")
        self.graph = graph.validate()
        self.mid = mid
        self.dep = Deployment(mid)
        ops = graph.mvm_ops()
        shape = tuple(graph.input_shape)
        hw_in = {}
        for op in graph.ops:          # input (H, W) of every conv layer, for the placement
            if isinstance(op, MvmOp) and op.kind == "conv":
                hw_in[op.name] = shape[1:]
            shape = _shape_after(op, shape)
        self.cfg: dict[str, MvmConfig] = {}
        for i, op in enumerate(ops):
            cfg = MvmConfig(in_bits=op.in_bits, signed=False,
                            out_bits=last_out_bits if i == len(ops) - 1 else out_bits).validate()
            self.cfg[op.name] = cfg
            try:
                if op.kind == "conv":
                    self.dep.add_conv(op.name, op.weight, op.bias, stride=op.stride, padding=op.padding,
                                      in_range=op.in_range, input_hw=hw_in[op.name], gmin=gmin,
                                      gmax=gmax, cfg=cfg)
                else:
                    self.dep.add_dense(op.name, op.weight, op.bias, in_range=op.in_range, gmin=gmin,
                                       gmax=gmax, cfg=cfg)
            except ValueError as e:
                raise GraphError(f"layer {op.name!r} ({op.source}): {e}") from None
        try:
            self.placement = self.dep.place(replicate=replicate)
        except ValueError as e:
            segs = ", ".join(f"{op.name}: {self.dep.layers[op.name].conductance_shape}" for op in ops)
            raise GraphError(f"the model does not fit the chip's {mid.n_cores} cores ({e}); "
                             f"conductance matrices {segs}") from None
        self.programmed: set[str] = set()
        #: the bias-row count of every layer is fixed at placement (weights may change later)
        self.n_bias = {n: l.n_bias for n, l in self.dep.layers.items()}

    # ------------------------------------------------------------------ programming
    @property
    def cores_used(self) -> int:
        return len(self.placement.cores_used())

    def _blocks(self, names):
        return [b for b in self.placement.blocks if b.layer in names]

    def program(self, layers=None, method: str = "write-verify") -> list:
        """Program the named layers (default: all) and give them the weight-only operating point.

        Calibration offsets of those blocks are forgotten (the cells changed)."""
        names = list(self.dep.layers) if layers is None else list(layers)
        for n in names:
            if n not in self.dep.layers:
                raise ValueError(f"unknown layer {n!r}; choose from {', '.join(self.dep.layers)}")
        blocks = self._blocks(names)
        for b in blocks:
            self.mid.offsets.pop((b.core, (b.row0, 2 * b.n_rows), (b.col0, b.n_cols), "FWD"), None)
        # Deployment.program works on the whole placement; hand it the blocks of these layers
        full = self.dep.placement
        self.dep.placement = Placement(blocks, full.n_cores, full.notes)
        try:
            reports = self.dep.program(method=method)
        finally:
            self.dep.placement = full
        self.programmed.update(names)
        return reports

    def set_weights(self, op: MvmOp) -> None:
        """Replace a layer's weights (same shape) before reprogramming it; keeps its bias rows."""
        layer = self.dep.layers[op.name]
        n_b = self.n_bias[op.name]
        w = op.matrix()
        if not np.all(np.isfinite(w)) or (op.bias is not None and not np.all(np.isfinite(op.bias))):
            raise GraphError(f"layer {op.name!r}: weights contain NaN or inf")
        rows = [w]
        if n_b:
            rows.append(np.tile(op.bias / (n_b * op.in_range), (n_b, 1)))
        m = np.vstack(rows)
        if m.shape != layer.matrix.shape:
            raise GraphError(f"layer {op.name!r}: new matrix {m.shape} != placed {layer.matrix.shape}")
        layer.matrix = m
        layer.wmax = float(np.abs(m).max()) or 1.0
        self.programmed.discard(op.name)

    # -------------------------------------------------------------------- inference
    def mvm(self, op: MvmOp, x, chip_layers=None):
        """One layer: on the chip if programmed and selected, else in float software."""
        on_chip = op.name in self.programmed and (chip_layers is None or op.name in chip_layers)
        if not on_chip:
            return _float_mvm(op, x)
        y = self.dep.run(op.name, x)
        return y.reshape(y.shape[0], -1) if op.kind == "dense" else y

    def forward(self, x, *, start: int | None = None, upto: int | None = None, chip_layers=None,
                batch: int = 250, progress: bool = False, desc: str = "chip"):
        """Run ops ``start .. upto-1`` in batches (``start`` None: ``x`` are images)."""
        from tqdm.auto import tqdm

        x = np.asarray(x)
        if start is None:
            self.graph.check_input(x)
        outs = []
        for i in tqdm(range(0, len(x), batch), desc=desc, unit="batch", disable=not progress, leave=False):
            outs.append(self.graph.run_numpy(x[i:i + batch], start=start, upto=upto,
                                             mvm=lambda op, a: self.mvm(op, a, chip_layers)))
        return np.concatenate(outs)

    def op_index(self, name: str) -> int:
        return next(i for i, o in enumerate(self.graph.ops) if o.name == name)

    # ------------------------------------------------------------------ calibration
    def calibrate(self, name: str, x_in, *, n_vectors: int = CALIB_VECTORS,
                  shared_vread: bool = True, vread_groups: int = 1, shared_choice: str = "joint",
                  seed: int = 0) -> dict:
        """Model-driven calibration of one layer on ``x_in`` (activations entering it, NHWC
        or (N, features)): per-block Vread / Vdecr grid and ADC offsets (SPEC §8a).

        ``shared_vread``: the blocks of a layer run on several cores in one parallel MVM,
        and Vread comes from a bias rail those cores share (Vdecr comes from each core's
        own DAC, the ADC offsets are per output): after the per-block search every block
        is re-calibrated (Vdecr, offsets, gain) at one common Vread. ``shared_choice``
        picks it: ``"joint"`` measures every block at each block's own best Vread and
        takes the one with the lowest summed squared error over the blocks; ``"lowest"``
        the lowest of them (no block beyond its own headroom estimate).

        ``vread_groups`` > 1 starts the layer's blocks in that many groups one after
        another (each group its own Vread, chosen as above; the blocks are grouped by
        their own best Vread): closer to per-block operating points at ``vread_groups``
        times the layer's latency. ``shared_vread=False``: every block at its own Vread
        (as many groups as distinct Vreads). Returns a summary (per-block points and
        RMSEs, the groups and their Vreads).
        """
        if shared_choice not in ("joint", "lowest"):
            raise ValueError(f"shared_choice must be 'joint' or 'lowest', got {shared_choice!r}")
        if isinstance(vread_groups, bool) or not isinstance(vread_groups, int) or vread_groups < 1:
            raise ValueError(f"vread_groups must be a positive integer, got {vread_groups!r}")
        op = self.graph.ops[self.op_index(name)]
        x_in = np.asarray(x_in)
        per = 1
        if op.kind == "conv" and x_in.ndim == 4:
            h, w = x_in.shape[1:3]
            kh = op.weight.shape[0]
            per = ((h + 2 * op.padding - kh) // op.stride + 1) * ((w + 2 * op.padding - op.weight.shape[1]) // op.stride + 1)
        n_img = max(2, min(len(x_in), math.ceil(n_vectors / per)))
        rng = np.random.default_rng(seed)
        x_c = x_in[np.sort(rng.choice(len(x_in), n_img, replace=False))]
        cal = self.dep.calibrate(name, x_c)
        out = {"vectors": int(n_img * per),
               "per_block": [dict(c.summary(), core=b.core) for b, c in cal]}
        own = [c.vread for _, c in cal]
        if not shared_vread or len(set(own)) == 1:
            out["groups"] = _groups_of(own)
            vs = sorted(set(own))
            out["shared_vread"] = vs[0] if len(vs) == 1 else vs
            return out
        # group the blocks by their own best Vread (contiguous in sorted order: the split
        # with the smallest summed squared spread of log-Vread)
        groups = _vread_groups(own, vread_groups)
        # each candidate Vread measured once for every block (Vdecr, offsets, gain re-fit)
        cands = sorted(set(own)) if shared_choice == "joint" else sorted({min(own[i] for i in g) for g in groups})
        err = {}
        for v in cands:
            for j, (b, c) in enumerate(self.dep.calibrate(name, x_c, vread_codes=[v])):
                err[(v, j)] = (c.rmse, c)
        chosen, summary = [], []
        for g in groups:
            if shared_choice == "lowest":
                v = min(own[i] for i in g)
            else:
                v = min((vv for vv in cands), key=lambda vv: sum(err[(vv, i)][0] ** 2 for i in g))
            chosen.append(v)
            for i in g:
                # restore block i's calibration at its group's Vread (the last call left
                # every block at the last candidate)
                b = cal[i][0]
                c = err[(v, i)][1]
                self.dep.block_cfg[(b.core, b.row0, b.col0, "FWD")] = self.dep.layer_cfg[name].replace(
                    direction="FWD", vread=c.vread, vdecr=c.vdecr)
                self.mid.offsets[(b.core, (b.row0, 2 * b.n_rows), (b.col0, b.n_cols), "FWD")] = (c.offset, c.gain)
                summary.append((i, dict(c.summary(), core=b.core)))
        out["groups"] = [[int(i) for i in g] for g in groups]
        out["shared_vread"] = chosen[0] if len(chosen) == 1 else chosen
        out["shared"] = [s_ for _, s_ in sorted(summary)]
        out["shared_choice"] = shared_choice
        out["candidates"] = {int(v): float(sum(err[(v, i)][0] ** 2 for i in range(len(cal)))) for v in cands}
        return out

    def calibrate_all(self, images, *, kind: str = "train", n_vectors: int = CALIB_VECTORS,
                      shared_vread: bool = True, vread_groups: int = 1, shared_choice: str = "joint",
                      seed: int = 0) -> dict:
        """Calibrate every layer in order, each on the activations ``images`` produce through
        the (already calibrated) chip layers in front of it.

        ``kind="random"`` calibrates each layer instead on random inputs spread uniformly over
        its quantised input range, as many as the images give (ED Fig. 6's counterpart).
        """
        if kind not in ("train", "random"):
            raise ValueError(f"kind must be 'train' or 'random', got {kind!r}")
        out, a, pos = {}, np.asarray(images), None
        for i, op in enumerate(self.graph.ops):
            if not isinstance(op, MvmOp):
                continue
            a = self.forward(a, start=pos, upto=i, batch=len(a))
            pos = i
            x_c = a
            if kind == "random":
                r = np.random.default_rng(seed + 11 + i)
                levels = (1 << op.in_bits) - 1
                x_c = r.integers(0, levels + 1, size=a.shape) * (op.in_range / levels)
            out[op.name] = self.calibrate(op.name, x_c, n_vectors=n_vectors, shared_vread=shared_vread,
                                          vread_groups=vread_groups, shared_choice=shared_choice,
                                          seed=seed)
        return out

    def vread_of(self, name: str) -> list[int]:
        return sorted({self.dep.block_cfg[(b.core, b.row0, b.col0, "FWD")].vread
                       for b in self._blocks([name]) if (b.core, b.row0, b.col0, "FWD") in self.dep.block_cfg})


def _groups_of(vreads) -> list[list[int]]:
    """Blocks with equal Vread form one group (they can be started together)."""
    return [[i for i, v in enumerate(vreads) if v == u] for u in sorted(set(vreads))]


def _vread_groups(vreads, n_groups: int) -> list[list[int]]:
    """Split the blocks into at most ``n_groups`` groups, contiguous in the order of their
    own Vreads, with the smallest summed squared spread of log-Vread (exhaustive: layers
    have a handful of blocks)."""
    from itertools import combinations

    order = sorted(range(len(vreads)), key=lambda i: vreads[i])
    lv = np.log([vreads[i] for i in order])
    k = min(n_groups, len(set(vreads)))
    best = None
    for cuts in combinations(range(1, len(order)), k - 1):
        edges = (0, *cuts, len(order))
        cost = sum(float(np.sum((lv[a:b] - lv[a:b].mean()) ** 2)) for a, b in zip(edges, edges[1:]))
        if best is None or cost < best[0] - 1e-12:
            best = (cost, edges)
    edges = best[1]
    return [[order[j] for j in range(a, b)] for a, b in zip(edges, edges[1:])]


def _shape_after(op, shape):
    """Activation shape (C, H, W) or (n,) after ``op``, as :meth:`NetGraph.validate` computes it."""
    from .graph import FlattenOp, PoolOp

    if isinstance(op, MvmOp):
        if op.kind == "conv":
            kh, kw = op.weight.shape[:2]
            return (op.n_out, (shape[1] + 2 * op.padding - kh) // op.stride + 1,
                    (shape[2] + 2 * op.padding - kw) // op.stride + 1)
        return (op.n_out,)
    if isinstance(op, PoolOp):
        return (shape[0], (shape[1] - op.k) // op.stride + 1, (shape[2] - op.k) // op.stride + 1)
    if isinstance(op, FlattenOp):
        return (int(np.prod(shape)),)
    return shape

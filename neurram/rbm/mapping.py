"""Mapping the RBM onto cores (paper, Methods "RBM"; SPEC §2, §8).

Layout of every core (the paper's differential scheme, weights on row pairs):

* rows ``2i`` / ``2i+1`` hold G+ / G- of hidden unit ``i`` (all hidden units on every core);
* rows ``2 n_hidden ...`` are bias row pairs for the visible bias, driven with input 1 in the
  forward MVM;
* columns (SLs) are visible units: the visible set is split over ``n_cores`` cores, at most
  :data:`MAX_OUTPUTS` (128) columns per core, the paper's limit for "wide" matrices whose
  forward outputs would otherwise load the BL drivers;
* a few bias columns carry the hidden bias, driven with the largest input code (visible
  value 1) in the backward MVM.

Hidden -> visible is the forward (BL -> SL) MVM with differential input on the row pairs:
one SL neuron per visible unit sees its whole pre-activation. Visible -> hidden is the
backward (SL -> BL) MVM on the same cells with differential output: the two BL neurons of
a row pair convert, the host subtracts and sums the cores' partial sums.

Pixels are assigned to cores by ``(s * row + col) mod n_cores`` with a stride ``s`` chosen so
that no two pixels that touch (also diagonally) share a core when ``n_cores >= 5``: each
core sees an evenly down-sampled image, so every core's output range is alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rtl.analog_bus import N_LINES

from .model import N_LABELS, RBM

MAX_OUTPUTS = 128     #: paper: matrices wider than 128 outputs are split over cores
MAX_CORES = 48
G_MIN, G_MAX = 1.0, 30.0   #: µS, the paper's RBM range (SPEC §2)


@dataclass
class CoreBlock:
    """What one core holds."""

    core: int
    visible: np.ndarray          # visible indices, in column order
    n_bias_cols: int             # hidden-bias columns after the visible ones
    n_rows: int                  # rows pulsed in the forward MVM (hidden pairs + bias pairs)

    @property
    def n_cols(self) -> int:
        return len(self.visible) + self.n_bias_cols


@dataclass
class Mapping:
    rbm: RBM
    shape: tuple[int, int]
    n_cores: int
    stride: int
    n_bias_pairs: int           # visible-bias row pairs per core
    n_bias_cols_total: int
    wmax: float                 # weight mapped to gmax - gmin
    gmin: float
    gmax: float
    blocks: list[CoreBlock] = field(default_factory=list)

    @property
    def n_hidden(self) -> int:
        return self.rbm.n_hidden

    @property
    def n_visible(self) -> int:
        return self.rbm.n_visible

    def core_of_visible(self) -> np.ndarray:
        out = np.empty(self.n_visible, np.int64)
        for b in self.blocks:
            out[b.visible] = b.core
        return out

    def weights(self, block: CoreBlock) -> np.ndarray:
        """Signed weight matrix (n_rows_logical, n_cols) the core's cells encode, with
        the bias rows/columns, in weight units."""
        r = self.rbm
        nh = self.n_hidden
        w = np.zeros((nh + self.n_bias_pairs, block.n_cols))
        w[:nh, :len(block.visible)] = r.W[block.visible].T
        w[nh:, :len(block.visible)] = r.b[block.visible] / max(self.n_bias_pairs, 1)
        if block.n_bias_cols:
            w[:nh, len(block.visible):] = (r.a / self.n_bias_cols_total)[:, None]
        return w

    def conductance(self, block: CoreBlock) -> np.ndarray:
        """Full (256, 256) target conductances of the core (unused cells at gmin)."""
        w = self.weights(block)
        span = self.gmax - self.gmin
        g = np.full((N_LINES, N_LINES), self.gmin)
        nr, nc = w.shape
        g[0:2 * nr:2, :nc] = self.gmin + span * np.clip(w, 0, None) / self.wmax
        g[1:2 * nr:2, :nc] = self.gmin + span * np.clip(-w, 0, None) / self.wmax
        return g

    def report(self) -> dict:
        core = self.core_of_visible()
        h, w = self.shape
        img = core[:h * w].reshape(h, w)
        same = 0
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = img[max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)]
            bimg = img[max(0, dr):, max(0, dc):][:a.shape[0], :a.shape[1]]
            same += int(np.sum(a == bimg))
        return {
            "n_cores": self.n_cores, "pixel_stride": self.stride,
            "wmax": self.wmax, "gmin_uS": self.gmin, "gmax_uS": self.gmax,
            "visible_bias_row_pairs": self.n_bias_pairs,
            "hidden_bias_columns": self.n_bias_cols_total,
            "touching_pixel_pairs_on_same_core": same,
            "cores": [{"core": b.core, "rows_forward": 2 * b.n_rows, "columns": b.n_cols,
                       "pixels": int(np.sum(b.visible < h * w)),
                       "labels": int(np.sum(b.visible >= h * w)),
                       "hidden_bias_columns": b.n_bias_cols,
                       "cells": int(2 * b.n_rows * b.n_cols)} for b in self.blocks],
        }

    def table(self) -> str:
        rep = self.report()
        lines = ["core  rows  cols  pixels  labels  bias-cols"]
        for c in rep["cores"]:
            lines.append(f"{c['core']:4d}  {c['rows_forward']:4d}  {c['columns']:4d}  {c['pixels']:6d}"
                         f"  {c['labels']:6d}  {c['hidden_bias_columns']:9d}")
        return "\n".join(lines)


def _stride(n_cores: int) -> int:
    """Smallest s with s-1, s, s+1 all nonzero mod n (no touching pixels share a core)."""
    for s in range(2, max(n_cores - 1, 2)):
        if all(v % n_cores for v in (s - 1, s, s + 1)):
            return s
    return 2


def map_rbm(rbm: RBM, shape: tuple[int, int], *, n_cores: int | None = None,
            gmin: float = G_MIN, gmax: float = G_MAX, max_outputs: int = MAX_OUTPUTS) -> Mapping:
    """Split the RBM over cores (module doc). Raises ``ValueError`` naming the argument
    when the sizes do not fit the chip; nothing is programmed here."""
    nh, nv = rbm.n_hidden, rbm.n_visible
    h, w = shape
    if nv != h * w + N_LABELS:
        raise ValueError(f"n_visible must be pixels + {N_LABELS} labels = {h * w + N_LABELS} "
                         f"for shape {shape}, got {nv}")
    if not 1 <= max_outputs <= N_LINES:
        raise ValueError(f"max_outputs must be in 1..{N_LINES}, got {max_outputs!r}")
    wmax = float(max(np.abs(rbm.W).max(), 1e-12))
    n_bias_pairs = max(1, math.ceil(float(np.abs(rbm.b).max()) / wmax - 1e-9))
    if 2 * (nh + n_bias_pairs) > N_LINES:
        raise ValueError(f"n_hidden = {nh} does not fit a core: 2 rows per hidden unit plus "
                         f"{2 * n_bias_pairs} visible-bias rows exceed {N_LINES} rows "
                         f"(at most {N_LINES // 2 - n_bias_pairs} hidden units)")
    n_bias_cols = max(1, math.ceil(float(np.abs(rbm.a).max()) / wmax - 1e-9))
    need = math.ceil((nv + n_bias_cols) / max_outputs)
    if n_cores is None:
        n_cores = need
    if not isinstance(n_cores, (int, np.integer)) or not need <= n_cores <= MAX_CORES:
        raise ValueError(f"n_cores must be an integer in {need}..{MAX_CORES} for {nv} visible "
                         f"units at <= {max_outputs} columns per core, got {n_cores!r}")
    if need > MAX_CORES:
        raise ValueError(f"n_visible = {nv} does not fit the chip's {MAX_CORES} cores")
    s = _stride(n_cores)
    r, c = np.divmod(np.arange(h * w), w)
    core = (s * r + c) % n_cores
    load = np.bincount(core, minlength=n_cores)
    members = [list(np.flatnonzero(core == k)) for k in range(n_cores)]
    for j in range(N_LABELS):                      # labels on the least-loaded cores
        k = int(np.argmin(load))
        members[k].append(h * w + j)
        load[k] += 1
    bias = np.zeros(n_cores, np.int64)
    for _ in range(n_bias_cols):
        k = int(np.argmin(load))
        bias[k] += 1
        load[k] += 1
    if load.max() > max_outputs:
        raise ValueError(f"n_cores = {n_cores} leaves {load.max()} columns on a core "
                         f"(max_outputs = {max_outputs})")
    m = Mapping(rbm, (h, w), int(n_cores), s, n_bias_pairs, n_bias_cols, wmax, gmin, gmax)
    m.blocks = [CoreBlock(k, np.array(sorted(members[k]), np.int64), int(bias[k]),
                          nh + n_bias_pairs) for k in range(n_cores)]
    return m

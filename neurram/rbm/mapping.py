"""Mapping the RBM onto cores (paper, Methods "RBM"; SPEC §2, §8).

Layout of every core (signed weights as the difference of two cells, here on adjacent
*columns* of the same row, so that the MVM of either direction can cancel the common mode
in the analog domain where it matters most):

* row ``i`` holds hidden unit ``i`` (all hidden units on every core); rows
  ``n_hidden ...`` are visible-bias rows, driven with input 1 in the forward MVM;
* column pair ``2l`` / ``2l+1`` holds G+ / G- of the core's ``l``-th visible unit: the
  visible set is split over ``n_cores`` cores, at most :data:`MAX_OUTPUTS` (128) visible
  units per core (the paper's limit for "wide" matrices, which keeps the number of cells
  each BL driver feeds in a forward MVM within one core's width);
* a few bias column pairs carry the hidden bias, driven with the largest input (visible
  value 1) in the backward MVM.

Visible -> hidden is the backward (SL -> BL) MVM with differential input on the column
pairs (SL ``2l`` at ``+x``, SL ``2l+1`` at ``-x``, the sign-magnitude inputs of the SL
drivers): one BL neuron per hidden unit and core integrates the signed partial sum, the
large common mode of the 0..7 inputs cancelling on the line. Hidden -> visible is the
forward (BL -> SL) MVM on the same cells with differential output: the two SL neurons of
a column pair convert and the host subtracts (binary inputs: this direction stays clear
of the integrator headroom's common-mode problem).

This is the transpose of the paper's "differential rows" convention (SPEC §2), chosen
because with row pairs the backward direction would carry the common mode of every
visible input on both neurons of a pair; measured in docs/rbm.md.

Pixels are assigned to cores by ``(s * row + col) mod n_cores`` with a stride ``s`` chosen so
that no two pixels that touch (also diagonally) share a core when ``n_cores >= 5``: each
core sees an evenly down-sampled image, so every core's output range is alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rtl.contract.constants import N_CORES as MAX_CORES
from rtl.contract.constants import N_LINES

from .model import N_LABELS, RBM

MAX_OUTPUTS = 128     #: paper: matrices wider than 128 outputs are split over cores
G_MIN, G_MAX = 1.0, 30.0   #: µS, the paper's RBM range (SPEC §2)


@dataclass
class CoreBlock:
    """What one core holds."""

    core: int
    visible: np.ndarray          # visible indices, in column-pair order
    n_bias_cols: int             # hidden-bias column pairs after the visible ones
    n_rows: int                  # rows pulsed in the forward MVM (hidden + bias rows)

    @property
    def n_cols(self) -> int:
        """Logical columns (column pairs): visible units + hidden-bias columns."""
        return len(self.visible) + self.n_bias_cols


@dataclass
class Mapping:
    rbm: RBM
    shape: tuple[int, int]
    n_cores: int
    stride: int
    n_bias_rows: int            # visible-bias rows per core
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
        """Signed weight matrix (rows, logical columns) the core's cells encode, with the
        bias rows/columns, in weight units."""
        r = self.rbm
        nh = self.n_hidden
        w = np.zeros((nh + self.n_bias_rows, block.n_cols))
        w[:nh, :len(block.visible)] = r.W[block.visible].T
        w[nh:, :len(block.visible)] = r.b[block.visible] / self.n_bias_rows
        if block.n_bias_cols:
            w[:nh, len(block.visible):] = (r.a / self.n_bias_cols_total)[:, None]
        return w

    def conductance(self, block: CoreBlock) -> np.ndarray:
        """Full (256, 256) target conductances of the core (unused cells at gmin)."""
        w = self.weights(block)
        span = self.gmax - self.gmin
        g = np.full((N_LINES, N_LINES), self.gmin)
        nr, nc = w.shape
        g[:nr, 0:2 * nc:2] = self.gmin + span * np.clip(w, 0, None) / self.wmax
        g[:nr, 1:2 * nc:2] = self.gmin + span * np.clip(-w, 0, None) / self.wmax
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
            "layout": "hidden units on rows, visible units on column pairs (G+, G-)",
            "visible_bias_rows": self.n_bias_rows,
            "hidden_bias_column_pairs": self.n_bias_cols_total,
            "touching_pixel_pairs_on_same_core": same,
            "cores": [{"core": b.core, "rows": b.n_rows, "columns": 2 * b.n_cols,
                       "pixels": int(np.sum(b.visible < h * w)),
                       "labels": int(np.sum(b.visible >= h * w)),
                       "hidden_bias_columns": b.n_bias_cols,
                       "cells": int(2 * b.n_rows * b.n_cols)} for b in self.blocks],
            "placement_table": self.table(),
        }

    def table(self) -> str:
        h, w = self.shape
        lines = ["core  rows  cols  pixels  labels  bias-col-pairs"]
        for b in self.blocks:
            lines.append(f"{b.core:4d}  {b.n_rows:4d}  {2 * b.n_cols:4d}  {int(np.sum(b.visible < h * w)):6d}"
                         f"  {int(np.sum(b.visible >= h * w)):6d}  {b.n_bias_cols:14d}")
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
    if not 1 <= max_outputs <= N_LINES // 2:
        raise ValueError(f"max_outputs must be in 1..{N_LINES // 2} (two columns each), got {max_outputs!r}")
    wmax = float(max(np.abs(rbm.W).max(), 1e-12))
    n_bias_rows = max(1, math.ceil(float(np.abs(rbm.b).max()) / wmax - 1e-9))
    if nh + n_bias_rows > N_LINES:
        raise ValueError(f"n_hidden = {nh} does not fit a core: one row per hidden unit plus "
                         f"{n_bias_rows} visible-bias rows exceed {N_LINES} rows "
                         f"(at most {N_LINES - n_bias_rows} hidden units)")
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
    m = Mapping(rbm, (h, w), int(n_cores), s, n_bias_rows, n_bias_cols, wmax, gmin, gmax)
    m.blocks = [CoreBlock(k, np.array(sorted(members[k]), np.int64), int(bias[k]),
                          nh + n_bias_rows) for k in range(n_cores)]
    return m

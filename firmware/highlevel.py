"""High-level API: map dense and convolution layers onto the 48 cores and run them.

The top of the paper's three-level toolchain (SPEC §8): weight -> conductance mapping
(SPEC §2), flattening, bias rows, batch-norm folding, splitting beyond one core with
digital partial-sum accumulation, placement with the paper's strategies and batched
inference. Everything below goes through :class:`firmware.midlevel.MidLevel`.

>>> net = Deployment(mid)                                            # doctest: +SKIP
>>> net.add_dense("fc1", W, b)              # W: (inputs, outputs)
>>> placement = net.place()                 # segments -> cores, with a report
>>> net.program(method="write-verify")      # or "backdoor" in simulation
>>> y = net.run("fc1", X)                   # batched inference, float in / float out
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware.lowlevel import N_LINES, _check_int
from rtl.contract.constants import N_CORES
from firmware.midlevel import MidLevel, MvmConfig, WriteVerifyConfig, _finite_number
from firmware.parallel import can_share_bias

__all__ = ["weights_to_conductance", "fold_batchnorm", "conv_weight_matrix", "bias_rows",
           "im2col", "Layer", "Block", "Placement", "place", "Deployment"]

MAX_LOGICAL_ROWS = N_LINES // 2   #: differential rows: 128 logical inputs per core
WIDE = 128                        #: paper: matrices wider than 128 outputs are "wide"


# ====================================================================== mapping maths
def weights_to_conductance(w, gmin: float = 1.0, gmax: float = 40.0, wmax: float | None = None):
    """Signed weights -> differential conductances (SPEC §2).

    Parameters
    ----------
    w : array (n_in, n_out)
        Weights; finite.
    gmin, gmax : float
        Conductance range (µS); 1 and 40 for CNNs, 30 for LSTM/RBM.
    wmax : float, optional
        Weight that maps to gmax; default the largest |w|.

    Returns
    -------
    g : ndarray (2*n_in, n_out)
        Row ``2i`` holds G+ and row ``2i+1`` G- of input ``i``:
        ``G+ = gmin + (gmax-gmin) * w/wmax`` for w > 0 else gmin, and mirrored for G-.
    wmax : float
        The weight scale used (needed to map results back).
    """
    w = np.asarray(w, dtype=float)
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"w must be a non-empty 2-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or inf")
    gmin = _finite_number("gmin", gmin, 0, 1000)
    gmax = _finite_number("gmax", gmax, 0, 1000)
    if not gmin < gmax:
        raise ValueError(f"need gmin < gmax, got gmin={gmin}, gmax={gmax}")
    if wmax is None:
        wmax = float(np.abs(w).max()) or 1.0
    wmax = _finite_number("wmax", wmax, 0, None)
    if wmax <= 0 or np.abs(w).max() > wmax * (1 + 1e-12):
        raise ValueError(f"wmax must be > 0 and >= max|w| = {np.abs(w).max():.4g}, got {wmax}")
    span = gmax - gmin
    g = np.empty((2 * w.shape[0], w.shape[1]))
    g[0::2] = gmin + span * np.clip(w, 0, None) / wmax
    g[1::2] = gmin + span * np.clip(-w, 0, None) / wmax
    return g, wmax


def fold_batchnorm(w, b, gamma, beta, mean, var, eps: float = 1e-5):
    """Fold y = gamma*(x@w + b - mean)/sqrt(var+eps) + beta into W', b' (per output)."""
    w = np.asarray(w, dtype=float)
    n_out = w.shape[-1]
    b = np.zeros(n_out) if b is None else np.asarray(b, dtype=float)
    arrs = [np.asarray(a, dtype=float) for a in (gamma, beta, mean, var)]
    for name, a in zip(("b", "gamma", "beta", "mean", "var"), [b] + arrs):
        if a.shape != (n_out,):
            raise ValueError(f"{name} must have shape ({n_out},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    gamma, beta, mean, var = arrs
    if np.any(var + eps <= 0):
        raise ValueError("var + eps must be > 0")
    scale = gamma / np.sqrt(var + eps)
    return w * scale, (b - mean) * scale + beta


def conv_weight_matrix(kernel):
    """Flatten a (H, W, I, O) convolution kernel to the (H*W*I, O) matrix (SPEC §8)."""
    k = np.asarray(kernel, dtype=float)
    if k.ndim != 4:
        raise ValueError(f"kernel must have shape (H, W, I, O), got {k.shape}")
    return k.reshape(-1, k.shape[3])


def bias_rows(w, b, in_range: float = 1.0):
    """Append bias rows: B rows carrying b/B each, B = ceil(bias range / weight range).

    The rows' input is the largest input (``in_range``), so their weights are
    ``b / (B * in_range)``. Returns ``(matrix (n_in + B, n_out), B)``.
    """
    w = np.asarray(w, dtype=float)
    if b is None:
        return w, 0
    b = np.asarray(b, dtype=float) / in_range
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},), got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("b contains NaN or inf")
    wr = float(np.abs(w).max()) or 1.0
    n_b = max(1, math.ceil(float(np.abs(b).max()) / wr - 1e-12))
    return np.vstack([w, np.tile(b / n_b, (n_b, 1))]), n_b


def im2col(x, kh: int, kw: int, stride: int = 1, padding: int = 0):
    """(N, H, W, I) images -> (N, Ho, Wo, kh*kw*I) patches in (H, W, I) order."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, I), got {x.shape}")
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    n, h, w, c = x.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"kernel {kh}x{kw} larger than the padded input {h}x{w}")
    out = np.empty((n, ho, wo, kh * kw * c))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * ho:stride, j:j + stride * wo:stride, :]
            out[..., (i * kw + j) * c:(i * kw + j + 1) * c] = patch
    return out


# ========================================================================== layers
@dataclass
class Layer:
    """A layer as a logical weight matrix (bias rows included)."""

    name: str
    matrix: np.ndarray          #: (n_rows, n_out), float weights incl. bias rows
    n_bias: int                 #: bias rows at the end of ``matrix``
    in_range: float             #: inputs are clipped to +-in_range and quantised
    kind: str = "dense"
    conv: dict | None = None    #: kh, kw, stride, padding for conv layers
    intensity: float = 1.0      #: MVMs per input vector (conv: output pixels)
    gmin: float = 1.0
    gmax: float = 40.0
    wmax: float = 1.0

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def conductance_shape(self):
        """(2*(H*W*I+B), O): the differential conductance matrix."""
        return (2 * self.matrix.shape[0], self.matrix.shape[1])


@dataclass
class Block:
    """One segment of a layer placed on a core."""

    layer: str
    seg_row: int                #: row segment index
    seg_col: int                #: column segment index
    rows: tuple                 #: logical rows (start, stop) of the layer matrix
    cols: tuple                 #: outputs (start, stop)
    core: int = -1
    row0: int = 0               #: physical row on the core (differential: 2 per input)
    col0: int = 0
    replica: int = 0
    merge: str = "own"          #: own / diagonal / horizontal

    @property
    def n_rows(self):
        return self.rows[1] - self.rows[0]

    @property
    def n_cols(self):
        return self.cols[1] - self.cols[0]

    def report(self) -> dict:
        return {"layer": self.layer, "segment": [self.seg_row, self.seg_col],
                "rows": list(self.rows), "cols": list(self.cols), "core": self.core,
                "row0": self.row0, "col0": self.col0, "replica": self.replica,
                "merge": self.merge}


@dataclass
class Placement:
    blocks: list
    n_cores: int
    notes: list = field(default_factory=list)

    def cores_used(self) -> list[int]:
        return sorted({b.core for b in self.blocks})

    def utilisation(self) -> dict:
        """Core -> fraction of its 256x256 cells holding weights."""
        use: dict[int, int] = {}
        for b in self.blocks:
            use[b.core] = use.get(b.core, 0) + 2 * b.n_rows * b.n_cols
        return {c: round(n / N_LINES ** 2, 4) for c, n in sorted(use.items())}

    def report(self) -> dict:
        """JSON-able placement report: which segment sits where, utilisation."""
        util = self.utilisation()
        return {"n_cores": self.n_cores, "cores_used": len(util),
                "mean_utilisation": round(float(np.mean(list(util.values()))), 4) if util else 0.0,
                "utilisation": {str(k): v for k, v in util.items()},
                "blocks": [b.report() for b in self.blocks], "notes": list(self.notes)}

    def table(self) -> str:
        """Human-readable placement report."""
        lines = [f"{'layer':<10} {'seg':>5} {'rows':>9} {'cols':>9} {'core':>4} {'at row,col':>10}  how"]
        for b in self.blocks:
            how = b.merge + (f" replica {b.replica}" if b.replica else "")
            lines.append(f"{b.layer:<10} {f'{b.seg_row},{b.seg_col}':>5} "
                         f"{f'{b.rows[0]}-{b.rows[1]}':>9} {f'{b.cols[0]}-{b.cols[1]}':>9} "
                         f"{b.core:>4} {f'{b.row0},{b.col0}':>10}  {how}")
        util = self.utilisation()
        lines.append(f"{len(util)} cores used of {self.n_cores}; mean utilisation "
                     f"{np.mean(list(util.values())):.1%}")
        return "\n".join(lines)


def _segments(layer: Layer, max_rows: int, max_cols: int) -> list[Block]:
    n_r, n_c = layer.matrix.shape
    rs = math.ceil(n_r / max_rows)
    cs = math.ceil(n_c / max_cols)
    # equal-sized segments keep the per-core output ranges similar
    r_edges = np.linspace(0, n_r, rs + 1).round().astype(int)
    c_edges = np.linspace(0, n_c, cs + 1).round().astype(int)
    return [Block(layer.name, i, j, (int(r_edges[i]), int(r_edges[i + 1])),
                  (int(c_edges[j]), int(c_edges[j + 1])))
            for i in range(rs) for j in range(cs)]


def place(layers: list[Layer], n_cores: int = N_CORES, *, replicate: bool = True,
          split_wide: bool = True) -> Placement:
    """Place layer segments onto cores with the paper's strategies (Methods).

    1. Split every matrix into segments of at most 128 logical (256 differential) rows and
       256 columns; one segment per core when they fit.
    2. Spare cores: split wide segments (more than 128 outputs) across cores (less
       current per input driver, less voltage drop), then replicate the most
       compute-intensive layers (data parallelism), round-robin by intensity.
    3. More segments than cores: merge small ones diagonally (disjoint rows and columns,
       accessed in parallel) and large ones horizontally (side by side on shared rows,
       accessed one at a time), avoiding intensive and wide layers.
    """
    n_cores = _check_int("n_cores", n_cores, 1, N_CORES)
    if not layers:
        raise ValueError("layers must not be empty")
    notes = []
    blocks: list[Block] = []
    for layer in layers:
        blocks += _segments(layer, MAX_LOGICAL_ROWS, N_LINES)
    by_name = {l.name: l for l in layers}
    # position in the model: every tie below is broken in the model's order (never a
    # set's, whose order of names changes from one interpreter to the next)
    index = {l.name: i for i, l in enumerate(layers)}
    if split_wide and len(blocks) < n_cores:
        out = []
        spare = n_cores - len(blocks)
        for b in sorted(blocks, key=lambda b: -b.n_cols):
            if b.n_cols > WIDE and spare > 0:
                half = b.cols[0] + math.ceil(b.n_cols / 2)
                out += [Block(b.layer, b.seg_row, 2 * b.seg_col, b.rows, (b.cols[0], half)),
                        Block(b.layer, b.seg_row, 2 * b.seg_col + 1, b.rows, (half, b.cols[1]))]
                spare -= 1
                notes.append(f"{b.layer}: wide segment cols {b.cols} split across two cores")
            else:
                out.append(b)
        blocks = sorted(out, key=lambda b: (index[b.layer], b.seg_row, b.seg_col))
    if len(blocks) <= n_cores:
        for core, b in enumerate(blocks):
            b.core = core
        if replicate:
            spare = n_cores - len(blocks)
            # the most intensive layers first, equal ones in the model's order
            order = sorted({b.layer for b in blocks}, key=lambda n: (-by_name[n].intensity, index[n]))
            order = [n for n in order if by_name[n].intensity > 1]
            next_core, rep = len(blocks), {}
            while order and spare > 0:
                progressed = False
                for name in order:
                    segs = [b for b in blocks if b.layer == name and b.replica == 0]
                    if len(segs) <= spare:
                        rep[name] = rep.get(name, 0) + 1
                        for s in segs:
                            blocks.append(Block(s.layer, s.seg_row, s.seg_col, s.rows, s.cols,
                                                next_core, replica=rep[name]))
                            next_core += 1
                        spare -= len(segs)
                        progressed = True
                if not progressed:
                    break
            for name, n in rep.items():
                notes.append(f"{name}: replicated on {n} more core set(s) (intensity {by_name[name].intensity:g})")
        return Placement(blocks, n_cores, notes)
    # more segments than cores: merge
    sensitive = {l.name for l in layers if l.intensity > 1 or l.shape[1] > WIDE}
    cores: list[list[Block]] = []
    # large first so that they get their own core or a horizontal partner
    for b in sorted(blocks, key=lambda b: (b.layer in sensitive, -(b.n_rows * b.n_cols)), reverse=True):
        placed = False
        if b.layer not in sensitive:
            for c in cores:
                if any(o.layer in sensitive for o in c):
                    continue
                rows_end = max(o.row0 + 2 * o.n_rows for o in c)
                cols_end = max(o.col0 + o.n_cols for o in c)
                if rows_end + 2 * b.n_rows <= N_LINES and cols_end + b.n_cols <= N_LINES:
                    b.row0, b.col0, b.merge = rows_end, cols_end, "diagonal"
                    c.append(b)
                    placed = True
                    break
                if 2 * b.n_rows <= N_LINES and cols_end + b.n_cols <= N_LINES:
                    b.row0, b.col0, b.merge = 0, cols_end, "horizontal"
                    c.append(b)
                    placed = True
                    break
        if not placed:
            cores.append([b])
    if len(cores) > n_cores:
        raise ValueError(f"the layers need {len(cores)} cores after merging, the chip has {n_cores}")
    for i, c in enumerate(cores):
        for b in c:
            b.core = i
    notes.append(f"{len(blocks)} segments merged onto {len(cores)} cores")
    return Placement(sorted(blocks, key=lambda b: (b.core, b.row0, b.col0)), n_cores, notes)


# ====================================================================== deployment
class Deployment:
    """Layers mapped onto a chip: build, place, program, calibrate, run.

    Parameters
    ----------
    mid : MidLevel
        Mid-level driver of the chip.
    cfg : MvmConfig
        Default MVM operating point (bits) of every layer.
    """

    def __init__(self, mid: MidLevel, cfg: MvmConfig | None = None):
        if not isinstance(mid, MidLevel):
            raise TypeError(f"mid must be a firmware.midlevel.MidLevel, got {type(mid).__name__}")
        self.mid = mid
        self.cfg = (cfg or MvmConfig()).validate()
        self.layers: dict[str, Layer] = {}
        self.layer_cfg: dict[str, MvmConfig] = {}
        self.placement: Placement | None = None
        self.reports: list = []
        #: (core, row0, col0) -> calibrated MvmConfig of that block
        self.block_cfg: dict[tuple, MvmConfig] = {}

    # ----------------------------------------------------------------- building
    def add_dense(self, name: str, w, b=None, *, in_range: float = 1.0, batchnorm: dict | None = None,
                  gmin: float = 1.0, gmax: float = 40.0, cfg: MvmConfig | None = None) -> Layer:
        """Add a dense layer ``y = x @ w + b`` (w: (inputs, outputs)).

        ``batchnorm`` = dict(gamma, beta, mean, var[, eps]) is folded into w and b.
        """
        if not isinstance(name, str) or not name or name in self.layers:
            raise ValueError(f"name must be a new non-empty string, got {name!r}")
        w = np.asarray(w, dtype=float)
        if w.ndim != 2 or w.size == 0:
            raise ValueError(f"w must be a non-empty 2-D array (inputs, outputs), got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("w contains NaN or inf")
        in_range = _finite_number("in_range", in_range, 1e-12, None)
        if batchnorm is not None:
            w, b = fold_batchnorm(w, b, **batchnorm)
        m, n_b = bias_rows(w, b, in_range)
        layer = Layer(name, m, n_b, in_range, gmin=gmin, gmax=gmax)
        self._register(layer, cfg)
        return layer

    def add_conv(self, name: str, kernel, b=None, *, stride: int = 1, padding: int = 0,
                 in_range: float = 1.0, batchnorm: dict | None = None, input_hw: tuple | None = None,
                 gmin: float = 1.0, gmax: float = 40.0, cfg: MvmConfig | None = None) -> Layer:
        """Add a conv layer with kernel (H, W, I, O); flattened to (H*W*I + B, O)."""
        if not isinstance(name, str) or not name or name in self.layers:
            raise ValueError(f"name must be a new non-empty string, got {name!r}")
        k = np.asarray(kernel, dtype=float)
        w = conv_weight_matrix(k)
        if not np.all(np.isfinite(w)):
            raise ValueError("kernel contains NaN or inf")
        _check_int("stride", stride, 1, 64)
        _check_int("padding", padding, 0, 64)
        in_range = _finite_number("in_range", in_range, 1e-12, None)
        if batchnorm is not None:
            w, b = fold_batchnorm(w, b, **batchnorm)
        m, n_b = bias_rows(w, b, in_range)
        intensity = 1.0
        if input_hw is not None:
            h, wd = input_hw
            intensity = float(((h + 2 * padding - k.shape[0]) // stride + 1)
                              * ((wd + 2 * padding - k.shape[1]) // stride + 1))
        layer = Layer(name, m, n_b, in_range, kind="conv",
                      conv={"kh": k.shape[0], "kw": k.shape[1], "stride": stride, "padding": padding},
                      intensity=intensity, gmin=gmin, gmax=gmax)
        self._register(layer, cfg)
        return layer

    def _register(self, layer: Layer, cfg):
        _finite_number("gmin", layer.gmin, 0, 1000)
        _finite_number("gmax", layer.gmax, 0, 1000)
        if not layer.gmin < layer.gmax:
            raise ValueError(f"need gmin < gmax, got {layer.gmin}, {layer.gmax}")
        layer.wmax = float(np.abs(layer.matrix).max()) or 1.0
        self.layers[layer.name] = layer
        self.layer_cfg[layer.name] = (cfg or self.cfg).validate()
        self.placement = None

    # ---------------------------------------------------------------- placement
    def place(self, **kw) -> Placement:
        """Place every layer (see :func:`place`)."""
        self.placement = place(list(self.layers.values()), self.mid.n_cores, **kw)
        return self.placement

    def _blocks(self, name=None):
        if self.placement is None:
            raise RuntimeError("call place() first")
        return [b for b in self.placement.blocks if name is None or b.layer == name]

    def block_conductance(self, b: Block) -> np.ndarray:
        layer = self.layers[b.layer]
        w = layer.matrix[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
        g, _ = weights_to_conductance(w, layer.gmin, layer.gmax, layer.wmax)
        return g

    def program(self, method: str = "write-verify", wv: WriteVerifyConfig | None = None) -> list:
        """Program every placed block: ``write-verify`` (the chip's way) or ``backdoor``.

        The backdoor load exists only in simulation (it sets conductances directly and
        fills the rest of each core with gmin). Returns the per-block reports (write-verify).
        """
        if method not in ("write-verify", "backdoor"):
            raise ValueError(f"method must be 'write-verify' or 'backdoor', got {method!r}")
        blocks = self._blocks()
        reports = []
        if method == "backdoor":
            by_core: dict[int, list] = {}
            for b in blocks:
                by_core.setdefault(b.core, []).append(b)
            for core, bs in by_core.items():
                gmin = min(self.layers[b.layer].gmin for b in bs)
                full = np.full((N_LINES, N_LINES), gmin)
                for b in bs:
                    g = self.block_conductance(b)
                    full[b.row0:b.row0 + g.shape[0], b.col0:b.col0 + g.shape[1]] = g
                self.mid.backdoor_load_matrix(core, full)
            self.default_operating_points()
            return reports
        for b in blocks:
            layer = self.layers[b.layer]
            cfg = wv or WriteVerifyConfig(gmin=layer.gmin, gmax=layer.gmax)
            rep = self.mid.program_matrix(b.core, self.block_conductance(b), row0=b.row0,
                                          col0=b.col0, wv=cfg)
            reports.append((b, rep))
        # the MVM averages over every pulsed row of the used columns: learn the rest
        for core in sorted({b.core for b in blocks}):
            bs = [b for b in blocks if b.core == core]
            rows_end = max(b.row0 + 2 * b.n_rows for b in bs)
            cols = sorted({c for b in bs for c in range(b.col0, b.col0 + b.n_cols)})
            self.mid.measure(core, np.arange(rows_end), np.array(cols))
        self.reports = reports
        self.default_operating_points()
        return reports

    def default_operating_points(self, n_vectors: int = 64, seed: int = 0) -> None:
        """Give every block an operating point from the weights alone (no chip MVM).

        Until a layer is calibrated on real data (:meth:`calibrate`), its blocks run at the
        Vread / Vdecr :meth:`MidLevel.operating_point` predicts for inputs uniform over the
        input range, in both directions.
        """
        rng = np.random.default_rng(seed)
        for b in self._blocks():
            layer, cfg = self.layers[b.layer], self.layer_cfg[b.layer]
            for direction in ("FWD", "BWD"):
                if layer.kind != "dense" and direction == "BWD":
                    continue
                c = cfg.replace(direction=direction)
                n = b.n_rows if direction == "FWD" else b.n_cols
                q, _ = self._quantise(rng.uniform(-layer.in_range, layer.in_range, (n_vectors, n)), layer, c)
                rows, cols = (b.row0, 2 * b.n_rows), (b.col0, b.n_cols)
                if direction == "BWD" and not np.all(np.isfinite(self.mid.known(b.core)[b.row0:b.row0 + 2 * b.n_rows])):
                    continue   # backward needs whole rows known; measured on first use
                vr, vd, _ = self.mid.operating_point(b.core, q, c, rows=rows, cols=cols)
                self.block_cfg[(b.core, b.row0, b.col0, direction)] = c.replace(vread=vr, vdecr=vd)

    # ---------------------------------------------------------------- inference
    def _quantise(self, x, layer: Layer, cfg: MvmConfig):
        levels = (1 << (cfg.in_bits - 1)) - 1 if (cfg.signed and cfg.in_bits > 1) else (1 << cfg.in_bits) - 1
        lo = -layer.in_range if cfg.signed and cfg.in_bits > 1 else 0.0
        q = np.round(np.clip(x, lo, layer.in_range) / layer.in_range * levels).astype(np.int64)
        return q, levels

    def _matrix_input(self, name: str, x):
        """Float layer input -> rows of the layer matrix (conv: im2col) incl. bias inputs."""
        layer = self.layers[name]
        x = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or inf")
        if layer.kind == "conv":
            c = layer.conv
            patches = im2col(x, c["kh"], c["kw"], c["stride"], c["padding"])
            out_shape = patches.shape[:3]
            x2 = patches.reshape(-1, patches.shape[-1])
        else:
            if x.ndim == 1:
                x = x[None]
            out_shape = (x.shape[0],)
            x2 = x
        n_in = layer.matrix.shape[0] - layer.n_bias
        if x2.shape[1] != n_in:
            raise ValueError(f"layer {name} expects {n_in} inputs per vector, got {x2.shape[1]}")
        if layer.n_bias:
            x2 = np.hstack([x2, np.full((x2.shape[0], layer.n_bias), layer.in_range)])
        return x2, out_shape

    def _layer_input(self, name, x, direction):
        if direction == "FWD":
            return self._matrix_input(name, x)
        layer = self.layers[name]
        x2 = np.atleast_2d(np.asarray(x, dtype=float))
        if not np.all(np.isfinite(x2)):
            raise ValueError("x contains NaN or inf")
        if layer.kind != "dense":
            raise ValueError("backward MVM is supported for dense layers")
        if x2.shape[1] != layer.matrix.shape[1]:
            raise ValueError(f"backward MVM of layer {name} expects {layer.matrix.shape[1]} inputs, got {x2.shape[1]}")
        return x2, (x2.shape[0],)

    def run(self, name: str, x, *, direction: str = "FWD", parallel: bool = True) -> np.ndarray:
        """Batched inference of one layer: float inputs -> float outputs.

        ``direction="FWD"``: ``x @ W + b`` (conv layers: over every output pixel).
        ``direction="BWD"``: the transposed product ``x @ W.T`` of a dense layer (SL->BL
        MVM with differential outputs), as the paper's RBM uses.
        Row segments (column segments for BWD) are accumulated digitally; replicas
        share the batch; blocks on distinct cores run as one multi-core parallel MVM.
        """
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; choose from {', '.join(self.layers)}")
        if direction not in ("FWD", "BWD"):
            raise ValueError(f"direction must be 'FWD' or 'BWD', got {direction!r}")
        layer = self.layers[name]
        cfg = self.layer_cfg[name].replace(direction=direction)
        x2, out_shape = self._layer_input(name, x, direction)
        q, levels = self._quantise(x2, layer, cfg)
        blocks = self._blocks(name)
        n_rep = 1 + max(b.replica for b in blocks)
        n_y = layer.matrix.shape[1] if direction == "FWD" else layer.matrix.shape[0]
        y = np.zeros((q.shape[0], n_y))
        chunks = np.array_split(np.arange(q.shape[0]), n_rep)
        jobs, meta = [], []
        for rep, idx in enumerate(chunks):
            if idx.size == 0:
                continue
            for b in (bb for bb in blocks if bb.replica == rep):
                c = self.block_cfg.get((b.core, b.row0, b.col0, direction), cfg)
                xin = q[idx, b.rows[0]:b.rows[1]] if direction == "FWD" else q[idx, b.cols[0]:b.cols[1]]
                jobs.append((b.core, xin, c, (b.row0, 2 * b.n_rows), (b.col0, b.n_cols)))
                meta.append((idx, b))
        results = self._execute(jobs, parallel)
        scale = layer.wmax / (layer.gmax - layer.gmin) * layer.in_range / levels
        for (idx, b), res in zip(meta, results):
            if direction == "FWD":
                y[idx, b.cols[0]:b.cols[1]] += res.dot * scale
            else:
                y[idx, b.rows[0]:b.rows[1]] += res.dot * scale
        if direction == "BWD":
            y = y[:, :layer.matrix.shape[0] - layer.n_bias]
        return y.reshape(out_shape + (y.shape[-1],))

    def _execute(self, jobs, parallel):
        """Run jobs: groups of distinct cores with equal batch go in one parallel MVM."""
        results = [None] * len(jobs)
        pending = list(range(len(jobs)))
        while pending:
            group, seen = [], set()
            for i in pending:
                core, xq = jobs[i][0], jobs[i][1]
                # Cores started together share one set of bias voltages.
                if core not in seen and (not group or (xq.shape[0] == jobs[group[0]][1].shape[0]
                                                       and all(can_share_bias(jobs[i][2], jobs[g][2])
                                                               for g in group))):
                    group.append(i)
                    seen.add(core)
            if parallel and len(group) > 1:
                out = self.mid.mvm_parallel([jobs[i] for i in group])
            else:
                group = group[:1]
                core, xq, c, rows, cols = jobs[group[0]]
                out = [self.mid.mvm(core, xq, c, rows=rows, cols=cols)]
            for i, r in zip(group, out):
                results[i] = r
            pending = [i for i in pending if i not in group]
        return results

    def reference(self, name: str, x, *, direction: str = "FWD") -> np.ndarray:
        """The float result the layer approximates (quantised inputs, exact weights)."""
        layer = self.layers[name]
        cfg = self.layer_cfg[name].replace(direction=direction)
        x2, out_shape = self._layer_input(name, x, direction)
        q, levels = self._quantise(x2, layer, cfg)
        xq = q * layer.in_range / levels
        if direction == "FWD":
            y = xq @ layer.matrix
        else:
            y = (xq @ layer.matrix.T)[:, :layer.matrix.shape[0] - layer.n_bias]
        return y.reshape(out_shape + (y.shape[-1],))

    def calibrate(self, name: str, x_calib, *, direction: str = "FWD", **kw) -> list:
        """Per-block model-driven calibration of a layer on calibration data (SPEC §8a).

        Afterwards every block of the layer runs at its own (Vread, Vdecr) with its ADC
        offsets cancelled. Returns ``(block, Calibration)`` for each block.
        """
        layer = self.layers[name]
        cfg = self.layer_cfg[name].replace(direction=direction)
        x2, _ = self._layer_input(name, x_calib, direction)
        q, _ = self._quantise(x2, layer, cfg)
        out = []
        for b in self._blocks(name):
            xin = q[:, b.rows[0]:b.rows[1]] if direction == "FWD" else q[:, b.cols[0]:b.cols[1]]
            cal = self.mid.calibrate(b.core, xin, cfg, rows=(b.row0, 2 * b.n_rows),
                                     cols=(b.col0, b.n_cols), **kw)
            self.block_cfg[(b.core, b.row0, b.col0, direction)] = cfg.replace(vread=cal.vread, vdecr=cal.vdecr)
            out.append((b, cal))
        return out

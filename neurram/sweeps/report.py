"""The end of a sweep: a summary table over seeds, and a plot of a metric vs the first axis."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .registry import KINDS
from .spec import Spec


def _num(v):
    """A metric as a number (a bool as 0/1, so its mean is the fraction true), else None.
    Table rows read back from CSV hold strings."""
    if isinstance(v, str):
        v = {"True": True, "False": False}.get(v, v)
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def metric_of(row: dict, name: str):
    """A metric's value in a table row (``metric.<name>`` when a parameter has its name)."""
    return row.get(f"metric.{name}", row.get(name))


def grouped(spec: Spec, rows: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """Rows grouped by the spec's axes (seeds and planned sub-jobs pooled), grid order."""
    names = spec.axis_names
    groups: dict[tuple, list[dict]] = {}
    for job in spec.jobs:
        groups.setdefault(tuple(job.point[n] for n in names), [])
    for r in rows:
        groups[tuple(r[n] for n in names)].append(r)
    return list(groups.items())


def summary(spec: Spec, rows: list[dict], metrics: list[str] | None = None) -> str:
    """Text table: one line per grid point, mean ± std over seeds of each metric."""
    if metrics is None:
        metrics = [spec.metric] + [m for m in KINDS[spec.kind].metrics if m != spec.metric]
        present = {k for r in rows for k in r}
        metrics = [m for m in metrics if m in present] or [spec.metric]
    metrics = [m for m in metrics if m != "wall_s"]
    counts = ["jobs", "ok", "failed"]
    head = (spec.axis_names + counts + [f"metric.{m}" if m in counts else m for m in metrics]
            + ["wall_s"])
    lines = []
    for point, rs in grouped(spec, rows):
        ok = [r for r in rs if r["status"] == "ok"]
        cells = [_fmt(v) for v in point] + [str(len(rs)), str(len(ok)), str(len(rs) - len(ok))]
        for m in metrics + ["wall_s"]:
            vals = [x for x in (_num(metric_of(r, m)) for r in ok) if x is not None]
            if not vals:
                cells.append("-")
            elif len(vals) == 1:
                cells.append(f"{vals[0]:.4g}")
            else:
                cells.append(f"{np.mean(vals):.4g} ± {np.std(vals, ddof=1):.2g}")
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.rjust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def plot(spec: Spec, rows: list[dict], path: Path, metric: str | None = None) -> Path:
    """``metric`` (default the spec's) vs the first axis, one line per combination of the
    other axes, error bars = standard deviation over seeds; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = metric or spec.metric
    if not spec.axes:
        raise ValueError("the spec has no axes to plot against")
    xname, xvals = spec.axes[0]
    numeric = all(_num(v) is not None for v in xvals)
    others = spec.axis_names[1:]
    series: dict[tuple, dict] = {}
    for point, rs in grouped(spec, rows):
        vals = [x for x in (_num(metric_of(r, metric)) for r in rs if r["status"] == "ok")
                if x is not None]
        if vals:
            series.setdefault(point[1:], {})[point[0]] = vals
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for rest, pts in series.items():
        xs = [x for x in xvals if x in pts]
        xpos = [float(x) if numeric else xvals.index(x) for x in xs]
        mean = [np.mean(pts[x]) for x in xs]
        err = [np.std(pts[x], ddof=1) if len(pts[x]) > 1 else 0.0 for x in xs]
        label = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(others, rest)) or None
        ax.errorbar(xpos, mean, yerr=err, marker="o", capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(xvals)), [_fmt(v) for v in xvals])
    ax.set_xlabel(xname)
    ax.set_ylabel(f"{metric} (mean ± std over {len(spec.seeds)} seed(s))")
    ax.set_title(spec.name, fontsize=10)
    if others:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

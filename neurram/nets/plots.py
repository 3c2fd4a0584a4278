"""The report's figures (PNG): accuracy vs training noise, fine-tuning curve, per-layer
chip-vs-software scatter, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_plots"]


def _finish(fig, ax, xlabel: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_plots(rep: dict, runs: list, y_test, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    paths = []

    # ED Fig. 7 style: noisy software accuracy vs training noise
    curve = rep["nrt.curve"]
    n = np.array([float(k) for k in curve]) * 100
    m = np.array([v["mean"] for v in curve.values()]) * 100
    sd = np.array([v["std"] for v in curve.values()]) * 100
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.errorbar(n, m, yerr=sd, marker="o", capsize=3, label="10% test weight noise (mean ± std)")
    ax.plot(n, [v["float"] * 100 for v in curve.values()], "s--", label="no noise, float weights")
    ax.plot(n, [v["sw_4bit"] * 100 for v in curve.values()], "^:", label="no noise, 4-bit weights")
    ax.axvline(10, color="grey", lw=0.6)
    paths.append(_finish(fig, ax, "training weight noise (% of max |W|)", out / "accuracy_vs_training_noise.png"))

    # Fig. 5b style: progressive fine-tuning
    ft = rep["finetune.curve"]
    names = list(ft)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, lab in (("with_ft", "with fine-tuning"), ("without_ft", "without fine-tuning")):
        ax.errorbar(range(len(names)), [ft[k][key] * 100 for k in names],
                    yerr=[ft[k][key + ".std"] * 100 for k in names], marker="o", capsize=3, label=lab)
    ax.axhline(rep["acc.sw_4bit"] * 100, color="k", ls="--", lw=0.8, label="4-bit-weight software")
    ax.set_xticks(range(len(names)), ["none"] + names[1:], rotation=30, fontsize=7)
    paths.append(_finish(fig, ax, "layers programmed on the chip (up to)", out / "finetune_curve.png"))

    # per-layer chip vs software outputs
    sc = runs[0].get("scatter", {})
    if sc:
        cols = min(4, len(sc))
        rows = int(np.ceil(len(sc) / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.8 * rows), squeeze=False)
        for ax, (name, d) in zip(axes.ravel(), sc.items()):
            ax.scatter(d["software"], d["chip"], s=2, alpha=0.3)
            lim = max(np.abs(d["software"]).max(), 1e-6) * 1.1
            ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.6)
            ax.set_title(f"{name}: r={d['corr']:.3f}", fontsize=8)
            ax.set_xlabel("software", fontsize=7)
            ax.set_ylabel("chip", fontsize=7)
        for ax in axes.ravel()[len(sc):]:
            ax.axis("off")
        fig.tight_layout()
        paths.append(out / "layer_scatter.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

    # confusion matrix of the final deployed network (first chip instance)
    pred = np.asarray(runs[0].get("best_cal_ft_pred", runs[0]["best_cal_pred"]))
    y = np.asarray(y_test)
    k = int(max(y.max(), pred.max())) + 1
    cm = np.zeros((k, k), int)
    np.add.at(cm, (y, pred), 1)
    fig, ax = plt.subplots(figsize=(4.4, 4))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("chip: best-n + calibration + fine-tuning", fontsize=8)
    fig.tight_layout()
    paths.append(out / "confusion_matrix.png")
    fig.savefig(paths[-1], dpi=130)
    plt.close(fig)
    return paths

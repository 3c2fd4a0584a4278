"""PNG figures of the RBM report (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(path, images: dict, shape, n: int = 8) -> str:
    """Rows: original / corrupted / chip / software, for each corruption kind."""
    plt = _plt()
    kinds = list(images)
    rows = [("original", lambda c, ch, sw: c.original), ("corrupted", lambda c, ch, sw: c.corrupted),
            ("chip", lambda c, ch, sw: ch), ("software", lambda c, ch, sw: sw)]
    fig, axes = plt.subplots(len(rows) * len(kinds), n, figsize=(n * 0.9, len(rows) * len(kinds) * 0.95))
    for ki, k in enumerate(kinds):
        c, ch, sw = images[k]
        pick = np.argsort(c.labels, kind="stable")[np.linspace(0, len(c.labels) - 1, n).astype(int)]
        for ri, (name, get) in enumerate(rows):
            imgs = get(c, ch, sw)
            for j in range(n):
                ax = axes[ki * len(rows) + ri, j]
                ax.imshow(np.asarray(imgs[pick[j]]).reshape(shape), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"{k}\n{name}", fontsize=6)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def l2_curves(path, curves: dict) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, kind in zip(axes, ("noise20", "occlude_bottom")):
        for name, style in (("chip", "o-"), ("software", "s--"), ("chip_stochastic_visible", "^-"),
                            ("software_stochastic_visible", "v--"), ("software_readback_weights", "x:")):
            if kind in curves.get(name, {}):
                ax.plot(curves[name][kind], style, ms=3, label=name.replace("_", " "))
        ax.set_title(kind)
        ax.set_xlabel("Gibbs step")
        ax.set_ylabel("mean L2 error vs original")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def firing(path, neuron_curve: dict, hidden_curve: dict) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    v = np.array(neuron_curve["v_mV"])
    prob = np.array(neuron_curve["prob"])
    for k in range(0, prob.shape[1], 32):
        s, o = neuron_curve["slope"][k], neuron_curve["offset"][k]
        axes[0].plot(v, prob[:, k], ".", ms=3)
        axes[0].plot(v, 1 / (1 + np.exp(-s * (v - o))), "-", lw=0.8, color="k", alpha=0.5)
    axes[0].set_xlabel("integrated input (mV)")
    axes[0].set_ylabel("P(fire)")
    axes[0].set_title("neuron test, every 32nd neuron, logistic fits")
    x = np.array(hidden_curve["preact"])
    p = np.array([np.nan if q is None else q for q in hidden_curve["prob"]], float)
    axes[1].plot(x, p, "o", ms=3, label="chip (all hidden units)")
    axes[1].plot(x, 1 / (1 + np.exp(-x)), "k-", lw=1, label="logistic(x)")
    axes[1].set_xlabel("hidden pre-activation (weight units)")
    axes[1].set_ylabel("P(h = 1)")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def nrt_sweep(path, nrt: dict) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    lv = [r["train_noise"] * 100 for r in nrt["levels"]]
    for kind, m in (("noise20", "o"), ("occlude_bottom", "s")):
        ax.plot(lv, [r[kind]["test_noise_10"] for r in nrt["levels"]], m + "-", label=f"{kind}, 10% test noise")
        ax.plot(lv, [r[kind]["test_noise_0"] for r in nrt["levels"]], m + ":", label=f"{kind}, no test noise")
    ax.axvline(nrt["best_train_noise"] * 100, color="k", lw=0.8)
    ax.set_xlabel("training weight noise (% of wmax)")
    ax.set_ylabel("L2 reduction (software)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write_all(out: Path, rep: dict, images: dict, shape, neuron_curve, hidden_curve) -> list[str]:
    out = Path(out)
    files = [image_grid(out / "recovery_grid.png", images, shape),
             l2_curves(out / "l2_vs_gibbs_step.png", rep["l2_curve"]),
             firing(out / "firing_probability.png", neuron_curve, hidden_curve)]
    if rep.get("nrt"):
        files.append(nrt_sweep(out / "training_noise_sweep.png", rep["nrt"]))
    return files

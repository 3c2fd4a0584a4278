"""``neurram rbm``: train (cached), recover on the chip model and in software, report.

    neurram rbm run   --out build/rbm            # the whole pipeline -> report.json + PNGs
    neurram rbm train --noise 0.35                # one model into the cache
    neurram rbm run --dataset digits --hidden 32 --test-images 200   # small, fast

The pipeline: training-noise sweep (software recovery with 10 % weight noise, the chip's
error, ED Fig. 7c) -> the best model is mapped, programmed by write-verify on the chip
model (every non-ideality on), calibrated on training images -> 10 Gibbs steps on both
corruptions with 3-bit and with stochastic visible units, and in software with the same
schedule -> LFSR-seed check, firing curves, energy.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cosim.session import to_jsonable

from . import analysis, chip, mapping, model, sampler

log = logging.getLogger(__name__)

DEFAULT_SWEEP = (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5)
CHIP_NOISE = 0.10     #: weight error the chip adds, fraction of wmax (SPEC §9: test noise 10 %)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neurram rbm", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "train"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
        p.add_argument("--hidden", type=int, default=120)
        p.add_argument("--epochs", type=int, default=30)
        p.add_argument("--lr", type=float, default=0.01)
        p.add_argument("--cache", default="build/rbm/cache")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("-v", "--verbose", action="store_true")
        if name == "train":
            p.add_argument("--noise", type=float, default=0.35, help="training weight noise (x wmax)")
        else:
            p.add_argument("--out", default="build/rbm")
            p.add_argument("--sweep", default=",".join(f"{v:g}" for v in DEFAULT_SWEEP),
                           help="training noise levels (comma separated, x wmax)")
            p.add_argument("--train-noise", type=float, default=None,
                           help="model for the chip (default: the sweep's best)")
            p.add_argument("--test-images", type=int, default=1000)
            p.add_argument("--sweep-images", type=int, default=500)
            p.add_argument("--side-images", type=int, default=500,
                           help="images for the stochastic-visible and LFSR-seed runs")
            p.add_argument("--steps", type=int, default=10)
            p.add_argument("--chip-seed", type=int, default=0)
            p.add_argument("--lfsr-seed", type=int, default=1)
            p.add_argument("--program", choices=("write-verify", "backdoor"), default="write-verify")
            p.add_argument("--calib-vectors", type=int, default=256)
            p.add_argument("--passes", type=int, default=1, help="write-verify passes")
            p.add_argument("--hidden-out-bits", type=int, default=6)
            p.add_argument("--visible-out-bits", type=int, default=6)
            p.add_argument("--noise-steps", type=int, default=16)
            p.add_argument("--forward-in-bits", type=int, default=2,
                           help="bit-planes a hidden state drives in the forward MVM (1..4)")
            p.add_argument("--vnoise-hidden", type=int, default=None, help="VNOISE DAC code (default: calibrated)")
            p.add_argument("--vnoise-visible", type=int, default=None)
            p.add_argument("--no-plots", action="store_true")
    return ap


def _train_cfg(a, noise: float) -> model.TrainConfig:
    return model.train_config(n_hidden=a.hidden, epochs=a.epochs, lr=a.lr, train_noise=noise, seed=a.seed)


def nrt_sweep(data, a, levels, n_images: int, repeats: int = 3) -> dict:
    """Software recovery of models trained at each noise level, evaluated with the chip's
    ~10 % weight error (mean of ``repeats`` noisy copies) and without."""
    from firmware.progress import progress

    rows = []
    for lv in progress(levels, desc="training-noise sweep", unit="model", min_items=1):
        rbm = model.cached_train(data, _train_cfg(a, lv), a.cache, progress=True)
        row = {"train_noise": lv}
        for kind in model.CORRUPTIONS:
            c = model.corrupt(*model.test_subset(data, n_images), data.shape, kind, seed=1)
            clean = model.software_recover(rbm, c, a.steps, seed=2)[-1]
            noisy = [model.software_recover(rbm.noisy(CHIP_NOISE, np.random.default_rng(100 + r)), c,
                                            a.steps, seed=3 + r)[-1] for r in range(repeats)]
            row[kind] = {"test_noise_0": model.l2_reduction(clean, c),
                         "test_noise_10": float(np.mean([model.l2_reduction(v, c) for v in noisy]))}
        row["mean_test_noise_10"] = float(np.mean([row[k]["test_noise_10"] for k in model.CORRUPTIONS]))
        rows.append(row)
    best = max(rows, key=lambda r: r["mean_test_noise_10"])
    return {"levels": rows, "best_train_noise": best["train_noise"], "test_noise": CHIP_NOISE,
            "criterion": "mean l2 reduction of both corruptions, software with 10% weight noise"}


def _reduction_curve(hist, c):
    return [model.l2_reduction(h, c) for h in hist]


def _error_curve(hist, c):
    return [model.l2_error(h, c.original) for h in hist]


def run(a) -> dict:
    t0 = time.time()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    levels = [float(v) for v in a.sweep.split(",") if v.strip()]
    op = sampler.OperatingPoint(hidden_out_bits=a.hidden_out_bits, visible_out_bits=a.visible_out_bits,
                                hidden_noise_steps=a.noise_steps, visible_noise_steps=a.noise_steps,
                                vnoise_hidden=a.vnoise_hidden, vnoise_visible=a.vnoise_visible,
                                calib_vectors=a.calib_vectors,
                                forward_in_bits=a.forward_in_bits).validate()   # bad input: fail now
    data = model.load(a.dataset)
    n_test = min(a.test_images, len(data.x_test))
    nrt = nrt_sweep(data, a, levels, min(a.sweep_images, len(data.x_test))) if levels else None
    noise = a.train_noise if a.train_noise is not None else (nrt["best_train_noise"] if nrt else 0.35)
    rbm = model.cached_train(data, _train_cfg(a, noise), a.cache, progress=True)
    mp = mapping.map_rbm(rbm, data.shape)
    log.info("placement:\n%s", mp.table())
    backend = chip.fast_backend(mp.n_cores, seed=a.chip_seed, passes=a.passes)
    crbm = sampler.ChipRBM(mp, backend, op, lfsr_seed=a.lfsr_seed, visible_mode="3bit")
    t = time.time()
    prog = crbm.program(a.program)
    t_prog = time.time() - t
    cal = crbm.calibrate(*model.calibration_set(rbm, data, op.calib_vectors, seed=a.seed + 7))

    rep: dict = {"dataset": data.name, "test_images": n_test, "gibbs_steps": a.steps,
                 "train": asdict(_train_cfg(a, noise)), "placement": mp.report(),
                 "programming": prog, "calibration": cal, "nrt": nrt}
    red = {"chip": {}, "software": {}, "chip_stochastic_visible": {}, "software_stochastic_visible": {},
           "software_readback_weights": {}}
    rb = analysis.readback_rbm(crbm)
    curves = {k: {} for k in red}
    images = {}
    for kind in model.CORRUPTIONS:
        c = model.corrupt(*model.test_subset(data, n_test), data.shape, kind, seed=1)
        hist = crbm.recover(c, a.steps, progress=True)["hist"]
        sw = model.software_recover(rbm, c, a.steps, seed=5)
        red["chip"][kind], red["software"][kind] = _reduction_curve(hist, c)[-1], _reduction_curve(sw, c)[-1]
        curves["chip"][kind], curves["software"][kind] = _error_curve(hist, c), _error_curve(sw, c)
        sr = model.software_recover(rb, c, a.steps, seed=5)
        red["software_readback_weights"][kind] = _reduction_curve(sr, c)[-1]
        curves["software_readback_weights"][kind] = _error_curve(sr, c)
        images[kind] = (c, hist[-1], sw[-1])
        ns = min(a.side_images, n_test)
        cs = model.corrupt(*model.test_subset(data, ns), data.shape, kind, seed=1)
        crbm.visible_mode = "stochastic"
        hs = crbm.recover(cs, a.steps, progress=True)["hist"]
        crbm.visible_mode = "3bit"
        ss = model.software_recover(rbm, cs, a.steps, visible_mode="stochastic", seed=5)
        red["chip_stochastic_visible"][kind] = _reduction_curve(hs, cs)[-1]
        red["software_stochastic_visible"][kind] = _reduction_curve(ss, cs)[-1]
        curves["chip_stochastic_visible"][kind] = _error_curve(hs, cs)
        curves["software_stochastic_visible"][kind] = _error_curve(ss, cs)
    rep["l2_reduction"] = red
    rep["l2_curve"] = curves
    rep["l2_corrupted"] = {k: model.l2_error(images[k][0].corrupted, images[k][0].original) for k in images}
    better = {k: ("3bit" if red["chip"][k] >= red["chip_stochastic_visible"][k] else "stochastic")
              for k in model.CORRUPTIONS}
    rep["visible_units_better"] = better
    rep["lfsr_seed_check"] = lfsr_seed_check(crbm, data, min(a.side_images, n_test), a.steps)
    x_test = model.quantise_visible(model.visible(*model.test_subset(data, n_test)))
    hu = analysis.hidden_unit_curves(crbm, x_test, repeats=2)
    nt = analysis.neuron_test_curves(crbm)
    rep["attribution"] = attribution(crbm, rb, data, n_test, a.steps, temperature=1 / hu["pooled_slope"])
    rep["neuron"] = {k: v for k, v in hu.items() if not k.startswith("_")}
    rep["neuron"]["neuron_test"] = {k: v for k, v in nt.items() if not k.startswith("_")}
    e = analysis.gibbs_energy(crbm)
    e["per_image_nJ"] = e["per_gibbs_step_nJ"] * a.steps
    rep["energy"] = e
    rep["time_s"] = {"total": time.time() - t0, "program": t_prog}
    rep["chip"] = crbm.summary()
    (out / "report.json").write_text(json.dumps(to_jsonable(rep), indent=1))
    if not a.no_plots:
        from . import plots
        rep["plots"] = plots.write_all(out, rep, images, data.shape, nt["_curve"], hu["_curve"])
        (out / "report.json").write_text(json.dumps(to_jsonable(rep), indent=1))
    log.info("wrote %s", out / "report.json")
    return rep


def attribution(crbm, rb, data, n: int, steps: int, temperature: float) -> dict:
    """Which chip error costs the recovery: software with the read-back weights plus
    (a) the hidden units' measured sampling temperature, (b) the forward MVM's measured
    pre-activation error as Gaussian noise on the visible units."""
    x = model.quantise_visible(model.visible(*model.test_subset(data, n)))
    h = (x / model.VISIBLE_LEVELS @ rb.W + rb.a > 0).astype(np.int64)
    err = crbm.visible_preact(h, noise=False) - (h @ rb.W.T + rb.b)
    sig = float(np.std(err))
    out = {"hidden_temperature": temperature, "visible_preact_error_std": sig, "readback": {},
           "readback_hidden_temperature": {}, "readback_visible_error": {}}
    for kind in model.CORRUPTIONS:
        c = model.corrupt(*model.test_subset(data, n), data.shape, kind, seed=1)
        for key, kw in (("readback", {}), ("readback_hidden_temperature", {"temperature": temperature}),
                        ("readback_visible_error", {"visible_noise": sig})):
            out[key][kind] = model.l2_reduction(model.software_recover(rb, c, steps, seed=5, **kw)[-1], c)
    return out


def lfsr_seed_check(crbm, data, n: int, steps: int) -> dict:
    """Same chip, same images, only the LFSR seed changed: samples differ, statistics agree."""
    c = model.corrupt(*model.test_subset(data, n), data.shape, "noise20", seed=1)
    res = []
    saved = crbm.lfsr_seed
    for seed in (saved + 1000, saved + 2000):
        crbm.lfsr_seed = seed
        crbm._batches = 0
        r = crbm.recover(c, steps, keep_hidden=True)
        per = np.linalg.norm(r["hist"][-1] - c.original, axis=1)
        res.append((model.l2_reduction(r["hist"][-1], c), r["hidden"][0], per))
    crbm.lfsr_seed = saved
    base = model.l2_error(c.corrupted, c.original)
    se = float(np.std(res[0][2] - res[1][2]) / np.sqrt(n) / base)
    return {"seeds": [saved + 1000, saved + 2000], "images": n,
            "l2_reduction": [res[0][0], res[1][0]], "difference": res[0][0] - res[1][0],
            "difference_standard_error": se,
            "first_step_hidden_samples_differing": float(np.mean(res[0][1] != res[1][1]))}


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from threadpoolctl import threadpool_limits

    # The shared 2-core machine: one BLAS thread is faster for these batch sizes.
    with threadpool_limits(1):
        if a.cmd == "train":
            data = model.load(a.dataset)
            model.cached_train(data, _train_cfg(a, a.noise), a.cache, progress=True)
            return 0
        rep = run(a)
    r = rep["l2_reduction"]
    log.info("L2 reduction chip %s, software %s", r["chip"], r["software"])
    return 0

"""``neurram net``: the MNIST CNN on the chip — train, deploy, calibrate, eval, finetune, report.

Each step caches its results under ``--out`` (checkpoints under ``<out>/../nets/ckpt``), so
running ``report`` after the others, or twice, recomputes nothing.

* ``train``     the noise-resilient family; software accuracies at 10% test weight noise
* ``deploy``    import the best model (torch, or ``--onnx FILE``), place it, print the placement
* ``calibrate`` program one chip instance and compare calibration on training vs random data
* ``eval``      every chip row of the table for the chip seeds (``--seeds``)
* ``finetune``  chip-in-the-loop progressive fine-tuning curve
* ``report``    all of the above, ``report.json`` and the PNGs
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .pipeline import NOISES, Experiment

STEPS = ("train", "deploy", "calibrate", "eval", "finetune", "report")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurram net", description=__doc__.splitlines()[0])
    p.add_argument("step", choices=STEPS)
    p.add_argument("--data", choices=("mnist", "digits"), default="mnist")
    p.add_argument("--out", default="build/mnist", help="results directory (default build/mnist)")
    p.add_argument("--noises", default=",".join(f"{n:g}" for n in NOISES),
                   help="training noise family, fractions (default 0,0.05,0.1,0.15,0.2,0.3)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 8)")
    p.add_argument("--seeds", default="0,1,2,3,4", help="simulated chip instances (default 0-4)")
    p.add_argument("--ablation-seeds", default=None,
                   help="seeds that also run the ablation rows (n0 calibrated, random-input "
                        "calibration, per-core Vread, only relaxation+ADC); default: every seed")
    p.add_argument("--test-images", type=int, default=None, help="first N test images (default all)")
    p.add_argument("--calib-images", type=int, default=200)
    p.add_argument("--calib-vectors", type=int, default=1024)
    p.add_argument("--ft-images", type=int, default=None,
                   help="training images measured for fine-tuning (default: the whole training split, as Methods)")
    p.add_argument("--ft-epochs", type=int, default=10)
    p.add_argument("--backend", choices=("fast", "golden"), default="fast")
    p.add_argument("--program", choices=("write-verify", "backdoor"), default="write-verify")
    p.add_argument("--onnx", type=Path, default=None, help="deploy: import this ONNX file instead")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if a.quiet else logging.INFO,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from .train import set_threads
    set_threads(a.threads)
    try:
        seeds = tuple(int(s) for s in a.seeds.split(",") if s != "")
        noises = tuple(float(s) for s in a.noises.split(",") if s != "")
        ablation = None if a.ablation_seeds is None else tuple(
            int(s) for s in a.ablation_seeds.split(",") if s != "")
    except ValueError as e:
        print(f"neurram net: error: {e}", file=sys.stderr)
        return 2
    if not seeds or not noises:
        print("neurram net: error: --seeds and --noises must not be empty", file=sys.stderr)
        return 2
    e = Experiment(data=a.data, out=a.out, noises=noises, epochs=a.epochs, seeds=seeds,
                   ablation_seeds=ablation, test_images=a.test_images,
                   calib_images=a.calib_images, calib_vectors=a.calib_vectors,
                   ft_images=a.ft_images, ft_epochs=a.ft_epochs, backend=a.backend,
                   program=a.program, progress=not a.quiet)
    if a.step == "train":
        res = e.train()
        for n, r in res["family"].items():
            print(f"n={n}: float {r['float']:.4f}  4-bit {r['sw_4bit']:.4f}  "
                  f"10% noise {r['noise10_mean']:.4f} +- {r['noise10_std']:.4f}")
        print(f"best training noise at 10% test noise: {res['best_train_noise']:.2f}")
    elif a.step == "deploy":
        res = e.deploy(onnx=a.onnx)
        print(res["table"])
    elif a.step == "calibrate":
        res = e.chip_runs(seeds[0])
        print(json.dumps({k: res[k] for k in ("best", "cal_random_inputs", "best_cal_per_core_vread",
                                              "best_cal") if k in res}, indent=1))
    elif a.step == "eval":
        for s in seeds:
            r = e.chip_runs(s)
            if e.ablation(s):
                r["only_relax_adc"] = e.only_relax_adc(s)["acc"]
            print(f"seed {s}: " + ", ".join(f"{k} {r[k]:.4f}" for k in
                                           ("n0", "n0_cal", "best", "cal_random_inputs",
                                            "best_cal_per_core_vread", "best_cal", "best_cal_ft",
                                            "only_relax_adc") if k in r))
    elif a.step == "finetune":
        for s in seeds:
            r = e.chip_runs(s)
            print(f"seed {s}: " + " -> ".join(f"{v:.4f}" for v in r["ft_curve"]))
    else:
        rep = e.report()
        print(json.dumps({k: v for k, v in rep.items() if not isinstance(v, (dict, list))}, indent=1))
        print(f"wrote {Path(a.out) / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The MNIST experiment, step by step: train, deploy, calibrate, evaluate, fine-tune, report.

Every step returns JSON-able results and caches them under ``out`` keyed by a hash of
everything that determines them, so ``neurram net report`` after the steps (or a second
``make mnist``) recomputes nothing. Chip results are the mean and std over simulated chip
instances (seeds); every chip evaluation uses the same test images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .chip import ChipNet, make_mid
from .graph import MvmOp, NetGraph

__all__ = ["Experiment", "NOISES"]

log = logging.getLogger(__name__)

NOISES = (0.0, 0.05, 0.10, 0.15, 0.20, 0.30)
TEST_NOISE = 0.10


@dataclass
class Experiment:
    """Settings of one run of the whole experiment (all of them key the caches)."""

    data: str = "mnist"
    out: str = "build/mnist"
    noises: tuple = NOISES
    epochs: int | None = None          #: training epochs (None: TrainConfig default)
    train_seed: int = 0
    seeds: tuple = (0, 1, 2, 3, 4)     #: simulated chip instances
    ablation_seeds: tuple | None = None  #: seeds that also run the ablation rows (None: all)
    test_images: int | None = None     #: None: the whole test split
    calib_images: int = 200            #: training images the calibration draws vectors from
    calib_vectors: int = 1024          #: MVM input vectors per layer calibration
    #: training images measured on the chip for fine-tuning (None: the whole training split;
    #: Methods: a subset would be overfitted)
    ft_images: int | None = None
    ft_epochs: int = 10
    ft_lr: float | None = None         #: None: the training learning rate / 100
    ft_noise: float | None = None      #: None: the deployed model's training noise
    out_bits: int = 6
    program: str = "write-verify"
    backend: str = "fast"
    sw_draws: int = 10
    progress: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- plumbing
    def key(self, *parts) -> str:
        cfg = {k: v for k, v in asdict(self).items()
               if k not in ("out", "progress", "_cache", "seeds", "ablation_seeds")}
        blob = json.dumps([cfg, parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def cached(self, name: str, fn, *parts):
        path = Path(self.out) / "cache" / f"{name}-{self.key(name, *parts)}.json"
        if path.exists():
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        res = fn()
        res["_seconds"] = round(time.perf_counter() - t0, 2)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
        return res

    def split(self):
        if "split" not in self._cache:
            from neurram import data
            if self.data not in ("mnist", "digits"):
                raise ValueError(f"data must be 'mnist' or 'digits', got {self.data!r}")
            s = data.mnist() if self.data == "mnist" else data.digits()
            self._cache["split"] = s
        return self._cache["split"]

    def test_set(self):
        s = self.split()
        n = len(s.x_test) if self.test_images is None else min(self.test_images, len(s.x_test))
        return s.x_test[:n], s.y_test[:n]

    def train_cfg(self, noise: float):
        from .train import TrainConfig
        kw = {"noise": float(noise), "seed": self.train_seed}
        if self.epochs is not None:
            kw["epochs"] = int(self.epochs)
        return TrainConfig(**kw)

    def model(self, noise: float):
        from .train import DEFAULT_CACHE, load_or_train
        k = ("model", float(noise))
        if k not in self._cache:
            cache = Path(self.out).parent / "nets" / "ckpt" if self.out else DEFAULT_CACHE
            self._cache[k] = load_or_train(self.split(), self.train_cfg(noise), cache_dir=cache,
                                           progress=self.progress)
        return self._cache[k]

    def graph(self, noise: float) -> NetGraph:
        from .importers import from_torch
        m, _ = self.model(noise)
        return from_torch(m, self.split().image_shape)

    # -------------------------------------------------------------------- train
    def train(self) -> dict:
        """Train (or load) the family; software accuracies of each member."""
        from . import software as sw

        def run():
            x, y = self.test_set()
            rows = {}
            for n in self.noises:
                g = self.graph(n)
                _, info = self.model(n)
                q4 = {o.name: sw.layer_weights(o, weight_bits=4) for o in g.mvm_ops()}
                mean, std, accs = sw.noisy_accuracy(g, x, y, noise=TEST_NOISE, draws=self.sw_draws)
                rows[f"{n:.2f}"] = {"float": sw.accuracy(g, x, y), "sw_4bit": sw.accuracy(g, x, y, weights=q4),
                                    "noise10_mean": mean, "noise10_std": std, "noise10_draws": accs,
                                    "train_s": info["train_s"], "key": info["key"]}
                log.info("n=%.2f: float %.4f, 4-bit %.4f, 10%% noise %.4f +- %.4f", n,
                         rows[f"{n:.2f}"]["float"], rows[f"{n:.2f}"]["sw_4bit"], mean, std)
            best = max(rows, key=lambda k: rows[k]["noise10_mean"])
            return {"family": rows, "best_train_noise": float(best), "test_noise": TEST_NOISE}
        return self.cached("train", run)

    def best_noise(self) -> float:
        return float(self.train()["best_train_noise"])

    # ----------------------------------------------------------------- deploy
    def deploy(self, onnx=None) -> dict:
        """Import the deployed (best-n) model — from torch, or from ``onnx`` — and place it."""
        from .importers import from_onnx
        g = from_onnx(onnx) if onnx is not None else self.graph(self.best_noise())
        net = ChipNet(g, make_mid(self.backend, 48, self.params(), 0), out_bits=self.out_bits)
        return {"placement": net.placement.report(), "table": net.placement.table(),
                "cores_used": net.cores_used,
                "layers": {n: {"matrix": list(l.matrix.shape), "bias_rows": l.n_bias,
                               "conductance": list(l.conductance_shape)}
                           for n, l in net.dep.layers.items()}}

    def ablation(self, seed: int) -> bool:
        return self.ablation_seeds is None or seed in self.ablation_seeds

    # ------------------------------------------------------------------- chip
    def params(self, only_relax_adc: bool = False):
        from analog_models.params import AnalogParams
        if only_relax_adc:
            return AnalogParams.ideal(relaxation=True, adc=True)
        return AnalogParams()

    def chip(self, graph: NetGraph, seed: int, *, only_relax_adc: bool = False) -> ChipNet:
        mid = make_mid(self.backend, 48, self.params(only_relax_adc), seed)
        return ChipNet(graph, mid, out_bits=self.out_bits)

    def calibrate(self, net: ChipNet, kind: str = "train", shared_vread: bool = True, seed: int = 0,
                  vread_groups: int = 1) -> dict:
        """Calibrate every layer on ``calib_images`` training images (or random inputs)."""
        s = self.split()
        rng = np.random.default_rng(seed + 7)
        idx = np.sort(rng.choice(len(s.x_train), min(self.calib_images, len(s.x_train)), replace=False))
        return net.calibrate_all(s.x_train[idx], kind=kind, n_vectors=self.calib_vectors,
                                 shared_vread=shared_vread, vread_groups=vread_groups, seed=seed)

    def evaluate(self, net: ChipNet, *, record: bool = False) -> dict:
        """Test accuracy of the deployed network (every layer on the chip)."""
        x, y = self.test_set()
        acts = {}
        if record:
            a, pos = x, None
            for op in net.graph.ops:
                i = net.op_index(op.name)
                if isinstance(op, MvmOp):
                    a = net.forward(a, start=pos, upto=i + 1, progress=self.progress, desc=op.name)
                    pos = i + 1
                    acts[op.name] = a
            logits = net.forward(a, start=pos)
        else:
            logits = net.forward(x, progress=self.progress, desc="chip eval")
        pred = logits.argmax(1)
        res = {"acc": float(np.mean(pred == y)), "pred": pred.tolist()}
        if record:
            self._cache["acts"] = acts
        return res

    def chip_runs(self, seed: int) -> dict:
        """Every chip row of the table for one chip instance (seed)."""
        ablate = self.ablation(seed)

        def run():
            best = self.best_noise()
            res = {}
            g0 = self.graph(0.0)
            net = self.chip(g0, seed)
            net.program(method=self.program)
            res["n0"] = self.evaluate(net)["acc"]
            if ablate:
                self.calibrate(net, "train", True, seed)
                res["n0_cal"] = self.evaluate(net)["acc"]
            g = self.graph(best)
            net = self.chip(g, seed)
            t0 = time.perf_counter()
            net.program(method=self.program)
            res["program_s"] = round(time.perf_counter() - t0, 2)
            res["cores_used"] = net.cores_used
            res["best"] = self.evaluate(net)["acc"]
            if ablate:
                self.calibrate(net, "random", True, seed)
                res["cal_random_inputs"] = self.evaluate(net)["acc"]
                # the layer's blocks at their own Vreads, i.e. started in as many groups as
                # there are distinct Vreads, and in two groups: accuracy against latency
                self.calibrate(net, "train", False, seed)
                res["best_cal_per_core_vread"] = self.evaluate(net)["acc"]
                res["latency_per_core_vread_us"] = self.energy(net)["latency_per_image_us"]
                self.calibrate(net, "train", True, seed, vread_groups=2)
                res["best_cal_vread_groups2"] = self.evaluate(net)["acc"]
                res["latency_vread_groups2_us"] = self.energy(net)["latency_per_image_us"]
            cal = self.calibrate(net, "train", True, seed)
            ev = self.evaluate(net, record=True)
            res["best_cal"] = ev["acc"]
            res["best_cal_pred"] = ev["pred"]
            res["calibration"] = cal
            res["energy"] = self.energy(net)
            res["without_ft_curve"] = self._curve_without_ft(net)
            if seed == self.seeds[0]:
                res["scatter"] = self._scatter(net)
            ft = self.finetune(seed)
            res.update(ft)
            return res
        return self.cached("chip", run, seed, ablate)

    def only_relax_adc(self, seed: int) -> dict:
        def run():
            net = self.chip(self.graph(self.best_noise()), seed, only_relax_adc=True)
            net.program(method=self.program)
            self.calibrate(net, "train", True, seed)
            return {"acc": self.evaluate(net)["acc"]}
        return self.cached("only_relax_adc", run, seed)

    # --------------------------------------------------------------- fine-tuning
    def _curve_without_ft(self, net: ChipNet) -> list:
        """Accuracy with layers 1..k on the chip (calibrated, original weights) and the rest
        in software, from the activations recorded in the last evaluation."""
        from . import software as sw
        x, y = self.test_set()
        acts = self._cache["acts"]
        curve = [sw.accuracy(net.graph, x, y)]
        for op in net.graph.mvm_ops():
            i = net.op_index(op.name)
            logits = sw.forward(net.graph, acts[op.name], start=i + 1) if i + 1 < len(net.graph.ops) \
                else acts[op.name]
            curve.append(float(np.mean(logits.argmax(1) == y)))
        return curve

    def _scatter(self, net: ChipNet, n: int = 4000) -> dict:
        """Per layer: chip outputs vs the software product of the same (chip) inputs."""
        x, _ = self.test_set()
        out, a, pos = {}, x[:8], None
        rng = np.random.default_rng(0)
        for op in net.graph.ops:
            i = net.op_index(op.name)
            if not isinstance(op, MvmOp):
                continue
            a = net.forward(a, start=pos, upto=i, batch=len(a))
            pos = i
            chip = net.dep.run(op.name, a).reshape(-1)
            ref = net.dep.reference(op.name, a).reshape(-1)
            k = rng.choice(len(chip), min(n, len(chip)), replace=False)
            out[op.name] = {"chip": chip[k].round(4).tolist(), "software": ref[k].round(4).tolist(),
                            "rmse": float(np.sqrt(np.mean((chip - ref) ** 2))),
                            "corr": float(np.corrcoef(chip, ref)[0, 1])}
        return out

    def finetune(self, seed: int) -> dict:
        """Chip-in-the-loop progressive fine-tuning (Methods) on one chip instance."""
        from . import software as sw
        from .finetune import finetune
        from .train import TrainConfig

        best = self.best_noise()
        g = self.graph(best)
        net = self.chip(g, seed)
        s = self.split()
        x, y = self.test_set()
        rng = np.random.default_rng(seed + 3)
        n_ft = len(s.x_train) if self.ft_images is None else min(self.ft_images, len(s.x_train))
        idx = np.sort(rng.choice(len(s.x_train), n_ft, replace=False))
        xa, ya = s.x_train[idx], s.y_train[idx]
        lr = self.ft_lr if self.ft_lr is not None else self.train_cfg(best).lr / 100
        noise = self.ft_noise if self.ft_noise is not None else best
        curve = [sw.accuracy(g, x, y)]
        a_tr, a_te, pos = xa, x, None
        losses = {}
        train_curve = []
        mvm = g.mvm_ops()
        for k, op in enumerate(mvm):
            i = net.op_index(op.name)
            net.set_weights(op)
            net.program([op.name], method=self.program)
            # calibrate on the training activations entering the layer (measured on chip)
            a_tr = net.forward(a_tr, start=pos, upto=i, batch=len(a_tr))
            a_te = net.forward(a_te, start=pos, upto=i)
            net.calibrate(op.name, a_tr[: self.calib_images], n_vectors=self.calib_vectors,
                          shared_vread=True, seed=seed)
            a_tr = net.forward(a_tr, start=i, upto=i + 1, progress=self.progress, desc=f"ft {op.name} train")
            a_te = net.forward(a_te, start=i, upto=i + 1, progress=self.progress, desc=f"ft {op.name} test")
            pos = i + 1
            if k + 1 < len(mvm):
                # host ops up to the next layer, then fine-tune the rest on measured activations
                j = net.op_index(mvm[k + 1].name)
                a_tr = net.forward(a_tr, start=pos, upto=j, batch=len(a_tr))
                a_te = net.forward(a_te, start=pos, upto=j)
                pos = j
                # ED Fig. 8a: the training accuracy the chip layers cost, and what fine-tuning
                # the rest on their measured outputs wins back
                before = sw.accuracy(g, a_tr, ya, start=j)
                losses[op.name] = finetune(g, j, a_tr, ya, epochs=self.ft_epochs, lr=lr, noise=noise,
                                           seed=seed + k)
                after = sw.accuracy(g, a_tr, ya, start=j)
                train_curve.append({"layer": op.name, "before_ft": before, "after_ft": after})
                logits = sw.forward(g, a_te, start=j)
            else:
                logits = net.forward(a_te, start=pos) if pos < len(g.ops) else a_te
            curve.append(float(np.mean(logits.argmax(1) == y)))
            log.info("seed %d: %s programmed, accuracy %.4f", seed, op.name, curve[-1])
        return {"best_cal_ft": curve[-1], "best_cal_ft_pred": logits.argmax(1).tolist(),
                "ft_curve": curve, "ft_losses": losses, "ft_train_curve": train_curve,
                "ft_train_software": sw.accuracy(self.graph(best), xa, ya),
                "ft_settings": {"lr": lr, "noise": noise, "epochs": self.ft_epochs, "images": len(idx)}}

    # ------------------------------------------------------------------ energy
    def energy(self, net: ChipNet) -> dict:
        """Energy and latency per image from :func:`analog_models.energy.mvm_energy`,
        at each block's operating point and programmed conductances."""
        from analog_models.energy import mvm_energy
        from firmware.parallel import can_share_bias

        layers = {}
        shape = tuple(net.graph.input_shape)
        from .chip import _shape_after
        for op in net.graph.ops:
            nxt = _shape_after(op, shape)
            if isinstance(op, MvmOp):
                n_vec = nxt[1] * nxt[2] if op.kind == "conv" else 1
                blocks = net._blocks([op.name])
                n_rep = 1 + max(b.replica for b in blocks)
                e = 0.0
                groups = []          # blocks that can start together (one set of bias voltages)
                for b in blocks:
                    key = (b.core, b.row0, b.col0, "FWD")
                    cfg = net.dep.block_cfg.get(key, net.cfg[op.name])
                    g = net.mid.known(b.core)[b.row0:b.row0 + 2 * b.n_rows, b.col0:b.col0 + b.n_cols]
                    r = mvm_energy(cfg.core_config(2 * b.n_rows), 2 * b.n_rows, b.n_cols, G=np.nan_to_num(g))
                    # every vector of the image visits each segment once, on one of the replicas
                    e += r["energy_J"] * n_vec / n_rep
                    grp = next((gr for gr in groups if can_share_bias(gr[0], cfg)), None)
                    if grp is None:
                        groups.append([cfg, r["latency_s"]])
                    else:
                        grp[1] = max(grp[1], r["latency_s"])
                # groups with different biases start one after the other
                lat = sum(gr[1] for gr in groups)
                layers[op.name] = {"energy_nJ": e * 1e9, "mvms": n_vec, "replicas": n_rep,
                                   "bias_groups": len(groups),
                                   "latency_us": lat * np.ceil(n_vec / n_rep) * 1e6}
            shape = nxt
        e = sum(v["energy_nJ"] for v in layers.values())
        t = sum(v["latency_us"] for v in layers.values())
        return {"per_image_nJ": e, "latency_per_image_us": t, "edp_nJ_us": e * t, "layers": layers}

    # ------------------------------------------------------------------ report
    def report(self) -> dict:
        tr = self.train()
        best = f"{self.best_noise():.2f}"
        fam = tr["family"]
        runs = [self.chip_runs(s) for s in self.seeds]
        rep: dict = {
            "data": f"{self.data} ({len(self.test_set()[1])} test images)",
            "acc.float": fam[best]["float"], "acc.sw_4bit": fam[best]["sw_4bit"],
            "acc.sw_noise10": fam[best]["noise10_mean"], "acc.sw_noise10.std": fam[best]["noise10_std"],
            "acc.float.n0": fam["0.00"]["float"], "acc.sw_4bit.n0": fam["0.00"]["sw_4bit"],
        }
        for r, s in zip(runs, self.seeds):
            if self.ablation(s):
                r["only_relax_adc"] = self.only_relax_adc(s)["acc"]
        for key in ("n0", "n0_cal", "best", "best_cal", "best_cal_ft", "best_cal_per_core_vread",
                    "best_cal_vread_groups2", "cal_random_inputs", "only_relax_adc"):
            v = [r[key] for r in runs if key in r]
            rep[f"acc.chip.{key}"] = float(np.mean(v))
            rep[f"acc.chip.{key}.std"] = float(np.std(v)) if len(v) > 1 else None
            rep[f"acc.chip.{key}.seeds"] = v
        rep["chip.ablation_seeds"] = [s for s in self.seeds if self.ablation(s)]

        def paired(a, b):
            """Mean difference a - b (pp) over the chip instances that ran both rows."""
            d = [r[a] - r[b] for r in runs if a in r and b in r]
            return 100 * float(np.mean(d)) if d else None
        rep["cal.shared_vread_cost_pp"] = paired("best_cal_per_core_vread", "best_cal")
        rep["cal.vread_groups2_gain_pp"] = paired("best_cal_vread_groups2", "best_cal")
        for key in ("latency_per_core_vread_us", "latency_vread_groups2_us"):
            v = [r[key] for r in runs if key in r]
            rep[f"latency.{key[8:-3]}.per_image_us"] = float(np.mean(v)) if v else None
        rep["cal.random_vs_train_pp"] = paired("cal_random_inputs", "best_cal")
        rep["nrt.chip_gain_calibrated_pp"] = paired("best_cal", "n0_cal")
        rep["sim.only_relax_adc_overestimate_pp"] = paired("only_relax_adc", "best_cal")
        rep["finetune.gain_pp"] = paired("best_cal_ft", "best_cal")
        rep["finetune.gain_pp.seeds"] = [round(100 * (r["best_cal_ft"] - r["best_cal"]), 2) for r in runs]
        rep["target.ft_gap_to_sw_4bit_pp"] = 100 * (rep["acc.sw_4bit"] - rep["acc.chip.best_cal_ft"])
        rep["target.cal_gap_to_sw_4bit_pp"] = 100 * (rep["acc.sw_4bit"] - rep["acc.chip.best_cal"])
        rep["nrt.best_train_noise"] = float(best)
        rep["nrt.curve"] = {k: {"mean": v["noise10_mean"], "std": v["noise10_std"], "float": v["float"],
                                "sw_4bit": v["sw_4bit"]} for k, v in fam.items()}
        names = ["software"] + [o.name for o in self.graph(float(best)).mvm_ops()]
        ft = np.array([r["ft_curve"] for r in runs])
        nft = np.array([r["without_ft_curve"] for r in runs])
        rep["finetune.curve"] = {n: {"with_ft": float(ft[:, i].mean()), "with_ft.std": float(ft[:, i].std()),
                                     "without_ft": float(nft[:, i].mean()),
                                     "without_ft.std": float(nft[:, i].std())}
                                 for i, n in enumerate(names)}
        # training accuracy of the software rest on the chip layers' measured outputs,
        # before and after fine-tuning it (ED Fig. 8a), and of the whole model in software
        rep["finetune.train_curve"] = {
            step["layer"]: {k: float(np.mean([r["ft_train_curve"][i][k] for r in runs]))
                            for k in ("before_ft", "after_ft")}
            for i, step in enumerate(runs[0]["ft_train_curve"])}
        rep["finetune.train_software"] = float(np.mean([r["ft_train_software"] for r in runs]))
        en = runs[0]["energy"]
        rep["energy.per_image_nJ"] = en["per_image_nJ"]
        rep["latency.per_image_us"] = en["latency_per_image_us"]
        rep["energy.edp_nJ_us"] = en["edp_nJ_us"]
        rep["energy.layers"] = en["layers"]
        rep["chip.cores_used"] = runs[0]["cores_used"]
        rep["chip.seeds"] = list(self.seeds)
        rep["chip.backend"] = self.backend
        rep["chip.program"] = self.program
        rep["finetune.settings"] = runs[0]["ft_settings"]
        rep["seconds.chip_runs"] = [r.get("_seconds") for r in runs]
        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=1))
        from .plots import write_plots
        write_plots(rep, runs, self.test_set()[1], out)
        return rep

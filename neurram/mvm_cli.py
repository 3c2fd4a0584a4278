"""``neurram mvm``: program a random weight matrix, run MVMs, report RMSE and golden agreement.

The whole transaction goes through the high-level API (:class:`firmware.highlevel.Deployment`),
so a matrix larger than one core (e.g. ``--rows 600 --cols 300``) is split, placed on cores
and its partial sums accumulated; the JSON reports the placement beside ``rmse``.

``--backend model`` runs on the golden model (fast). ``--backend cosim`` runs the same job
inside the cocotb cosimulation and then once more on the golden model with the same seed;
``golden_match`` is true when every output code of the two runs is equal.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from firmware.highlevel import Deployment
from firmware.lowlevel import Chip
from firmware.midlevel import MidLevel, MvmConfig
from rtl.contract.constants import N_CORES

#: Matrices with at most this many cells are programmed by write-verify under ``auto``;
#: larger ones by the (simulation-only) backdoor load.
AUTO_WV_CELLS = {"model": 4096, "cosim": 512}


def _params(params: dict | None):
    from analog_models.params import AnalogParams

    params = dict(params or {})
    ideal = params.pop("ideal", False)
    return AnalogParams.ideal(**params) if ideal else AnalogParams(**params)


def job(transport, *, rows: int, cols: int, vectors: int, in_bits: int, out_bits: int,
        direction: str, seed: int, program: str = "auto", backend: str = "model",
        params: dict | None = None, two_phase: bool | None = None, calibrate: bool = True,
        calib_vectors: int = 16, progress: bool = True) -> dict:
    """The firmware side of ``neurram mvm``; runs unchanged on any transport.

    Returns a JSON-able dict: outputs, ideal products, codes (base64 int16) and reports.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols))
    n_in = rows if direction == "FWD" else cols
    x = rng.uniform(-1.0, 1.0, size=(vectors, n_in))
    x_cal = rng.uniform(-1.0, 1.0, size=(calib_vectors, n_in))
    chip = Chip(transport)
    mid = MidLevel(chip, _params(params), progress=progress)
    mid.record_codes = True
    cfg = MvmConfig(in_bits=in_bits, out_bits=out_bits, two_phase=two_phase,
                    direction=direction).validate()
    dep = Deployment(mid, cfg)
    dep.add_dense("mvm", w)
    placement = dep.place(replicate=False)
    n_cells = sum(2 * b.n_rows * b.n_cols for b in placement.blocks)
    if program == "auto":
        program = "write-verify" if n_cells <= AUTO_WV_CELLS.get(backend, 0) else "backdoor"
    t_prog = time.perf_counter()
    # The default write-verify waits settle_ns (1 s) between passes so cells relax before
    # they are re-measured; the cosim harness stops the clock during such idle waits.
    reports = dep.program(method=program, wv=None)
    t_prog = time.perf_counter() - t_prog
    cal = []
    if calibrate:
        cal = [c.summary() for _, c in dep.calibrate("mvm", x_cal, direction=direction)]
    mid.codes_log.clear()
    t_run = time.perf_counter()
    y = dep.run("mvm", x, direction=direction)
    t_run = time.perf_counter() - t_run
    codes = np.concatenate([c.reshape(-1) for c in mid.codes_log]).astype(np.int16)
    ideal = x @ w if direction == "FWD" else x @ w.T
    ideal_q = dep.reference("mvm", x, direction=direction)
    prog = None
    if reports:
        prog = {"pulses_total": int(sum(r.pulses.sum() for _, r in reports)),
                "cells": int(sum(r.n_cells for _, r in reports)),
                "in_window": int(sum(r.ok.sum() for _, r in reports)),
                "in_window_after_write_verify": int(sum(r.ok_programmed.sum() for _, r in reports)),
                "failed": int(sum(len(r.failed) for _, r in reports)),
                "mean_pulses": float(np.mean(np.concatenate([r.pulses for _, r in reports]))),
                "rms_error_uS": float(np.sqrt(np.mean(np.concatenate(
                    [(r.final - r.target) ** 2 for _, r in reports])))),
                "failed_cells": [(b.core, *c) for b, r in reports for c in r.failed][:20]}
    return {
        "y": y.tolist(), "ideal": ideal.tolist(), "ideal_quantised_inputs": ideal_q.tolist(),
        "codes_b64": base64.b64encode(codes.tobytes()).decode(), "n_codes": int(codes.size),
        "codes_sha256": hashlib.sha256(codes.tobytes()).hexdigest(),
        "placement": placement.report(), "program": program, "programming": prog,
        "calibration": cal, "frames": chip.frames,
        "time_s": {"total": time.perf_counter() - t0, "program": t_prog, "mvm": t_run},
    }


def _codes(result: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(result["codes_b64"]), dtype=np.int16)


def _run_golden(kwargs: dict, n_cores: int, seed: int, params: dict | None) -> dict:
    from cosim.transport import GoldenTransport

    t = GoldenTransport(n_cores=n_cores, params=_params(params), seed=seed)
    try:
        return job(t, **kwargs)
    finally:
        t.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurram mvm", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("model", "cosim"), default="model",
                   help="golden model (fast, default) or cocotb cosimulation")
    p.add_argument("--rows", type=int, default=64, help="inputs of the weight matrix (default 64)")
    p.add_argument("--cols", type=int, default=64, help="outputs of the weight matrix (default 64)")
    p.add_argument("--vectors", type=int, default=100, help="input vectors (default 100)")
    p.add_argument("--in-bits", type=int, default=4, help="input bits 1-8 (default 4)")
    p.add_argument("--out-bits", type=int, default=6, help="output bits 1-10 (default 6)")
    p.add_argument("--direction", choices=("forward", "backward"), default="forward")
    p.add_argument("--two-phase", choices=("auto", "on", "off"), default="auto",
                   help="two-phase input (auto: above 4 bits)")
    p.add_argument("--program", choices=("auto", "write-verify", "backdoor"), default="auto",
                   help="write-verify through the chip, or the simulation-only backdoor load "
                        "(auto: write-verify for small matrices)")
    p.add_argument("--no-calibrate", action="store_true", help="skip the per-block calibration")
    p.add_argument("--ideal", action="store_true", help="ideal analog core (all non-idealities off)")
    p.add_argument("--n-cores", type=int, default=None,
                   help=f"cores of the simulated chip (default: as many as the placement needs, <= {N_CORES})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--plot", type=Path, default=None, help="scatter of measured vs ideal (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _validate(a) -> None:
    if not 1 <= a.in_bits <= 8:
        raise ValueError(f"--in-bits must be in 1..8, got {a.in_bits}")
    if not 1 <= a.out_bits <= 10:
        raise ValueError(f"--out-bits must be in 1..10, got {a.out_bits}")
    if a.rows < 1 or a.cols < 1:
        raise ValueError(f"--rows and --cols must be >= 1, got {a.rows} x {a.cols}")
    if a.vectors < 1:
        raise ValueError(f"--vectors must be >= 1, got {a.vectors}")
    if a.n_cores is not None and not 1 <= a.n_cores <= N_CORES:
        raise ValueError(f"--n-cores must be in 1..{N_CORES}, got {a.n_cores}")


def needed_cores(rows: int, cols: int) -> int:
    """Cores the placement of a rows x cols matrix uses on a 48-core chip (no replicas)."""
    from firmware.highlevel import Layer, place
    pl = place([Layer("mvm", np.zeros((rows, cols)), 0, 1.0)], 48, replicate=False)
    return len(pl.cores_used())


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        _validate(a)
        n_cores = a.n_cores or needed_cores(a.rows, a.cols)
    except ValueError as e:
        print(f"neurram mvm: error: {e}", file=sys.stderr)
        return 2
    direction = "FWD" if a.direction == "forward" else "BWD"
    params = {"ideal": True} if a.ideal else None
    kwargs = dict(rows=a.rows, cols=a.cols, vectors=a.vectors, in_bits=a.in_bits,
                  out_bits=a.out_bits, direction=direction, seed=a.seed, program=a.program,
                  backend=a.backend, params=params, calibrate=not a.no_calibrate,
                  two_phase={"auto": None, "on": True, "off": False}[a.two_phase],
                  progress=not a.quiet)
    t0 = time.perf_counter()
    if a.backend == "model":
        res = _run_golden(kwargs, n_cores, a.seed, params)
        golden = res
    else:
        from cosim.session import run_with_cosim
        res = run_with_cosim("neurram.mvm_cli:job", {**kwargs, "progress": False},
                             n_cores=n_cores, seed=a.seed, params=params)
        golden = _run_golden(kwargs, n_cores, a.seed, params)
    wall = time.perf_counter() - t0
    y, ideal = np.array(res["y"]), np.array(res["ideal"])
    ideal_q = np.array(res["ideal_quantised_inputs"])
    c_res, c_gold = _codes(res), _codes(golden)
    same = c_res.shape == c_gold.shape and bool(np.array_equal(c_res, c_gold))
    report = {
        "backend": a.backend, "rows": a.rows, "cols": a.cols, "vectors": a.vectors,
        "in_bits": a.in_bits, "out_bits": a.out_bits, "direction": a.direction,
        "seed": a.seed, "n_cores": n_cores, "ideal_core": a.ideal,
        "rmse": float(np.sqrt(np.mean((y - ideal) ** 2))),
        "rmse_vs_quantised_inputs": float(np.sqrt(np.mean((y - ideal_q) ** 2))),
        "ideal_std": float(ideal.std()),
        "golden_match": same,
        "golden_match_basis": ("cosimulation codes vs a golden-model rerun with the same seed"
                               if a.backend == "cosim" else "the backend is the golden model"),
        "golden_codes_compared": int(c_res.size),
        "golden_codes_mismatched": int(np.sum(c_res != c_gold)) if c_res.shape == c_gold.shape else None,
        "program": res["program"], "programming": res["programming"],
        "calibration": res["calibration"], "placement": res["placement"],
        "spi_frames": res["frames"], "time_s": {**res["time_s"], "wall": wall},
    }
    pl = res["placement"]
    print(f"neurram mvm: {a.rows}x{a.cols} weights, {a.vectors} vectors, {a.in_bits}-bit in / "
          f"{a.out_bits}-bit out, {a.direction}, backend {a.backend}, seed {a.seed}")
    print(f"  placement: {len(pl['blocks'])} block(s) on {pl['cores_used']} core(s), mean "
          f"utilisation {pl['mean_utilisation']:.1%}; programmed by {res['program']}")
    if res["programming"]:
        p = res["programming"]
        print(f"  write-verify: {p['cells']} cells, {p['mean_pulses']:.2f} pulses/cell, "
              f"{p['in_window_after_write_verify']} inside the window when programmed; final read "
              f"after relaxation: {p['in_window']} inside +-1 uS, {p['failed']} outside, "
              f"rms error {p['rms_error_uS']:.2f} uS")
    print(f"  rmse {report['rmse']:.4f} (ideal output std {report['ideal_std']:.3f}); "
          f"vs quantised-input product {report['rmse_vs_quantised_inputs']:.4f}")
    print(f"  golden_match {same} ({report['golden_codes_compared']} output codes; "
          f"{report['golden_match_basis']})")
    print(f"  {res['frames']} SPI frames, {wall:.1f} s wall")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1))
        print(f"  report written to {a.json}")
    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(ideal.ravel(), y.ravel(), s=3, alpha=0.4)
        lim = float(np.abs(ideal).max()) * 1.1
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlabel("ideal (float) product")
        ax.set_ylabel(f"measured ({a.backend})")
        ax.set_title(f"{a.rows}x{a.cols}, {a.in_bits}b in/{a.out_bits}b out, rmse {report['rmse']:.3f}")
        fig.tight_layout()
        a.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(a.plot, dpi=120)
        print(f"  plot written to {a.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

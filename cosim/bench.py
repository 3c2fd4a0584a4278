"""Cosimulation section of ``neurram bench``: build time and full MVM transactions on one core.

Measures, in one run:

* ``build.cold_s``: Verilator + C++ build of the one-core chip into an empty directory;
  ``build.unchanged_s``: the same ``build_core()`` call again (cache hit, nothing rebuilt).
* ``cosim.raw_cycles_per_s``: the same build clocked with no Python in the loop, in idle
  stretches interleaved with the transactions (before every pair and after the last),
  so that it follows the host's drifting speed.
* ``cosim.mvm_per_s``, ``cosim.wakeups_per_mvm``, ``cosim.cycles_per_mvm``: full
  256x256 forward MVM transactions at 4-bit in / 6-bit out over SPI (load 256 inputs, run,
  read 256 outputs) with the analog adapter answering the bus.
* ``cosim.overhead_vs_raw`` = transaction wall time / (cycles_per_mvm / raw_cycles_per_s).
* ``cosim.python_ms_per_mvm`` (time inside cocotb's wake-up handler), ``cosim.sim_ms_per_mvm``
  (the rest of a transaction) and ``cosim.raw_ms_per_mvm`` (the same cycles at the raw
  speed): where the overhead goes.
* ``cosim.ratio_vs_golden`` = cosim time / golden-model time for the same transactions
  (the golden model's codes must equal the cosimulation's: ``cosim.golden_match``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def measure_build(fresh: bool = True) -> dict:
    from cosim import runner

    out = {}
    if fresh:
        root = runner.BUILD_ROOT
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="cold-", dir=root))
        # Truly cold: a fresh directory and no cached Verilator runtime objects (the
        # Verilog text itself comes from rtl.generate's cache when the RTL is unchanged).
        saved = os.environ.get("NEURRAM_COSIM_NO_RUNTIME_CACHE")
        os.environ["NEURRAM_COSIM_NO_RUNTIME_CACHE"] = "1"
        try:
            t0 = time.perf_counter()
            runner.build_core(1, waves=False, fresh_dir=tmp / "core1")
            out["build.cold_s"] = time.perf_counter() - t0
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if saved is None:
                os.environ.pop("NEURRAM_COSIM_NO_RUNTIME_CACHE")
            else:
                os.environ["NEURRAM_COSIM_NO_RUNTIME_CACHE"] = saved
    runner.build_core(1, waves=False)   # make sure the cached build exists
    t0 = time.perf_counter()
    b = runner.build_core(1, waves=False)
    out["build.unchanged_s"] = time.perf_counter() - t0
    out["_build"] = b
    return out


def run_bench_tb(module: str, build, n_mvm: int, seed: int, prefix: str = "bench-") -> dict:
    """Run a bench testbench (``cosim.tb.*``) in a fresh run directory; its raw figures."""
    from cosim import runner

    root = runner.BUILD_ROOT
    root.mkdir(parents=True, exist_ok=True)
    tdir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    out_json = tdir / "bench_raw.json"
    runner.run_cocotb(module, build, seed=seed, test_dir=tdir,
                      extra_env={"NEURRAM_BENCH_OUT": str(out_json),
                                 "NEURRAM_BENCH_MVMS": str(n_mvm)})
    raw = json.loads(out_json.read_text()) if out_json.exists() else {}
    if "cosim_s" not in raw:
        raise RuntimeError(f"bench simulation {module} failed (run dir {tdir})")
    return raw


def measure_cosim(build, n_mvm: int, seed: int) -> dict:
    raw = run_bench_tb("cosim.tb.bench_tb", build, n_mvm, seed)
    n = raw["n_mvm"]
    # Idle clock stretches interleaved with the transactions (see cosim/tb/bench_tb.py).
    raw_cps = raw["raw_cycles"] / raw["raw_s"]
    t_mvm = raw["cosim_s"] / n
    cycles = raw["cycles"] / n
    return {
        "cosim.mvm_per_s": 1.0 / t_mvm,
        "cosim.wakeups_per_mvm": raw["wakeups"] / n,
        "cosim.raw_cycles_per_s": raw_cps,
        "cosim.cycles_per_mvm": cycles,
        "cosim.overhead_vs_raw": t_mvm / (cycles / raw_cps),
        # Where a transaction's wall time goes: Python (cocotb wake-ups: adapter, analog
        # models, SPI driver) and the simulator (the rest), both per transaction.
        "cosim.python_ms_per_mvm": 1e3 * raw["python_s"] / n,
        "cosim.sim_ms_per_mvm": 1e3 * (raw["cosim_s"] - raw["python_s"]) / n,
        "cosim.raw_ms_per_mvm": 1e3 * cycles / raw_cps,
        "cosim.ratio_vs_golden": raw["cosim_s"] / raw["golden_s"],
        "cosim.golden_mvm_per_s": n / raw["golden_s"],
        "cosim.golden_match": raw["golden_match"],
        "cosim.n_mvm": n,
        "cosim.seed": raw["seed"],
    }


def run(mvms: int = 50, seed: int = 1, cold: bool = True) -> dict:
    """Every ``build.*`` and ``cosim.*`` key, measured in one run."""
    res = measure_build(fresh=cold)
    build = res.pop("_build")
    res.update(measure_cosim(build, mvms, seed))
    return res


GOALS = {"cosim.mvm_per_s": (">=", 50), "cosim.wakeups_per_mvm": ("<=", 500),
         "cosim.overhead_vs_raw": ("<=", 1.5), "build.cold_s": ("<=", 60),
         "build.unchanged_s": ("<=", 5)}

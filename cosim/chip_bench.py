"""Chip section of ``neurram bench``: the multi-core chip's build and parallel MVMs.

Measures, in one run:

* ``chip.build_cold_s_4`` / ``chip.build_cold_s_48``: Verilator + C++ build of the 4- and
  48-core chip from scratch with no cached runtime or tile objects (the chip's Verilog
  comes from ``rtl.generate``'s cache; ``chip.verilog_s_48`` is its generation time when it
  was not cached); ``chip.build_tile_cached_s_48``: the 48-core build again from scratch
  but with the core tile's objects from the tile cache (what a 48-core build costs once
  any build compiled the same tile); for each, ``chip.verilate_*`` (the verilator step)
  and ``chip.tile_*`` (the tile's C++; the rest is the root's);
  ``chip.build_unchanged_s``: ``build_core(48)`` again (cache hit).
* ``chip.core_models``: how many verilated core models the 48-core build compiled (1:
  the core is a hierarchical block, compiled once for all instances).
* ``chip.raw_cycles_per_s``: the 48-core build clocked with no Python in the loop, every
  core idle (so with per-core clock gating: the root alone); ``chip.load_cycles_per_s`` /
  ``run_cycles_per_s`` / ``read_cycles_per_s``: its speed in each phase of the parallel
  MVMs (SPI into one core at a time; the MVM on every core, with its BUSY polls; SPI out).
* ``chip.parallel_mvm_per_s``: parallel 256x256 4b/6b MVMs on all 48 cores (load every
  core's inputs, one CHIP_CMD.start_sel, read every core's outputs), codes checked
  against the golden model (``chip.golden_match``); where a transaction's time goes:
  ``chip.load_ms`` / ``chip.run_ms`` / ``chip.read_ms`` (the three phases),
  ``chip.python_ms`` (cocotb wake-ups: adapters, analog models, SPI driver) and
  ``chip.raw_ms`` (its clock cycles at the raw speed, i.e. the floor with no Python).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rtl.contract.constants import N_CORES as CHIP_CORES

from .bench import run_bench_tb



def _build(n_cores: int, cold: bool) -> tuple[float, object]:
    """Rebuild the cached ``n_cores`` build from scratch; ``cold``: with no cached runtime
    or tile objects either (otherwise the tile's objects come from the tile cache)."""
    from cosim import runner

    saved = os.environ.get("NEURRAM_COSIM_NO_RUNTIME_CACHE")
    os.environ["NEURRAM_COSIM_NO_RUNTIME_CACHE"] = "1" if cold else "0"
    try:
        t0 = time.perf_counter()
        b = runner.build_core(n_cores, waves=False, force=True)
        return time.perf_counter() - t0, b
    finally:
        if saved is None:
            os.environ.pop("NEURRAM_COSIM_NO_RUNTIME_CACHE")
        else:
            os.environ["NEURRAM_COSIM_NO_RUNTIME_CACHE"] = saved


def core_models(build_dir: Path) -> int:
    """Verilated models of the core tile in a build (hierarchical blocks' makefiles)."""
    from rtl.generate import TILE_NAME

    return sum(1 for d in Path(build_dir).glob(f"V{TILE_NAME}*")
               if d.is_dir() and any(d.glob("*.mk")))


def measure_build(cold: bool, cold48: bool = True) -> dict:
    from cosim import runner
    from rtl.generate import verilog_for

    out = {}
    t0 = time.perf_counter()
    verilog_for(CHIP_CORES)
    out["chip.verilog_s_48"] = time.perf_counter() - t0
    if cold:
        # Into the cache directories themselves: the measured builds are the ones reused.
        plan = [(4, True, "chip.build_cold_s_4")]
        if cold48:
            plan.append((CHIP_CORES, True, "chip.build_cold_s_48"))
        plan.append((CHIP_CORES, False, "chip.build_tile_cached_s_48"))
        for n, nothing_cached, key in plan:
            dt, b = _build(n, nothing_cached)
            out[key] = dt
            out[key.replace("build_", "verilate_", 1)] = b.verilate_s
            out[key.replace("build_", "tile_", 1)] = b.tile_s
    b = runner.build_core(CHIP_CORES, waves=False)   # make sure the cached build exists
    out["chip.core_models"] = core_models(b.dir)
    t0 = time.perf_counter()
    b = runner.build_core(CHIP_CORES, waves=False)
    out["chip.build_unchanged_s"] = time.perf_counter() - t0
    out["_build"] = b
    return out


def measure_parallel(build, n_mvm: int, seed: int) -> dict:
    raw = run_bench_tb("cosim.tb.chip_bench_tb", build, n_mvm, seed, prefix="bench-chip-")
    n = raw["n_mvm"]
    raw_cps = raw["raw_cycles"] / raw["raw_s"]
    cycles = raw["cycles"] / n
    return {
        "chip.n_cores": raw["n_cores"],
        "chip.parallel_mvm_per_s": n / raw["cosim_s"],
        "chip.raw_cycles_per_s": raw_cps,
        "chip.cycles_per_parallel_mvm": cycles,
        "chip.load_ms": 1e3 * raw["load_s"] / n,
        "chip.run_ms": 1e3 * raw["run_s"] / n,
        "chip.read_ms": 1e3 * raw["read_s"] / n,
        "chip.python_ms": 1e3 * raw["python_s"] / n,
        "chip.raw_ms": 1e3 * cycles / raw_cps,
        # The simulator's speed in each phase (Python included: under 1 % of it): SPI
        # into one core at a time, the MVM on every core (with its BUSY polls), SPI out.
        **{f"chip.{ph}_cycles_per_s": raw[f"{ph}_cycles"] / raw[f"{ph}_s"]
           for ph in ("load", "run", "read")},
        "chip.wakeups_per_parallel_mvm": raw["wakeups"] / n,
        "chip.golden_parallel_mvm_per_s": n / raw["golden_s"],
        "chip.golden_match": raw["golden_match"],
        "chip.n_mvm": n,
        "chip.seed": raw["seed"],
    }


def run(chip_mvms: int = 3, seed: int = 1, cold: bool = True, cold48: bool = True) -> dict:
    """Every ``chip.*`` key, measured in one run (``cold48=False`` skips the 48-core
    build with nothing cached, the longest step)."""
    res = measure_build(cold, cold48)
    build = res.pop("_build")
    res.update(measure_parallel(build, chip_mvms, seed))
    return res


GOALS = {"chip.build_cold_s_48": ("<=", 180), "chip.build_unchanged_s": ("<=", 5),
         "chip.parallel_mvm_per_s": (">=", 5), "chip.core_models": ("==", 1)}

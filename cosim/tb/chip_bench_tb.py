"""cocotb side of the ``chip`` section of ``neurram bench``: parallel MVMs on every core.

``parallel_mvms``: each transaction is one parallel 256x256 forward MVM at 4-bit in /
6-bit out on all cores of the build (load every core's inputs, one CHIP_CMD.start_sel,
read every core's outputs; :mod:`cosim.parallel_mvm`) with the analog adapters
answering the buses; the same transactions then run on the golden model with the same
seed and must give the same codes. Idle clock stretches between transactions (one Timer,
no Python in the loop) give the build's raw cycles/s over the same stretch of wall time
(see ``cosim/tb/bench_tb.py``). Results go to the JSON file named by
``$NEURRAM_BENCH_OUT``.
"""

from __future__ import annotations

import gc
import os
import time

import cocotb
import numpy as np

from cosim.harness import ChipTB
from cosim.mvmjob import MvmSetup, random_inputs, setup_frames
from cosim.parallel_mvm import run_parallel_async, run_parallel_golden
from cosim.tb.timing import PythonTime, raw_chunk, write_results

N_MVM = int(os.environ.get("NEURRAM_BENCH_MVMS", "3"))
RAW_CYCLES = int(os.environ.get("NEURRAM_BENCH_RAW_CYCLES", "100000"))   # in all chunks


@cocotb.test(timeout_time=100_000, timeout_unit="ms")
async def parallel_mvms(dut):
    """Parallel MVMs on all cores: cosim vs golden, speed, phases, cycles."""
    from cosim.golden import GoldenChip

    seed = int(cocotb.RANDOM_SEED) & 0xFFFF
    dut._log.info("chip bench seed %d (numpy inputs and analog models)", seed)
    rng = np.random.default_rng(seed)
    tb = ChipTB(dut, seed=seed)
    await tb.init()
    n = tb.n_cores
    golden = GoldenChip(n, seed=seed)
    setups = [MvmSetup(core=c, in_bits=4, out_bits=6) for c in range(n)]
    for s in setups:
        g = rng.uniform(1.0, 40.0, size=(256, 256))
        tb.set_conductance(s.core, g)
        golden.set_conductance(s.core, g)
        for f in setup_frames(s):
            await tb.frame(f)
            golden.spi(f)
    xs = [[random_inputs(s, rng) for s in setups] for _ in range(N_MVM + 1)]
    await run_parallel_async(tb, setups, xs[0])     # warm-up: calibrates the first wait
    gc.collect()
    gc.freeze()
    chunk = max(1, RAW_CYCLES // (N_MVM + 1))
    raw_n, raw_s = 0, 0.0
    phases: dict = {}
    codes = []
    w0, c0 = tb.wakes.n, tb.cycles()
    py = PythonTime()
    t_cosim = 0.0
    for x in xs[1:]:
        k, dt = await raw_chunk(dut, chunk)
        raw_n, raw_s = raw_n + k, raw_s + dt
        t0 = time.perf_counter()
        codes.append(await run_parallel_async(tb, setups, x, phases=phases))
        t_cosim += time.perf_counter() - t0
    k, dt = await raw_chunk(dut, chunk)
    raw_n, raw_s = raw_n + k, raw_s + dt
    py_s = py.total
    py.restore()
    wakes = tb.wakes.n - w0
    cycles = tb.cycles() - c0 - raw_n
    run_parallel_golden(golden, setups, xs[0])
    t1 = time.perf_counter()
    golden_codes = [run_parallel_golden(golden, setups, x) for x in xs[1:]]
    t_gold = time.perf_counter() - t1
    tb.check_adapters()
    gc.unfreeze()
    match = all(np.array_equal(a, b) for got, want in zip(codes, golden_codes)
                for a, b in zip(got, want))
    write_results({"n_cores": n, "n_mvm": N_MVM, "cosim_s": t_cosim, "golden_s": t_gold,
          "wakeups": wakes, "cycles": cycles, "python_s": py_s, "raw_cycles": raw_n,
          "raw_s": raw_s, "golden_match": bool(match), "seed": seed,
          **{k: v for k, v in phases.items() if k.endswith(("_s", "_cycles"))}})
    assert match, "cosim and golden output codes differ"

"""cocotb side of ``neurram bench``: raw simulator speed and full MVM transactions.

``mvm_transactions``: full 256x256 forward MVMs at 4-bit in / 6-bit out over SPI
(RF_WRITE of 256 inputs, start, STATUS poll, RF_READ of 256 outputs) with the analog
adapter answering the bus; the same transactions then run on the golden model in this
process, with the same seed, and must give the same codes. Before every pair of
transactions, and after the last, the clock runs alone for a stretch of idle cycles
(one Timer: no Python in the loop), which gives the build's raw cycles/s over the same
stretch of wall time as the transactions: the host's speed drifts by up to 2x within
seconds, and raw speed measured only before and after would not follow it.
Results go to the JSON file named by ``$NEURRAM_BENCH_OUT``.
"""

from __future__ import annotations

import gc
import os
import time

import cocotb
import numpy as np

from cosim.harness import ChipTB
from cosim.mvmjob import MvmSetup, run_mvm_async, setup_frames
from cosim.tb.timing import PythonTime, raw_chunk, write_results

N_MVM = int(os.environ.get("NEURRAM_BENCH_MVMS", "20"))
RAW_CYCLES = int(os.environ.get("NEURRAM_BENCH_RAW_CYCLES", "1000000"))   # in all chunks


@cocotb.test(timeout_time=2000, timeout_unit="ms")
async def mvm_transactions(dut):
    """Full MVM transactions: cosim vs golden, speed, wake-ups, cycles."""
    from cosim.golden import GoldenChip

    seed = int(cocotb.RANDOM_SEED) & 0xFFFF
    dut._log.info("bench seed %d (numpy inputs and analog models)", seed)
    rng = np.random.default_rng(seed)
    setup = MvmSetup(in_bits=4, out_bits=6)
    tb = ChipTB(dut, seed=seed)
    await tb.init()
    golden = GoldenChip(tb.n_cores, seed=seed)
    g = rng.uniform(1.0, 40.0, size=(256, 256))
    tb.set_conductance(0, g)
    golden.set_conductance(0, g)
    for f in setup_frames(setup):
        await tb.frame(f)
        golden.spi(f)
    xs = rng.integers(-7, 8, size=(N_MVM + 1, 256))
    # Warm-up transaction: calibrates the host's wait before its first STATUS poll.
    await run_mvm_async(tb, setup, xs[0])
    # The long-lived objects (models, arrays, handles) leave the collector's generations:
    # the timed loop's garbage collections then scan only what the loop allocates.
    gc.collect()
    gc.freeze()
    golden_codes = []
    t_gold = 0.0
    codes = []
    w0, c0 = tb.wakes.n, tb.cycles()
    prof = None
    if os.environ.get("NEURRAM_BENCH_PROFILE"):
        import cProfile

        prof = cProfile.Profile()   # opt-in: where the harness's Python time goes
        prof.enable()
    # Python time: every wake-up inside the transactions (the wake-up that ends a raw
    # chunk runs on into the next transaction, and counts with it).
    n_chunks = len(xs[1::2]) + 1
    chunk = max(1, RAW_CYCLES // n_chunks)
    raw_s = 0.0
    raw_n = 0
    py = PythonTime()
    t_cosim = 0.0
    for i in range(1, len(xs), 2):
        n, dt = await raw_chunk(dut, chunk)
        raw_n, raw_s = raw_n + n, raw_s + dt
        t0 = time.perf_counter()
        for x in xs[i:i + 2]:
            codes.append(await run_mvm_async(tb, setup, x))
        t_cosim += time.perf_counter() - t0
    n, dt = await raw_chunk(dut, chunk)
    raw_n, raw_s = raw_n + n, raw_s + dt
    py_s = py.total
    py.restore()
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.environ["NEURRAM_BENCH_PROFILE"])
    wakes = tb.wakes.n - w0          # the raw chunks' Timers are not counted
    cycles = tb.cycles() - c0 - raw_n
    from cosim.mvmjob import run_mvm_golden

    run_mvm_golden(golden, setup, xs[0])
    t1 = time.perf_counter()
    for x in xs[1:]:
        golden_codes.append(run_mvm_golden(golden, setup, x))
    t_gold = time.perf_counter() - t1
    tb.check_adapters()
    gc.unfreeze()
    match = all(np.array_equal(a, b) for a, b in zip(codes, golden_codes))
    write_results({"n_mvm": N_MVM, "cosim_s": t_cosim, "golden_s": t_gold, "wakeups": wakes,
          "cycles": cycles, "python_s": py_s, "raw_cycles": raw_n, "raw_s": raw_s,
          "raw_chunks": n_chunks, "golden_match": bool(match), "seed": seed})
    assert match, "cosim and golden output codes differ"

"""Timing helpers of the cocotb benchmarks: Python time inside the simulation, raw clock
stretches, the results file."""

from __future__ import annotations

import json
import os
import time

from cocotb.triggers import Timer


class PythonTime:
    """Wall time spent in Python while the simulator waits: every wake-up enters
    ``GPITrigger._react`` (cocotb's handler for a fired simulator callback), which runs
    the woken coroutines to their next ``await``. The rest of a transaction's wall time
    is the simulator's.

    cocotb 2.1 has no public hook around the handling of a simulator callback, so this
    benchmark-only wrapper patches that private method (and restores it).
    """

    def __init__(self):
        from cocotb._gpi_triggers import GPITrigger

        self.total = 0.0
        self._cls = GPITrigger
        self._orig = GPITrigger._react
        orig, clock = self._orig, time.perf_counter

        def timed(trigger, _self=self):
            t0 = clock()
            try:
                orig(trigger)
            finally:
                _self.total += clock() - t0

        GPITrigger._react = timed

    def restore(self):
        self._cls._react = self._orig


def write_results(update: dict) -> None:
    path = os.environ["NEURRAM_BENCH_OUT"]
    data = {}
    if os.path.exists(path):
        with open(path) as fh:
            data = json.load(fh)
    data.update(update)
    with open(path, "w") as fh:
        json.dump(data, fh)


async def raw_chunk(dut, cycles: int) -> tuple[int, float]:
    """About ``cycles`` idle clock cycles with no Python in the loop: (cycles, wall s).
    (The stretch starts wherever the last transaction left the clock's phase, so it
    may hold one edge more or less.)"""
    c0 = int(dut.tb_cycles.value)
    t0 = time.perf_counter()
    await Timer(cycles * 10, unit="ns")
    dt = time.perf_counter() - t0
    n = int(dut.tb_cycles.value) - c0
    assert abs(n - cycles) <= 1, (n, cycles)
    return n, dt

"""cocotb tests on the toy SPI echo device: prove the runner, the tb top and the shifter."""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import Timer

from cosim.runner import SPI_WORD_BITS
from cosim.spi import SpiMaster, WakeCounter


async def _reset(dut):
    # tb_spi_req is left alone: the shifter starts a word whenever it changes.
    dut.rst.value = 1
    dut.tb_clk_stop.value = 0
    await Timer(50, unit="ns")
    dut.rst.value = 0
    await Timer(20, unit="ns")


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def echo_frames(dut):
    """Every byte comes back one byte later; ev_seq counts bytes; SCLK is genuine SPI."""
    await _reset(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    dut._log.info("seed %d", cocotb.RANDOM_SEED)
    spi = SpiMaster(dut, WakeCounter())
    prev_last = int(dut.last.value)
    for n in (1, 3, 4, 5, 9, 40):
        data = bytes(rng.randrange(256) for _ in range(n))
        seq0 = int(dut.analog__ev_seq.value)
        miso = await spi.frame(data)
        assert miso == bytes([prev_last]) + data[:-1], (miso.hex(), data.hex())
        assert int(dut.last.value) == data[-1]
        assert (int(dut.analog__ev_seq.value) - seq0) % 256 == n
        prev_last = data[-1]
    # One wake-up per shifter word (the 40-byte frame takes two).
    w = SPI_WORD_BITS
    assert spi.wakes.n == sum((8 * n + w - 1) // w for n in (1, 3, 4, 5, 9, 40))


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def cut_frame(dut):
    """CS released after 12 bits: the device saw one whole byte only."""
    await _reset(dut)
    spi = SpiMaster(dut)
    seq0 = int(dut.analog__ev_seq.value)
    await spi.frame(b"\xa5\x3c", nbits=12)
    assert (int(dut.analog__ev_seq.value) - seq0) % 256 == 1
    assert int(dut.last.value) == 0xA5


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def raw_speed(dut):
    """Clock only, no Python: how many cycles/s the build runs."""
    import time

    dut.tb_clk_stop.value = 0
    c0 = int(dut.tb_cycles.value)
    t0 = time.perf_counter()
    await Timer(1, unit="ms")
    dt = time.perf_counter() - t0
    n = int(dut.tb_cycles.value) - c0
    assert n == 100_000
    dut._log.info("raw: %d cycles in %.3f s = %.0f cycles/s", n, dt, n / dt)


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def clock_stop(dut):
    """tb_clk_stop parks the clock: a long wait is one time jump; the clock resumes."""
    import time

    dut.tb_clk_stop.value = 0
    await Timer(100, unit="ns")
    c0 = int(dut.tb_cycles.value)
    dut.tb_clk_stop.value = 1
    t0 = time.perf_counter()
    await Timer(10, unit="ms")
    dt = time.perf_counter() - t0
    c1 = int(dut.tb_cycles.value)
    assert c1 - c0 <= 1, f"clock kept running while stopped: {c1 - c0} cycles"
    assert dt < 0.5, f"a stopped-clock wait of 10 ms took {dt:.3f} s"
    dut.tb_clk_stop.value = 0
    await Timer(1000, unit="ns")
    assert 99 <= int(dut.tb_cycles.value) - c1 <= 101

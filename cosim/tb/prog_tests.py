"""cocotb tests of programming mode and neuron-test mode, through the firmware driver.

The firmware (``firmware.lowlevel.Chip`` / ``firmware.midlevel.MidLevel``) is synchronous
code; it runs in a ``cocotb.bridge`` thread on a :class:`cosim.transport.CosimTransport`,
and the identical call runs on a :class:`cosim.transport.GoldenTransport` with the same
seed. Conductances, board-ADC readings and analog events must agree exactly.
"""

from __future__ import annotations

import cocotb
from cocotb.task import bridge
import numpy as np

from cosim.golden import GoldenChip
from cosim.harness import ChipTB
from cosim.transport import CosimTransport, GoldenTransport


class Pair:
    """The same firmware call on the cosimulated and the golden chip."""

    def __init__(self, dut, params=None):
        self.seed = int(cocotb.RANDOM_SEED) & 0xFFFF
        self.tb = ChipTB(dut, params=params, seed=self.seed, record=True)
        self.gchip = GoldenChip(self.tb.n_cores, params=params, seed=self.seed, record=True)
        self.cosim_t = CosimTransport(self.tb)
        self.golden_t = GoldenTransport(chip=self.gchip)
        self.rng = np.random.default_rng(self.seed)
        dut._log.info("Pair seed %d", self.seed)

    async def init(self):
        await self.tb.init()

    async def call(self, fn, *args, **kwargs):
        """``fn(transport, *args, **kwargs)`` on both; returns (cosim, golden) results."""
        got = await bridge(fn)(self.cosim_t, *args, **kwargs)
        want = fn(self.golden_t, *args, **kwargs)
        return got, want

    def check_events(self, core: int, what: str):
        got = self.tb.events(core)
        want = self.gchip.models[core].events
        assert len(got) == len(want), f"{what}: RTL {len(got)} events, golden {len(want)}"
        for i, (a, b) in enumerate(zip(got, want)):
            assert a == b, f"{what}: event {i}: RTL {a!r} vs golden {b!r}"
        got.clear()
        want.clear()
        self.tb.check_adapters()

    def check_conductance(self, core: int, what: str):
        a, b = self.tb.conductance(core), self.gchip.conductance(core)
        assert np.array_equal(a, b), f"{what}: conductances differ at {np.argwhere(a != b)[:4].tolist()}"


def _chip(transport):
    from firmware.lowlevel import Chip

    return Chip(transport, poll_ns=500.0)


def fw_set_reset_read(t, row, col, n_pulses):
    """READ, ``n_pulses`` SETs, READ, ``n_pulses`` RESETs, READ of one cell.

    Returns the board-ADC readings and, beside them, the cell's true conductance at each
    READ (backdoor, for the test's own checks; the firmware never sees it).
    """
    chip = _chip(t)
    reads, true = [], []

    def read():
        reads.append(chip.read_cell(0, row, col))
        true.append(float(t.backdoor_get_conductance(0)[row, col]))

    read()
    for _ in range(n_pulses):
        chip.set_pulse(0, row, col, 1.8, 1000.0)
    read()
    for _ in range(n_pulses):
        chip.reset_pulse(0, row, col, 2.0, 1000.0)
    read()
    return reads, true


def fw_write_verify(t, g_block, row0, col0):
    from firmware.midlevel import MidLevel, WriteVerifyConfig

    mid = MidLevel(_chip(t), progress=False)
    # The paper's algorithm; two passes and a 200 us relaxation wait keep the simulated
    # time (and the cap of pulses per cell) small enough for a regression test.
    wv = WriteVerifyConfig(passes=2, settle_ns=2e5, max_pulses=40)
    rep = mid.program_matrix(0, np.asarray(g_block), row0=row0, col0=col0, wv=wv)
    return {"final": np.asarray(rep.final).tolist(), "pulses": np.asarray(rep.pulses).tolist(),
            "ok": np.asarray(rep.ok).tolist(),
            "ok_programmed": np.asarray(rep.ok_programmed).tolist()}


def fw_neuron_test(t, codes, direction):
    chip = _chip(t)
    return chip.neuron_convert(0, np.asarray(codes), in_bits=4, out_bits=6, direction=direction).tolist()


@cocotb.test(timeout_time=2000, timeout_unit="ms")
async def single_cell_set_reset_read(dut):
    """SET raises, RESET lowers the selected cell only; READ reaches the board ADC."""
    p = Pair(dut)
    await p.init()
    # A single pulse's step is lognormal with cycle-to-cycle spread and additive jitter,
    # and a cell near its saturated-SET state barely moves: one pulse from a random
    # starting state can go the "wrong" way. Start from a mid-range state (backdoor, on
    # both chips) and give each polarity six pulses (SET 1.8 V, RESET 2.0 V): the median
    # change is about 21 uS each way, and in a Monte Carlo of 200,000 cells of the device
    # model (every device-to-device and cycle-to-cycle spread) none changed by under 1.9 uS.
    g_start, n_pulses = 12.0, 6
    for row, col in ((3, 7), (200, 45)):
        g = p.tb.conductance(0)
        g[row, col] = g_start
        p.tb.set_conductance(0, g)
        p.gchip.set_conductance(0, g.copy())
        g_before = p.tb.conductance(0)
        (got, true), (want, want_true) = await p.call(fw_set_reset_read, row, col, n_pulses)
        dut._log.info("cell (%d, %d): reads %s, true %s (golden reads %s)",
                      row, col, got, [round(x, 3) for x in true], want)
        assert got == want and true == want_true, f"board ADC readings differ: {got} vs {want}"
        p.check_events(0, f"cell ({row}, {col})")
        p.check_conductance(0, f"cell ({row}, {col})")
        g_after = p.tb.conductance(0)
        changed = np.argwhere(g_after != g_before).tolist()
        assert changed in ([], [[row, col]]), f"cells other than ({row}, {col}) changed: {changed[:4]}"
        assert true[0] == g_start, f"a READ changed the cell: {true}"
        assert true[1] > true[0] + 1.0, f"SET pulses did not raise the cell: {true}"
        assert true[2] < true[1] - 1.0, f"RESET pulses did not lower the cell: {true}"
        # The board ADC measures the selected cell: each read within its noise (1 % +
        # 0.1 uS rms, 3 sigma plus one ADC step) of the true value.
        for r, g_true in zip(got, true):
            assert abs(r - g_true) < 3 * (0.01 * g_true + 0.1) + 0.1, \
                f"READ {r} does not measure the selected cell ({g_true:.3f} uS)"


@cocotb.test(timeout_time=20000, timeout_unit="ms")
async def write_verify_block(dut):
    """Incremental-pulse write-verify of a 2x3 block through the board ADC."""
    p = Pair(dut)
    await p.init()
    targets = p.rng.uniform(5.0, 30.0, size=(2, 3))
    got, want = await p.call(fw_write_verify, targets, 10, 20)
    dut._log.info("write-verify: final %s pulses %s", got["final"], got["pulses"])
    assert got == want, "write-verify differs from the golden model"
    p.check_conductance(0, "write-verify")
    p.check_events(0, "write-verify")
    # The paper's criterion (99 % of cells) is the window at the end of programming; the
    # report's final read comes after the settle wait and carries its own read noise, so
    # a cell verified in the window can read just outside it there.
    assert sum(got["ok_programmed"]) >= 5, f"cells outside the +-1 uS window: {got}"


@cocotb.test(timeout_time=2000, timeout_unit="ms")
async def neuron_test_mode(dut):
    """Neuron-test mode: driver levels straight into the neurons, both directions."""
    p = Pair(dut)
    await p.init()
    for direction in ("FWD", "BWD"):
        codes = p.rng.integers(0, 16, size=256)
        got, want = await p.call(fw_neuron_test, codes, direction)
        assert got == want, f"neuron test {direction}: codes differ"
        p.check_events(0, f"neuron test {direction}")

"""Per-core clock gating of the multi-core chip (rtl/chip.py), with real cores: in every
cycle the chip's outputs (MISO, every core's analog-bus event counter and kind, BUSY) are
those of the same chip with free-running core clocks, and an idle core's clock stops."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl import regmap
from rtl.chip import Chip
from rtl.contract.constants import CORE_BROADCAST, CORE_CHIP
from rtl.contract.registers import Mode
from rtl.frame import frame_reg_read, frame_reg_write, frame_rf_read, frame_rf_write
from rtlbus_helpers import SpiHost

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

CORE = regmap.core_map()
CHIP = regmap.chip_map()


def _frames(vals):
    a = {name: CORE.reg(name).addr for name in ("VREAD", "STATUS", "ROWS", "BITS", "CMD", "CTRL")}
    return [
        frame_reg_write(1, a["VREAD"], 0x5A),
        frame_reg_read(1, a["VREAD"]),
        frame_reg_read(0, a["STATUS"]),
        frame_rf_write(0, 0, 3, vals, 4),
        frame_rf_read(0, 0, 3, len(vals), 4),
        # a short MVM on core 0 started by CHIP_CMD.start_sel, core 1 idle meanwhile
        frame_reg_write(CORE_BROADCAST, a["CTRL"], Mode.MVM | (1 << 8)),   # signed inputs
        frame_reg_write(CORE_BROADCAST, a["ROWS"], 1),
        frame_reg_write(CORE_BROADCAST, a["BITS"], 1 | (1 << 4)),
        frame_reg_write(CORE_CHIP, CHIP.reg("CORE_SEL0").addr, 0b01),
        frame_reg_write(CORE_CHIP, CHIP.reg("CHIP_CMD").addr, 1),
        *[frame_reg_read(CORE_CHIP, CHIP.reg("BUSY0").addr) for _ in range(3)],
        # core 1 by its own CMD.start, then aborted
        frame_reg_write(1, a["CMD"], 1),
        frame_reg_read(1, a["STATUS"]),
        frame_reg_write(1, a["CMD"], 2),
        frame_reg_read(1, a["STATUS"]),
        frame_reg_read(0, a["STATUS"]),
    ]


def _trace(gate: bool, frames):
    chip = Chip(2, gate_cores=gate)
    host = SpiHost(chip.sclk, chip.cs_n, chip.mosi, chip.miso, half=2)
    probes = [chip.miso, chip.decoder.busy, chip.decoder.start,
              *[p for c in range(2) for p in (chip.analog[c].ev_seq, chip.analog[c].ev_kind)]]
    trace, stopped, replies = [], [0, 0], []

    async def watch(ctx):
        async for _, _, *values in ctx.tick().sample(*probes, *[g.clk_gated for g in chip.core_gates]):
            trace.append(tuple(values[:len(probes)]))
            for c, off in enumerate(values[len(probes):]):
                stopped[c] += off

    async def tb(ctx):
        ctx.set(chip.analog[0].cmp, 0)
        await ctx.tick().repeat(4)
        for f in frames:
            replies.append(await host.frame(ctx, f))
        await ctx.tick().repeat(8)

    sim = Simulator(chip)
    sim.add_clock(1e-8)
    sim.add_process(watch)
    sim.add_testbench(tb)
    sim.run()
    return trace, replies, stopped


def test_gated_chip_matches_free_running_clocks_cycle_by_cycle():
    vals = np.random.default_rng(5).integers(0, 16, 12).tolist()
    frames = _frames(vals)
    free, free_replies, _ = _trace(False, frames)
    gated, gated_replies, stopped = _trace(True, frames)
    assert gated_replies == free_replies
    assert len(gated) == len(free)
    first = next((i for i, (a, b) in enumerate(zip(gated, free)) if a != b), None)
    assert first is None, f"cycle {first}: gated {gated[first]} != free {free[first]}"
    # the frames did what they say (so the comparison covers reads, RF bursts and starts)
    assert free_replies[1][-2:] == bytes([0, 0x5A])
    assert list(np.frombuffer(bytes(free_replies[4][7:]), np.uint8)) != []
    assert any(t[1] & 1 for t in free) and any(t[1] & 2 for t in free), "a core never ran"
    assert any(t[2] == 1 for t in free), "no start_sel start"
    assert any(t[3] != free[0][3] for t in free), "core 0 put no event on its bus"
    # an idle core's clock was stopped most of the time
    assert min(stopped) > len(free) // 2, (stopped, len(free))


def test_gate_cores_needs_clk_req():
    from rtlbus_helpers import CoreDouble

    assert Chip(2, core_factory=CoreDouble).gate_cores is False
    assert Chip(1).gate_cores is False and Chip(2).gate_cores is True
    with pytest.raises(ValueError, match="clk_req"):
        Chip(2, core_factory=CoreDouble, gate_cores=True)
    with pytest.raises(TypeError, match="gate_cores"):
        Chip(2, gate_cores=1)

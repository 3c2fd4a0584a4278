"""FrameDecoder (byte interface) + test-double cores against the golden FrameModel."""

import time

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl import regmap
from rtl.frame import (FrameModel, SpiErr, frame_reg_read, frame_reg_write, frame_rf_read,
                       frame_rf_write, pack_entries, unpack_entries)
from rtlbus_helpers import ByteSlave, DecoderBench, DoubleTarget

CHIP = regmap.CORE_CHIP
BCAST = regmap.CORE_BROADCAST
CORE = regmap.core_map()
CHIPMAP = regmap.chip_map()


def _state_matches(ctx, bench, target):
    """Every core's live register-file slots and register-block outputs equal the model."""
    for c, core in enumerate(bench.cores):
        for k, f in enumerate(core.files):
            flat = ctx.get(f.q.as_value())
            got = np.array([(flat >> (10 * i)) & 0x3FF for i in range(256)])
            exp = target.files[c][k].live
            assert (got == exp).all(), (c, k, np.flatnonzero(got != exp)[:8])
        for r in CORE.registers:
            for fld in r.fields:
                if fld.kind == "out":
                    got = ctx.get(getattr(getattr(core.regs.hw, r.name.lower()), fld.name))
                    assert got == target.regs[c].get(r.name, fld.name), (c, r.name, fld.name)


def run_frames(n_cores, frames, gap=32, check_every=1, end_delay=2):
    """frames: list of (mosi, extra_bits). Runs RTL and model; asserts MISO, error, state."""
    bench = DecoderBench(n_cores)
    target = DoubleTarget(n_cores)
    model = FrameModel(target, n_cores)
    slave = ByteSlave(bench.dec, gap=gap, end_delay=end_delay)
    log = []

    async def tb(ctx):
        for i, (mosi, extra) in enumerate(frames):
            got = await slave.frame(ctx, mosi, extra_bits=extra)
            exp = model.transfer(mosi, extra_bits=extra)
            log.append((mosi, got, slave.last_err))
            assert got == exp, (i, mosi.hex(), got.hex(), exp.hex())
            assert slave.last_err == model.last_err, (i, mosi.hex(), slave.last_err, model.last_err)
            assert ctx.get(bench.dec.err_code) == model.err_code
            assert ctx.get(bench.dec.err_count) == model.err_count
            if (i + 1) % check_every == 0 or i == len(frames) - 1:
                _state_matches(ctx, bench, target)

    sim = Simulator(bench)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    t = time.time()
    sim.run()
    print(f"{len(frames)} frames in {time.time() - t:.2f} s")
    return log, model, target


def test_pack_roundtrip():
    rng = np.random.default_rng(5)
    for width in range(1, 11):
        vals = rng.integers(0, 1 << width, 37).tolist()
        data = pack_entries(vals, width)
        assert len(data) == (37 * width + 7) // 8
        assert unpack_entries(data, 37, width) == vals
    assert pack_entries([1, 0, 1], 1) == bytes([0b10100000])
    assert pack_entries([0x3FF], 10) == bytes([0xFF, 0xC0])
    with pytest.raises(ValueError):
        pack_entries([2], 1)


def test_register_frames():
    ctrl = CORE.reg("CTRL").addr
    frames = [
        (frame_reg_read(0, 0x00), 0),                  # ID
        (frame_reg_write(0, ctrl, 0x0203), 0),
        (frame_reg_read(0, ctrl), 0),
        (frame_reg_read(1, ctrl), 0),                  # core 1 untouched
        (frame_reg_write(BCAST, CORE.reg("VREAD").addr, 0x0042), 0),
        (frame_reg_read(1, CORE.reg("VREAD").addr), 0),
        (frame_reg_read(0, CORE.reg("BITS").addr), 0),
        (frame_reg_read(CHIP, CHIPMAP.reg("CHIP_ID").addr), 0),
        (frame_reg_read(CHIP, CHIPMAP.reg("N_CORES").addr), 0),
        (b"", 0),                                       # empty frame: ignored
    ]
    log, model, _ = run_frames(2, frames)
    assert log[0][1][4:] == bytes([0x4E, 0x43])
    assert log[2][1][4:] == bytes([0x02, 0x03])
    assert log[5][1][4:] == bytes([0x00, 0x42])
    assert log[7][1][4:] == bytes([0x4E, 0x52])
    assert log[8][1][4:] == bytes([0x00, 0x02])
    assert model.err_count == 0


@pytest.mark.parametrize("width", [1, 3, 8, 10])
def test_full_burst_write_read(width):
    seed = 100 + width
    print("seed", seed)
    rng = np.random.default_rng(seed)
    vals = rng.integers(0, 1 << width, 256).tolist()
    vals2 = rng.integers(0, 1 << width, 40).tolist()
    frames = [
        (frame_rf_write(0, 1, 0, vals, width), 0),
        (frame_rf_read(0, 1, 0, 256, width), 0),
        (frame_rf_write(BCAST, 0, 200, vals2, width), 0),
        (frame_rf_read(1, 0, 190, 60, width), 0),
    ]
    log, model, target = run_frames(2, frames)
    assert unpack_entries(log[1][1][7:], 256, width) == vals
    assert unpack_entries(log[3][1][7:], 60, width)[10:50] == vals2
    assert target.files[0][0].live[200:240].tolist() == vals2

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


@pytest.mark.parametrize("width", [1, pytest.param(3, marks=pytest.mark.slow),
                                   pytest.param(8, marks=pytest.mark.slow), 10])
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


def _malformed_cases():
    """(name, frame, extra_bits, expected code) for every error case of docs/spi.md."""
    ctrl = CORE.reg("CTRL").addr
    ok_rf = frame_rf_write(0, 0, 10, [1, 2, 3, 4], 4)
    return [
        ("bad opcode", bytes([0x07, 0, 1, 0, 0]), 0, SpiErr.BAD_OPCODE),
        ("opcode 0", bytes([0x00]), 0, SpiErr.BAD_OPCODE),
        ("core out of range", frame_reg_write(2, ctrl, 3), 0, SpiErr.ADDR_RANGE),
        ("core 0xFD", frame_reg_read(0xFD, ctrl), 0, SpiErr.ADDR_RANGE),
        ("unmapped core reg", frame_reg_write(0, 0x10, 3), 0, SpiErr.ADDR_RANGE),
        ("unmapped core reg read", frame_reg_read(1, 0x80), 0, SpiErr.ADDR_RANGE),
        ("unmapped chip reg", frame_reg_read(CHIP, 0x0A), 0, SpiErr.ADDR_RANGE),
        ("rf on chip", frame_rf_write(CHIP, 0, 0, [1], 1), 0, SpiErr.ADDR_RANGE),
        ("file 2", bytes([3, 0, 2, 0, 0, 4, 0x10]), 0, SpiErr.ADDR_RANGE),
        ("start+count>256", frame_rf_write(0, 0, 250, [1] * 7, 2), 0, SpiErr.ADDR_RANGE),
        ("rf read start+count>256", frame_rf_read(1, 1, 255, 2, 3), 0, SpiErr.ADDR_RANGE),
        ("cs mid byte", frame_reg_write(0, ctrl, 3), 5, SpiErr.CS_MID_BYTE),
        ("cs mid byte in burst", ok_rf[:7], 3, SpiErr.CS_MID_BYTE),
        ("only partial byte", b"", 4, SpiErr.CS_MID_BYTE),
        ("short reg write", frame_reg_write(0, ctrl, 3)[:4], 0, SpiErr.SHORT_FRAME),
        ("short burst", ok_rf[:-1], 0, SpiErr.SHORT_FRAME),
        ("short header", ok_rf[:3], 0, SpiErr.SHORT_FRAME),
        ("short read", frame_reg_read(0, ctrl)[:5], 0, SpiErr.SHORT_FRAME),
        ("short rf read", frame_rf_read(0, 0, 0, 16, 8)[:-3], 0, SpiErr.SHORT_FRAME),
        ("width 0", bytes([3, 0, 0, 0, 0, 0]), 0, SpiErr.BAD_WIDTH),
        ("width 11", bytes([4, 0, 1, 0, 0, 11, 0, 0, 0]), 0, SpiErr.BAD_WIDTH),
        ("reg read broadcast", frame_reg_read(BCAST, ctrl), 0, SpiErr.READ_BROADCAST),
        ("rf read broadcast", frame_rf_read(BCAST, 0, 0, 4, 4), 0, SpiErr.READ_BROADCAST),
        ("write ID", frame_reg_write(0, 0x00, 0x1234), 0, SpiErr.WRITE_RO),
        ("write STATUS", frame_reg_write(BCAST, CORE.reg("STATUS").addr, 1), 0, SpiErr.WRITE_RO),
        ("write SPI_ERR", frame_reg_write(CHIP, CHIPMAP.reg("SPI_ERR").addr, 0), 0, SpiErr.WRITE_RO),
        ("write BUSY1", frame_reg_write(CHIP, CHIPMAP.reg("BUSY1").addr, 0), 0, SpiErr.WRITE_RO),
        ("extra byte reg write", frame_reg_write(0, ctrl, 3) + b"\x00", 0, SpiErr.EXTRA_BYTES),
        ("extra byte burst", ok_rf + b"\x00", 0, SpiErr.EXTRA_BYTES),
        ("extra byte broadcast burst", frame_rf_write(BCAST, 1, 0, [5] * 3, 3) + b"\x01\x02", 0,
         SpiErr.EXTRA_BYTES),
    ]


def test_malformed_frames_each_followed_by_good_frame():
    ctrl = CORE.reg("CTRL").addr
    frames = []
    expected = []
    cases = _malformed_cases()
    for k, (name, frame, extra, code) in enumerate(cases):
        frames.append((frame, extra))
        expected.append((name, code))
        # a good frame right after: a burst to core k%2 and a register write
        good = frame_rf_write(k % 2, k % 2, 8 * k, [k, k + 1, 2 * k], 6) if k % 2 else \
            frame_reg_write(k % 2, ctrl, k & 0x3FF)
        frames.append((good, 0))
        expected.append(("good after " + name, 0))
    frames.append((frame_rf_read(1, 1, 0, 256, 6), 0))
    expected.append(("final read", 0))
    log, model, target = run_frames(2, frames, check_every=1)
    for (name, code), (_, _, got) in zip(expected, log):
        assert got == code, (name, got, code)
    assert model.err_count == len(cases)
    assert model.err_code == cases[-1][3]
    # nothing from any bad burst reached a live slot: core 0's BL file was written only by
    # the good frames, which never touch core 0 (odd k -> core 1)
    assert not target.files[0][0].live.any() and not target.files[0][1].live.any()


def test_chip_registers_and_start_sel():
    sel0 = CHIPMAP.reg("CORE_SEL0").addr
    cmd = CHIPMAP.reg("CHIP_CMD").addr
    busy0 = CHIPMAP.reg("BUSY0").addr
    spi_err = CHIPMAP.reg("SPI_ERR").addr
    status = CORE.reg("STATUS").addr
    core_cmd = CORE.reg("CMD").addr
    bench = DecoderBench(3)
    target = DoubleTarget(3)
    model = FrameModel(target, 3)
    slave = ByteSlave(bench.dec)
    starts = []

    async def watch(ctx):
        async for _, _, start in ctx.tick().sample(bench.dec.start):
            if start:
                starts.append(start)

    frames = [
        frame_reg_write(0, 0x00, 1),                      # error 7
        bytes([9]),                                       # error 1
        frame_reg_read(CHIP, spi_err),
        frame_reg_write(CHIP, sel0, 0b101),
        frame_reg_read(CHIP, sel0),
        frame_reg_write(CHIP, cmd, 0b01),                 # start_sel: cores 0 and 2
        frame_reg_read(CHIP, busy0),
        frame_reg_read(2, status),
        frame_reg_write(0, core_cmd, 0b10),               # abort core 0
        frame_reg_read(CHIP, busy0),
        frame_reg_write(CHIP, cmd, 0b10),                 # clear_err
        frame_reg_read(CHIP, spi_err),
        frame_reg_read(CHIP, cmd),                        # pulses read 0
    ]
    results = []

    async def tb(ctx):
        for f in frames:
            got = await slave.frame(ctx, f)
            exp = model.transfer(f)
            assert got == exp, (f.hex(), got.hex(), exp.hex())
            results.append(got)

    sim = Simulator(bench)
    sim.add_clock(1e-8)
    sim.add_process(watch)
    sim.add_testbench(tb)
    sim.run()
    assert results[2][4:] == bytes([2, SpiErr.BAD_OPCODE])       # count 2, code 1
    assert results[4][4:] == bytes([0, 0b101])
    assert starts == [0b101]                                      # one cycle, both cores
    assert results[6][4:] == bytes([0, 0b101])
    assert results[7][5] & 1
    assert results[9][4:] == bytes([0, 0b100])
    assert results[11][4:] == bytes([0, 0])
    assert results[12][4:] == bytes([0, 0])
    assert target.started == [1, 0, 1]


def test_random_frames():
    seed = 4242
    print("seed", seed)
    rng = np.random.default_rng(seed)
    n = 3
    frames = []
    addrs = [r.addr for r in CORE.registers]
    for _ in range(60):
        kind = rng.integers(0, 8)
        core = int(rng.choice([0, 1, 2, BCAST, CHIP, 5]))
        if kind <= 1:
            f = frame_reg_write(core, int(rng.choice(addrs + [0x20])), int(rng.integers(0, 1 << 16)))
        elif kind == 2:
            f = frame_reg_read(core, int(rng.choice(addrs + [0x21])))
        elif kind in (3, 4):
            width = int(rng.integers(1, 11))
            start = int(rng.integers(0, 256))
            count = int(rng.integers(1, min(24, 257 - start) + 1))
            f = frame_rf_write(core, int(rng.integers(0, 2)), start,
                               rng.integers(0, 1 << width, count).tolist(), width)
        elif kind == 5:
            width = int(rng.integers(1, 11))
            start = int(rng.integers(0, 256))
            count = int(rng.integers(1, min(24, 257 - start) + 1))
            f = frame_rf_read(core, int(rng.integers(0, 2)), start, count, width)
        else:
            f = bytes(rng.integers(0, 256, int(rng.integers(1, 9))).tolist())
        extra = 0
        r = rng.random()
        if r < 0.1:
            f = f[:int(rng.integers(0, len(f)))]
        elif r < 0.15:
            f = f + bytes([int(rng.integers(0, 256))])
        elif r < 0.2:
            extra = int(rng.integers(1, 8))
        frames.append((f, extra))
    log, model, target = run_frames(n, frames, check_every=10, gap=int(rng.choice([20, 32])))
    codes = {c for _, _, c in log}
    assert 0 in codes and len(codes) >= 4


def test_back_to_back_frames_while_burst_drains():
    # the next frame starts 1 cycle after CS rose, while the decoder is still staging the
    # last byte's 8 entries (width 1): its start must wait for the end handling
    vals = [1, 0, 1, 1, 0, 0, 1, 0] * 4
    f1 = frame_rf_write(0, 0, 0, vals, 1)
    f2 = frame_reg_write(0, CORE.reg("VREAD").addr, 0x21)
    f3 = frame_rf_read(0, 0, 0, 32, 1)
    bench = DecoderBench(1)
    target = DoubleTarget(1)
    model = FrameModel(target, 1)
    slave = ByteSlave(bench.dec, gap=32, end_delay=0)

    async def tb(ctx):
        await slave.frame(ctx, f1, wait_done=False)
        await slave.frame(ctx, f2, wait_done=False)
        got = await slave.frame(ctx, f3)
        for f in (f1, f2):
            model.transfer(f)
        assert got == model.transfer(f3)
        assert unpack_entries(got[7:], 32, 1) == vals
        assert slave.last_err == 0 and ctx.get(bench.dec.err_count) == 0
        _state_matches(ctx, bench, target)

    sim = Simulator(bench)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()

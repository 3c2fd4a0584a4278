"""Chip top (SPI pins -> SpiSlave -> FrameDecoder -> cores) with test-double cores."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl import regmap
from rtl.chip import Chip
from rtl.frame import (FrameModel, SpiErr, frame_reg_read, frame_reg_write, frame_rf_read,
                       frame_rf_write, unpack_entries)
from rtlbus_helpers import CoreDouble, DoubleTarget, SpiHost

# Objects built only to inspect their signature (or whose constructor raises) are never
# elaborated; Amaranth's reminder about that is noise here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


CORE = regmap.core_map()
CHIPMAP = regmap.chip_map()


def _run_chip(n_cores, frames, half=2, seed=0):
    rng = np.random.default_rng(seed)
    chip = Chip(n_cores, core_factory=CoreDouble)
    target = DoubleTarget(n_cores)
    model = FrameModel(target, n_cores)
    host = SpiHost(chip.sclk, chip.cs_n, chip.mosi, chip.miso, half=half, rng=rng)
    out = []
    starts = []

    async def watch(ctx):
        async for _, _, start in ctx.tick().sample(chip.decoder.start):
            if start:
                starts.append(start)

    async def tb(ctx):
        for mosi, extra in frames:
            got = await host.frame(ctx, mosi, extra_bits=extra, partial_byte=0xA5)
            exp = model.transfer(mosi, extra_bits=extra)
            assert got == exp, (mosi.hex(), got.hex(), exp.hex())
            assert ctx.get(chip.decoder.err_code) == model.err_code
            out.append(got)
        for c, core in enumerate(chip.cores):
            for k, f in enumerate(core.files):
                flat = ctx.get(f.q.as_value())
                got = np.array([(flat >> (10 * i)) & 0x3FF for i in range(256)])
                assert (got == target.files[c][k].live).all()
        if n_cores == 1:
            assert ctx.get(chip.analog.vread) == target.regs[0].get("VREAD", "code")
        else:
            for c in range(n_cores):
                assert ctx.get(chip.analog[c].vread) == target.regs[c].get("VREAD", "code")

    sim = Simulator(chip)
    sim.add_clock(1e-8)
    sim.add_process(watch)
    sim.add_testbench(tb)
    sim.run()
    return out, model, target, starts


def test_signature_one_and_many_cores():
    one = Chip(1, core_factory=CoreDouble)
    names = {"__".join(map(str, path)) for path, _, _ in one.signature.flatten(one)}
    assert {"sclk", "cs_n", "mosi", "miso", "analog__bl_drv", "analog__cmp"} <= names
    assert not any(n.startswith("analog__0") for n in names)
    four = Chip(4, core_factory=CoreDouble)
    assert len(four.analog) == 4 and len(four.analog[3].wl_en) == 256
    names4 = {"__".join(map(str, path)) for path, _, _ in four.signature.flatten(four)}
    assert "analog__3__bl_drv" in names4 and "analog__3__cmp" in names4
    with pytest.raises(ValueError):
        Chip(0, core_factory=CoreDouble)
    with pytest.raises(ValueError):
        Chip(49, core_factory=CoreDouble)
    with pytest.raises(TypeError):
        Chip(2, core_factory=3)
    del one, four
    gc.collect()   # the reminders fire now, under this module's filter


@pytest.mark.parametrize("half", [2, (2, 4)])
def test_chip_over_spi_pins(half):
    seed = 77
    print("seed", seed)
    rng = np.random.default_rng(seed)
    vals = rng.integers(0, 1 << 7, 64).tolist()
    vread = CORE.reg("VREAD").addr
    frames = [
        (frame_reg_read(0, 0), 0),
        (frame_reg_write(0xFF, vread, 0x33), 0),
        (frame_reg_write(1, vread, 0x44), 0),
        (frame_rf_write(1, 0, 100, vals, 7), 0),
        (frame_rf_read(1, 0, 100, 64, 7), 0),
        (frame_reg_write(0, vread, 0x55), 3),            # CS mid-byte: error 3, no write
        (frame_reg_read(0xFE, CHIPMAP.reg("SPI_ERR").addr), 0),
        (frame_reg_write(0xFE, CHIPMAP.reg("CORE_SEL0").addr, 0b10), 0),
        (frame_reg_write(0xFE, CHIPMAP.reg("CHIP_CMD").addr, 1), 0),
        (frame_reg_read(0xFE, CHIPMAP.reg("BUSY0").addr), 0),
    ]
    out, model, target, starts = _run_chip(2, frames, half=half, seed=seed)
    assert out[0][4:] == bytes([0x4E, 0x43])
    assert unpack_entries(out[4][7:], 64, 7) == vals
    assert out[6][4:] == bytes([1, SpiErr.CS_MID_BYTE])
    assert target.regs[0].get("VREAD", "code") == 0x33
    assert starts == [0b10]
    assert out[9][4:] == bytes([0, 0b10])


def test_one_core_chip():
    frames = [
        (frame_reg_read(0xFE, CHIPMAP.reg("N_CORES").addr), 0),
        (frame_reg_write(1, 1, 1), 0),                    # core 1 does not exist
        (frame_rf_write(0, 1, 0, list(range(256)), 8), 0),
        (frame_rf_read(0, 1, 250, 6, 8), 0),
        (frame_reg_write(0, CORE.reg("VREAD").addr, 0x7F), 0),
    ]
    out, model, target, _ = _run_chip(1, frames)
    assert out[0][4:] == bytes([0, 1])
    assert model.err_code == SpiErr.ADDR_RANGE
    assert out[3][7:] == bytes(range(250, 256))

"""RegBlock against its golden RegisterModel, both address maps."""

import gc

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from rtl import regmap
from rtl.regblock import RegBlock, RegisterModel


# Objects built only to inspect their signature (or whose constructor raises) are never
# elaborated; Amaranth's reminder about that is noise here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _hw_fields(amap, kind):
    return [(r.name.lower(), f) for r in amap.registers for f in r.fields if f.kind == kind]


def test_member_names():
    rb = RegBlock("neurram_core")
    assert len(rb.hw.ctrl.mode) == 2
    assert len(rb.hw.status.err) == 4
    assert len(rb.hw.cmd.start) == 1
    assert rb.hw.bits.in_bits.init == 4
    assert not hasattr(rb.hw, "id")
    flow = rb.signature.members["hw"].signature.members["status"].signature.members["busy"].flow
    assert flow.name == "In"
    Fragment.get(rb, None)
    with pytest.raises(TypeError):
        RegBlock(42)
    with pytest.raises(ValueError):
        RegBlock("nope")
    gc.collect()   # the reminders fire now, under this module's filter


def test_model_semantics():
    m = RegisterModel("neurram_core")
    assert m.read(0x00) == 0x4E43
    assert m.read(0x01) == 0x0100
    assert m.read(0x02) == (5 << 12) | (3 << 8) | (6 << 4) | 4
    assert not m.write(0x00, 0x1234) and m.read(0x00) == 0x4E43
    assert not m.write(0x0E, 0xFFFF)
    assert not m.write(0x40, 1) and m.read(0x40) == 0
    assert m.write(0x0D, 0b101) and m.pulses == {("cmd", "start"), ("cmd", "lfsr_load")}
    assert m.read(0x0D) == 0
    m.set_hw("STATUS", "err", 3)
    assert m.read(0x0E) == 3 << 4
    assert m.write(0x03, 0xFFFF) and m.read(0x03) == 0x1FF  # n_rows is 9 bits


@pytest.mark.parametrize("mapname", regmap.ADDRMAPS)
def test_random_against_model(mapname):
    seed = 1234 + regmap.ADDRMAPS.index(mapname)
    print("seed", seed)
    rng = np.random.default_rng(seed)
    amap = regmap.load(mapname)
    dut = RegBlock(amap)
    model = RegisterModel(amap)
    ins = _hw_fields(amap, "in")
    pulses = _hw_fields(amap, "pulse")
    outs = _hw_fields(amap, "out")
    addrs = [r.addr for r in amap.registers] + [0x3F, 0xFF, len(amap.registers)]

    async def tb(ctx):
        for step in range(300):
            # hardware-driven inputs change at random
            for reg, f in ins:
                if rng.random() < 0.2:
                    v = int(rng.integers(0, 1 << f.width))
                    ctx.set(getattr(getattr(dut.hw, reg), f.name), v)
                    model.set_hw(reg, f.name, v)
            addr = int(rng.choice(addrs))
            data = int(rng.integers(0, 1 << 16))
            if rng.random() < 0.5:
                ctx.set(dut.addr, addr)
                ctx.set(dut.wdata, data)
                ctx.set(dut.we, 1)
                expect_ok = model.write(addr, data)
                assert ctx.get(dut.wr_ro) == (0 if expect_ok else 1)
                await ctx.tick()
                ctx.set(dut.we, 0)
                for reg, f in pulses:
                    got = ctx.get(getattr(getattr(dut.hw, reg), f.name))
                    assert got == ((reg, f.name) in model.pulses), (reg, f.name)
                await ctx.tick()
                for reg, f in pulses:
                    assert ctx.get(getattr(getattr(dut.hw, reg), f.name)) == 0
            else:
                ctx.set(dut.addr, addr)
                ctx.set(dut.re, 1)
                await ctx.tick()
                ctx.set(dut.re, 0)
                ctx.set(dut.addr, int(rng.integers(0, 256)))  # rdata must be held
                await ctx.tick()
                assert ctx.get(dut.rdata) == model.read(addr), hex(addr)
            for reg, f in outs:
                assert ctx.get(getattr(getattr(dut.hw, reg), f.name)) == model.get(reg, f.name)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()

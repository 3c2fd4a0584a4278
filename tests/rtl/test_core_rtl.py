"""Core: elaborates, and runs operations through its register bus in the Amaranth simulator.

The bus is driven the way the frame decoder drives it (register writes, staged
register-file bursts with commit, reads); the analog side answers COMPAREs from a
script; events and read-back results are checked against ControllerModel.
"""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl import regmap
from rtl.analog_bus import N_LINES, EventKind
from rtl.controller import CONFIG_FIELDS, ControllerModel, CoreConfig, sequence_events
from rtl.core import Core

from harness import CLK_NS, decode_event, delay_line_model, pack_bits, scripted_cmp

AMAP = regmap.load("neurram_core")


def config_words(cfg: CoreConfig) -> dict[int, int]:
    words = {}
    for name, reg, fld, _, _ in CONFIG_FIELDS:
        r = AMAP.reg(reg.upper())
        words[r.addr] = r.field(fld).put(words.get(r.addr, 0), getattr(cfg, name))
    return words


def run_core(ops):
    """ops: ("mvm", cfg, bl, sl, cmp_fn) or ("lfsr_load", seed_a, seed_b)."""
    dut = Core(3, macro=False)
    bus, a = dut.bus, dut.analog
    out = []
    widths = []
    addr = {r.name: r.addr for r in AMAP.registers}

    async def pulse_meter(ctx):
        while True:
            await ctx.posedge(a.wl_pulse)
            await ctx.delay(0.5e-9)
            n = 0
            while ctx.get(a.wl_pulse):
                n += 1
                await ctx.delay(1e-9)
            widths.append(n)

    async def tb(ctx):
        async def reg_write(ad, data):
            ctx.set(bus.addr, ad)
            ctx.set(bus.wdata, data)
            ctx.set(bus.we, 1)
            await ctx.tick()
            ctx.set(bus.we, 0)

        async def reg_read(ad):
            ctx.set(bus.addr, ad)
            ctx.set(bus.re, 1)
            await ctx.tick()
            ctx.set(bus.re, 0)
            return ctx.get(bus.rdata)

        known = [np.zeros(N_LINES, np.int64), np.zeros(N_LINES, np.int64)]   # after reset

        async def rf_write(sel, entries):
            # Stage only the entries that differ from what the file is known to hold: a
            # shorter burst, the same committed contents.
            ctx.set(bus.rf_sel, sel)
            for i in np.flatnonzero(np.asarray(entries) != known[sel]):
                ctx.set(bus.rf_we, 1)
                ctx.set(bus.rf_index, int(i))
                ctx.set(bus.rf_wdata, int(entries[i]))
                await ctx.tick()
            known[sel] = np.array(entries, dtype=np.int64)
            ctx.set(bus.rf_we, 0)
            ctx.set(bus.rf_commit, 1)
            await ctx.tick()
            ctx.set(bus.rf_commit, 0)

        async def rf_read(sel):
            vals = [0]
            ctx.set(bus.rf_sel, sel)
            ctx.set(bus.rf_re, 1)
            for i in range(N_LINES):
                ctx.set(bus.rf_index, i)
                await ctx.tick()
                if i:
                    vals.append(ctx.get(bus.rf_rdata))
            ctx.set(bus.rf_index, 0)
            await ctx.tick()
            vals[0] = ctx.get(bus.rf_rdata)      # rdata of entry 0 once more (pipelined read)
            ctx.set(bus.rf_re, 0)
            known[sel] = np.array(vals, dtype=np.int64)
            return known[sel].copy()

        await ctx.tick()
        # Idle after reset: the controller's clock is stopped.
        for _ in range(3):
            await ctx.tick()
        status = await reg_read(addr["STATUS"])
        assert status & (1 << 8), "clk_gated while idle"
        last_seq = ctx.get(a.ev_seq)
        for op in ops:
            res = {"events": []}
            out.append(res)
            if op[0] == "lfsr_load":
                await reg_write(addr["SEED_A"], op[1])
                await reg_write(addr["SEED_B"], op[2])
                await reg_write(addr["CMD"], 0b100)
                for _ in range(3):
                    await ctx.tick()
                continue
            cfg, bl, sl, cmp_fn, read = op[1:]
            await rf_write(0, bl)
            await rf_write(1, sl)
            for ad, w in config_words(cfg).items():
                await reg_write(ad, w)
            wl_first = len(widths)
            await reg_write(addr["CMD"], 1)
            n_cmp, seen_busy, cycles = 0, False, 0
            while True:
                await ctx.tick()
                cycles += 1
                seq = ctx.get(a.ev_seq)
                if seq != last_seq:
                    assert seq == (last_seq + 1) % 256
                    last_seq = seq
                    ev = decode_event(ctx, a, ctx.get(a.ev_kind))
                    res["events"].append(ev)
                    if ev.kind == EventKind.COMPARE:
                        ctx.set(a.cmp, pack_bits(cmp_fn(n_cmp)))
                        n_cmp += 1
                busy = ctx.get(dut.busy)
                seen_busy |= bool(busy)
                if (seen_busy and not busy) or (cycles > 5 and not seen_busy):
                    break
                assert cycles < 100_000
            for _ in range(3):
                await ctx.tick()
            for e, w in zip([e for e in res["events"] if e.kind == EventKind.WL_PULSE],
                            widths[wl_first:]):
                e.width_ns = float(w)
            res["cycles"] = cycles
            res["status"] = await reg_read(addr["STATUS"])
            res["bl"] = await rf_read(0) if "bl" in read else None
            res["sl"] = await rf_read(1) if "sl" in read else None

    sim = Simulator(dut)
    sim.add_clock(CLK_NS * 1e-9)
    sim.add_testbench(delay_line_model(dut), background=True)
    sim.add_testbench(pulse_meter, background=True)
    sim.add_testbench(tb)
    sim.run()
    return out


def _check(ops, results):
    model = ControllerModel()
    for op, res in zip(ops, results):
        if op[0] == "lfsr_load":
            model.load_lfsr(op[1], op[2])
            continue
        cfg, bl, sl, cmp_fn, read = op[1:]
        bl, sl = bl.copy(), sl.copy()
        evs = sequence_events(cfg, bl, sl, cmp_fn, model=model)
        # PROG_END's width is measured by the cosim adapter, not by this harness.
        got = [e for e in res["events"] if e.kind != EventKind.PROG_END]
        want = [e for e in evs if e.kind != EventKind.PROG_END]
        assert got == want, cfg
        assert len(res["events"]) == len(evs)
        for name, arr in (("bl", bl), ("sl", sl)):
            if name in read:
                assert np.array_equal(res[name], arr), name
        status = res["status"]
        assert status & 1 == 0                                   # not busy
        assert (status >> 1) & 1 == int(model.done)
        assert (status >> 4) & 0xF == model.err
        assert (status >> 8) & 1 == 1                            # clock gated again


def _sparse(rng, n, hi):
    v = np.zeros(N_LINES, np.int64)
    v[:n] = rng.integers(0, hi, n)
    return v


def test_core_mvm_through_bus():
    """LFSR load, a stochastic forward MVM on 40 rows, a refused start."""
    rng = np.random.default_rng(21)
    cfg = CoreConfig(mode=3, in_bits=3, out_bits=4, integ_cyc=2, stoch=1, noise_steps=2,
                     vdecr=1000, wl_ns=4, n_rows=40)
    z = np.zeros(N_LINES, np.int64)
    ops = [("lfsr_load", 0x1234, 0x4321),
           ("mvm", cfg, _sparse(rng, 40, 8), z, scripted_cmp(1), ("sl",)),
           ("mvm", CoreConfig(mode=3, in_bits=0), z, z, scripted_cmp(3), ())]
    results = run_core(ops)
    _check(ops, results)
    assert any(e.kind == EventKind.NOISE for e in results[1]["events"])
    assert results[2]["status"] >> 4 & 0xF == 1


@pytest.mark.slow
def test_core_recurrent_two_phase_program():
    rng = np.random.default_rng(22)
    rec = CoreConfig(mode=3, dir=2, in_bits=6, two_phase=1, split=2, out_bits=6,
                     out_bits_lsb=3, integ_cyc=1, act=1)
    bwd = CoreConfig(mode=3, dir=1, in_bits=4, out_bits=5, integ_cyc=1, act=3)
    prog = CoreConfig(mode=1, prog_op=1, prog_row=17, prog_col=200, prog_cycles=3, prog_amp=9)
    ops = [("mvm", rec, rng.integers(0, 64, N_LINES), rng.integers(0, 1024, N_LINES),
            scripted_cmp(5), ("bl", "sl")),
           ("mvm", bwd, rng.integers(0, 1024, N_LINES), rng.integers(0, 16, N_LINES),
            scripted_cmp(6), ("bl",)),
           ("mvm", prog, rng.integers(0, 8, N_LINES), rng.integers(0, 1024, N_LINES),
            scripted_cmp(4), ("bl", "sl"))]
    _check(ops, run_core(ops))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_core_args():
    Core(47)
    with pytest.raises(ValueError, match="0..47"):
        Core(48)    # the chip registers select and report 48 cores (rtl.contract.MAX_CORES)
    with pytest.raises(TypeError):
        Core("0")
    gc.collect()   # the unused cores warn when collected: here, under this test's filter

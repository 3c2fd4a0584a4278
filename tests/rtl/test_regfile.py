"""RegisterFile against RegisterFileModel: staging, commit/abort, decoder, write-back."""

import time

import numpy as np
from amaranth.sim import Simulator

from rtl.regfile import N_ENTRIES, RegisterFile, RegisterFileModel


def _bits(arr) -> int:
    return int(sum(1 << i for i, b in enumerate(arr) if b))


def _q_of(ctx, dut):
    flat = ctx.get(dut.q.as_value())
    return np.array([(flat >> (10 * i)) & 0x3FF for i in range(N_ENTRIES)])


def test_model_basics():
    f = RegisterFileModel()
    f.stage(3, 0x155)
    assert f.read(3) == 0 and f.pending[3]
    f.commit()
    assert f.read(3) == 0x155 and not f.pending.any()
    f.stage(4, 7)
    f.abort()
    assert f.read(4) == 0
    f.dec_load(9)
    assert f.q.sum() == 1 and f.read(9) == 1
    mask = np.zeros(256, bool)
    mask[[1, 2]] = True
    f.write_bit(mask, 9, mask)
    assert f.read(1) == 512 and f.read(9) == 1
    f.clear(mask)
    assert f.read(1) == 0


def test_random_against_model():
    seed = 20260
    print("seed", seed)
    rng = np.random.default_rng(seed)
    dut = RegisterFile()
    model = RegisterFileModel()
    ports = ["index", "wdata", "stage_we", "commit", "abort", "re", "dec_load", "dec_addr",
             "wr_clear", "wr_en", "wr_bit"]

    async def tb(ctx):
        for step in range(600):
            kw = {p: 0 for p in ports}
            op = rng.choice(["stage", "stage", "stage", "commit", "abort", "read", "dec",
                             "wr", "clear", "mixed"])
            kw["index"] = int(rng.integers(0, 256))
            kw["wdata"] = int(rng.integers(0, 1024))
            mask = rng.random(256) < 0.3
            wr_data = rng.random(256) < 0.5
            if op == "stage":
                kw["stage_we"] = 1
            elif op == "commit":
                kw["commit"] = 1
            elif op == "abort":
                kw["abort"] = 1
            elif op == "read":
                kw["re"] = 1
            elif op == "dec":
                kw["dec_load"] = 1
                kw["dec_addr"] = int(rng.integers(0, 256))
            elif op == "wr":
                kw["wr_en"] = 1
                kw["wr_bit"] = int(rng.integers(0, 10))
            elif op == "clear":
                kw["wr_clear"] = 1
            else:  # several strobes in one cycle exercise the priority order
                for p in ("stage_we", "commit", "abort", "re", "dec_load", "wr_clear", "wr_en"):
                    kw[p] = int(rng.random() < 0.4)
                kw["wr_bit"] = int(rng.integers(0, 16))
                kw["dec_addr"] = int(rng.integers(0, 256))
            for p, v in kw.items():
                ctx.set(getattr(dut, p), v)
            ctx.set(dut.wr_mask, _bits(mask))
            ctx.set(dut.wr_data, _bits(wr_data))
            model.cycle(**{k: (bool(v) if k not in ("index", "wdata", "dec_addr", "wr_bit") else v)
                           for k, v in kw.items()}, wr_mask=mask, wr_data=wr_data)
            await ctx.tick()
            if kw["re"]:
                assert ctx.get(dut.rdata) == model.rdata
            if step % 25 == 0 or op in ("dec", "mixed", "commit"):
                assert (_q_of(ctx, dut) == model.q).all(), (step, op)
        # drain: commit everything still pending and compare
        for p in ports:
            ctx.set(getattr(dut, p), 0)
        ctx.set(dut.commit, 1)
        model.cycle(commit=True)
        await ctx.tick()
        assert (_q_of(ctx, dut) == model.q).all()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    t = time.time()
    sim.run()
    print("sim time", time.time() - t)


def test_full_burst_commit_in_one_cycle():
    dut = RegisterFile()
    rng = np.random.default_rng(7)
    values = rng.integers(0, 1024, 256)

    async def tb(ctx):
        for i, v in enumerate(values):
            ctx.set(dut.index, i)
            ctx.set(dut.wdata, int(v))
            ctx.set(dut.stage_we, 1)
            await ctx.tick()
        ctx.set(dut.stage_we, 0)
        assert (_q_of(ctx, dut) == 0).all()
        ctx.set(dut.commit, 1)
        await ctx.tick()
        ctx.set(dut.commit, 0)
        assert (_q_of(ctx, dut) == values).all()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()

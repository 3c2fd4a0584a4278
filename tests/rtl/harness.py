"""Amaranth-simulator harness for the controller: records the analog-bus events.

The harness plays the analog side the way the cosim adapter does: it decodes an
:class:`AnalogEvent` at every change of ``ev_seq``, answers COMPARE events with scripted
comparator bits, measures each WL pulse in simulation time (the delay line is modelled
with ``ctx.delay(1e-9)`` steps), and emulates the two register files' hardware ports
(decoder load, clear, bit write-back) on numpy arrays.
"""

from __future__ import annotations


import numpy as np
from amaranth.sim import Simulator

from rtl.analog_bus import FIELDS_BY_KIND, N_LINES, AnalogEvent, EventKind
from rtl.controller import CONFIG_FIELDS, Controller, CoreConfig
from rtl.contract.constants import CLK_NS
from rtl.pulsegen import N_TAPS


def unpack_bits(value: int, n: int = N_LINES) -> np.ndarray:
    raw = np.frombuffer(int(value).to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n].astype(bool)


def pack_bits(bits) -> int:
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little")
                          .tobytes(), "little")


def unpack_levels(value: int) -> np.ndarray:
    bits = unpack_bits(value, 3 * N_LINES).reshape(N_LINES, 3).astype(np.uint8)
    return (bits[:, 0] | (bits[:, 1] << 1) | (bits[:, 2] << 2)).astype(np.uint8)


def pack_entries(entries) -> int:
    v = 0
    for i, e in enumerate(np.asarray(entries, dtype=np.int64)):
        v |= int(e) << (10 * i)
    return v


def scripted_cmp(seed: int):
    """Comparator script: bits of the i-th COMPARE, a pure function of (seed, i)."""
    def cmp_fn(i: int) -> np.ndarray:
        return np.random.default_rng([seed, i]).integers(0, 2, N_LINES).astype(bool)
    return cmp_fn


def decode_event(ctx, a, kind) -> AnalogEvent:
    """The AnalogEvent the bus ``a`` announces now (the fields of FIELDS_BY_KIND)."""
    ev = AnalogEvent(EventKind(kind))
    for name in FIELDS_BY_KIND.get(EventKind(kind), ()):
        if name == "width_ns":       # measured separately, in simulation time
            continue
        sig = getattr(a, name)
        v = ctx.get(sig.as_value() if name in ("bl_drv", "sl_drv") else sig)
        if name in ("bl_drv", "sl_drv"):
            v = unpack_levels(v)
        elif name in ("wl_en", "noise"):
            v = unpack_bits(v)
        elif name in ("bl_sel", "sl_sel", "power_down"):
            v = bool(v)
        setattr(ev, name, v)
    return ev


def delay_line_model(dut):
    """Background testbench: ``delay_taps[t]`` follows ``delay_a`` after (t+1) ns."""
    async def model(ctx):
        taps = 0
        while True:
            if not ctx.get(dut.delay_a):
                await ctx.posedge(dut.delay_a)
            for level in (1, 0):
                for t in range(N_TAPS):
                    await ctx.delay(1e-9)
                    taps = taps | (1 << t) if level else taps & ~(1 << t)
                    ctx.set(dut.delay_taps, taps)
                # `armed` lasts one 10 ns cycle and may fall in the instant the last tap
                # rises: look before waiting so the fall is never missed.
                if level and ctx.get(dut.delay_a):
                    await ctx.negedge(dut.delay_a)
    return model


class ControllerBench:
    """Runs a list of operations on one :class:`Controller` in the Amaranth simulator.

    ``ops`` is a list of ``("start", cfg, bl, sl, cmp_fn)``, ``("abort_after", cfg, bl, sl,
    cmp_fn, n_events)``, ``("lfsr_load", seed_a, seed_b)`` or ``("power", enable)``.
    Results per op: ``events`` (list of AnalogEvent), ``bl``/``sl`` after the op,
    ``cycles`` (start seen to done), ``err``, ``done``.
    """

    def __init__(self):
        self.dut = Controller(macro=False)
        self.results: list[dict] = []

    def run(self, ops):
        dut = self.dut
        a = dut.analog
        widths: list[int] = []
        results = self.results

        async def pulse_meter(ctx):
            while True:
                await ctx.posedge(a.wl_pulse)
                await ctx.delay(0.5e-9)        # sample between the ns marks
                n = 0
                while ctx.get(a.wl_pulse):
                    n += 1
                    await ctx.delay(1e-9)
                widths.append(n)

        def set_cfg(ctx, cfg: CoreConfig):
            for name, *_ in CONFIG_FIELDS:
                ctx.set(getattr(dut.cfg, name), getattr(cfg, name))

        def decode(ctx, kind) -> AnalogEvent:
            return decode_event(ctx, a, kind)

        async def tb(ctx):
            files = [np.zeros(N_LINES, np.int64), np.zeros(N_LINES, np.int64)]

            def push_files():
                ctx.set(dut.bl_q.as_value(), pack_entries(files[0]))
                ctx.set(dut.sl_q.as_value(), pack_entries(files[1]))

            set_cfg(ctx, CoreConfig())       # the register reset values, as in a core
            last_seq = ctx.get(a.ev_seq)
            for op in ops:
                res = {"events": [], "op": op[0]}
                results.append(res)
                if op[0] == "lfsr_load":
                    ctx.set(dut.cfg.seed_a, op[1])
                    ctx.set(dut.cfg.seed_b, op[2])
                    ctx.set(dut.lfsr_load, 1)
                    await ctx.tick()
                    ctx.set(dut.lfsr_load, 0)
                    await ctx.tick()
                    continue
                if op[0] == "power":
                    ctx.set(dut.cfg.power_enable, int(op[1]))
                    for _ in range(3):
                        await ctx.tick()
                        seq = ctx.get(a.ev_seq)
                        if seq != last_seq:
                            res["events"].append(decode(ctx, ctx.get(a.ev_kind)))
                            last_seq = seq
                    continue
                cfg, bl, sl, cmp_fn = op[1:5]
                abort_after = op[5] if op[0] == "abort_after" else None
                files[0][:] = bl
                files[1][:] = sl
                push_files()
                set_cfg(ctx, cfg)
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                await ctx.tick()     # the controller's command capture register
                n_cmp = 0
                cycles = 1
                prog_begin = None
                wl_first = len(widths)
                # After each edge: decode a new event, then play the register files'
                # hardware ports (the files sample them at the next edge).
                while True:
                    seq = ctx.get(a.ev_seq)
                    if seq != last_seq:
                        assert seq == (last_seq + 1) % 256, "one event per cycle at most"
                        last_seq = seq
                        ev = decode(ctx, ctx.get(a.ev_kind))
                        res["events"].append(ev)
                        if ev.kind == EventKind.COMPARE:
                            ctx.set(a.cmp, pack_bits(cmp_fn(n_cmp)))
                            n_cmp += 1
                        elif ev.kind == EventKind.PROG_BEGIN:
                            prog_begin = cycles
                        elif ev.kind == EventKind.PROG_END:
                            ev.width_ns = float(CLK_NS * (cycles - prog_begin))
                        if abort_after is not None and len(res["events"]) == abort_after:
                            ctx.set(dut.abort, 1)
                            await ctx.tick()
                            ctx.set(dut.abort, 0)
                            cycles += 1
                            continue
                    changed = False
                    f = ctx.get(dut.wr_file)
                    if ctx.get(dut.dec_load):
                        files[0][:] = 0
                        files[0][ctx.get(dut.dec_row)] = 1
                        files[1][:] = 0
                        files[1][ctx.get(dut.dec_col)] = 1
                        changed = True
                    elif ctx.get(dut.wr_clear):
                        files[f][:] = 0
                        changed = True
                    elif ctx.get(dut.wr_en):
                        b = 1 << ctx.get(dut.wr_bit)
                        d = unpack_bits(ctx.get(dut.wr_data))
                        files[f][:] = np.where(d, files[f] | b, files[f] & ~b)
                        changed = True
                    if not ctx.get(dut.busy):
                        break
                    await ctx.tick()
                    cycles += 1
                    if changed:
                        push_files()
                    if cycles > 200_000:
                        raise AssertionError("operation did not finish")
                for _ in range(3):       # the last WL pulse measurement completes
                    await ctx.tick()
                wl = [e for e in res["events"] if e.kind == EventKind.WL_PULSE]
                for e, w in zip(wl, widths[wl_first:]):
                    e.width_ns = float(w)
                assert len(widths) - wl_first == len(wl)
                res.update(bl=files[0].copy(), sl=files[1].copy(), cycles=cycles,
                           err=ctx.get(dut.err), done=ctx.get(dut.done))

        sim = Simulator(dut)
        sim.add_clock(CLK_NS * 1e-9)
        sim.add_testbench(delay_line_model(dut), background=True)
        sim.add_testbench(pulse_meter, background=True)
        sim.add_testbench(tb)
        sim.run()
        return self.results

"""A CMD write with start and abort in the same frame: abort wins, in IDLE as when busy.

Amaranth simulator on the bare controller; the golden rule is
:func:`rtl.controller_model.start_taken` (cosim.golden and the fuzzer use it).
"""

from amaranth.sim import Simulator

from harness import delay_line_model
from rtl.contract.constants import CLK_NS
from rtl.controller import CONFIG_FIELDS, CfgErr, Controller, CoreConfig, mvm_cycles
from rtl.controller_model import start_taken

LEGAL = CoreConfig(mode=3, in_bits=4, out_bits=4, sample_cyc=1, integ_cyc=8)
ILLEGAL = CoreConfig(mode=3, in_bits=9, out_bits=4)


def _run(script):
    """``script(ctx, dut, step)`` drives the controller; ``step(start, abort, cfg)`` writes
    one command (one cycle) and returns nothing."""
    dut = Controller(macro=False)
    log = []

    async def tb(ctx):
        def set_cfg(cfg):
            for name, *_ in CONFIG_FIELDS:
                ctx.set(getattr(dut.cfg, name), getattr(cfg, name))

        async def command(start, abort, cfg=None):
            if cfg is not None:
                set_cfg(cfg)
            ctx.set(dut.start, int(start))
            ctx.set(dut.abort, int(abort))
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.abort, 0)

        async def ticks(n):
            for _ in range(n):
                await ctx.tick()

        def status():
            return {"busy": ctx.get(dut.busy), "done": ctx.get(dut.done),
                    "err": ctx.get(dut.err), "seq": ctx.get(dut.analog.ev_seq)}

        set_cfg(CoreConfig())
        await ticks(2)
        await script(command, ticks, status, log)

    sim = Simulator(dut)
    sim.add_clock(CLK_NS * 1e-9)
    sim.add_testbench(delay_line_model(dut), background=True)
    sim.add_testbench(tb)
    sim.run()
    return log


def test_golden_rule():
    assert start_taken(True, False)
    assert not start_taken(True, True)
    assert not start_taken(False, True) and not start_taken(False, False)


def test_start_with_abort_in_idle_changes_nothing():
    async def script(command, ticks, status, log):
        before = status()
        await command(1, 1, LEGAL)           # a legal start, with an abort
        await ticks(4)
        log.append(("legal", before, status()))
        await command(1, 0, LEGAL)           # a plain start still works ...
        await ticks(mvm_cycles(LEGAL) + 2)
        done = status()
        log.append(("complete", None, done))
        await command(1, 1, ILLEGAL)         # ... and a refused start with an abort is
        await ticks(4)                       # not refused either: STATUS keeps done
        log.append(("illegal", done, status()))

    log = _run(script)
    _, before, after = log[0]
    assert after == before and after["busy"] == 0, log[0]
    _, _, done = log[1]
    assert done["done"] == 1 and done["err"] == 0 and done["busy"] == 0, log[1]
    _, before, after = log[2]
    assert after == before, log[2]


def test_start_with_abort_while_busy_aborts():
    async def script(command, ticks, status, log):
        await command(1, 0, LEGAL)
        await ticks(10)
        log.append(status())
        await command(1, 1, LEGAL)
        await ticks(1)                       # capture register + the state's guard
        log.append(status())

    running, after = _run(script)
    assert running["busy"] == 1
    # Aborted: idle, not done, and the start was not refused as BUSY.
    assert after["busy"] == 0 and after["done"] == 0 and after["err"] == CfgErr.OK


def test_golden_start_while_busy():
    from rtl.controller import ControllerModel

    m = ControllerModel()
    m.done = True
    assert m.start_while_busy() == CfgErr.BUSY and m.err == CfgErr.BUSY and m.done

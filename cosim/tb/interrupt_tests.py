"""Directed interrupts and interlocks of a running core, at the pins.

Aborts timed to the cycle: CMD.abort landing in the controller's one- and two-cycle states;
and the register-file interlock: a burst into a busy core is refused.

The fuzzer's abort arrives at a random time at least one SPI frame after the start, so
the states that last one or two cycles (a noise step, the programming pulse's end, the
second segment's reset, ...) are rarely or never met. :func:`abort_short_states` times
the abort frame instead: the start and the abort are the same five-byte CMD write, so
they travel the same path (frame decoder, register block, clock-gate crossing, command
capture) and an abort frame issued ``t - 1`` cycles after the start frame is seen by the
controller in the state it occupies ``t`` cycles after the start input. That cycle comes
from the contract's cycle counts (:func:`~rtl.contract.config.mvm_cycles`,
:func:`~rtl.contract.config.program_cycles`) and the state sequence documented in
``rtl/controller.py``:

* a programming pulse ends at cycle ``n = program_cycles(cfg)`` in PEND (announced
  PROG_END), after the PULSE cycles (PROG_BEGIN);
* an MVM's last conversion ends at ``n = mvm_cycles(cfg)`` with COMPARE, CWAIT, LATCH,
  WR (cycles ``n-3 .. n``); before it each further output bit takes DECR, MINTEG
  (``integ_cyc``), COMPARE, CWAIT, LATCH, WR, and before the first compare the noise steps
  NOISE, NGAP alternate; the second segment of a two-phase MVM starts with RESET right
  after the first segment's ``mvm_cycles`` of its own.

For every target the test checks that the core is idle after the abort frame, that the
last announced event names the state met (and, for PEND, that done stayed 0), samples the
functional-coverage bin, then recovers as the fuzzer does (register files, conductances,
STATUS copied from the chip, LFSR reloaded on both), compares the whole state with the
golden model and runs one complete operation that must agree with it.

The states within the first four cycles of an operation (PDEC, PWAIT, PDRV, the first
segment's RESET) cannot be met by an abort at the pins: a second CMD frame needs at least
``5 * 8`` SCLK periods (160 cycles at the fastest allowed SCLK) after the first. The
abort proof (formal/controller.py) covers them.

:func:`burst_into_busy_core`: while an MVM runs, an RF_WRITE into either file (core 0 or
broadcast) is refused with SPI_ERR CORE_BUSY and changes nothing, while register writes
and reads are served and a second start is refused with STATUS.err BUSY; after the MVM the outputs equal the golden model's (the refused
bursts never reached the files) and the same burst then lands.
"""

from __future__ import annotations

import dataclasses

import cocotb
from cocotb.triggers import Timer

from cosim.tb import fcov
from cosim.tb.fuzz_tests import CLK_NS, CMD, FuzzTB
from cosim.tb.spi_tests import REG_CMD
from firmware import lowlevel as ll
from rtl.analog_bus import EventKind, Mode, ProgOp
from rtl.contract.config import (RANGE_CHECKS, CoreConfig, mvm_cycles, op_cycles, program_cycles,
                                 validate)
from rtl.contract.registers import CfgErr, SpiErr

# The state sequence of the last conversion of a segment (rtl/controller.py).
CONVERSION = ("COMPARE", "CWAIT", "LATCH", "WR")
# The event each state's cycle shows on ev_kind (the last one announced before it; the
# SETUP of a segment's first plane, SETUP0, shows RESET, that of a later plane INTEG).
SHOWN = {"PULSE": "PROG_BEGIN", "PEND": "PROG_END", "NOISE": "NOISE", "NGAP": "NOISE",
         "COMPARE": "COMPARE", "CWAIT": "COMPARE", "LATCH": "LATCH", "WR": "WR",
         "DECR": "DECR", "MINTEG": "INTEG", "RESET": "RESET", "SETUP0": "RESET", "SETUP": "INTEG",
         "WL": "WL_PULSE", "SAMPLE": "SAMPLE", "IDLE": None}

PROG = CoreConfig(mode=Mode.PROGRAM, prog_op=ProgOp.SET, prog_amp=60, prog_row=17,
                  prog_col=201, prog_cycles=200)
# 5 planes (31 sample / integrate pairs): the last plane and the noise steps lie beyond
# one frame after the start.
STOCH = CoreConfig(mode=Mode.MVM, in_bits=5, in_signed=0, out_bits=3, sample_cyc=2,
                   integ_cyc=12, stoch=1, noise_steps=2, vnoise=20, n_rows=256)
TWO_PHASE = CoreConfig(mode=Mode.MVM, in_bits=7, in_signed=0, out_bits=2, two_phase=1,
                       split=2, out_bits_lsb=2, sample_cyc=1, integ_cyc=12, n_rows=256)


def first_segment_alone(c: CoreConfig) -> CoreConfig:
    """A one-segment configuration whose conversion is ``c``'s first segment."""
    seg = c.segments()[0]
    return dataclasses.replace(c, two_phase=0, in_bits=seg.planes, in_signed=0,
                               out_bits=seg.out_bits)


def planes_end(c: CoreConfig, planes: int) -> int:
    """Cycle (after the start input) of the last INTEG of plane ``planes - 1``: a
    conversion (COMPARE, CWAIT, LATCH, WR) of one bit follows it in ``c`` cut to
    ``planes`` planes, no noise, one output bit."""
    cut = dataclasses.replace(c, in_bits=planes, in_signed=0, two_phase=0, stoch=0,
                              out_bits=1)
    return mvm_cycles(cut) - len(CONVERSION)


def targets() -> list[tuple[str, CoreConfig, int]]:
    """(state, configuration, cycle after the start input at which the state is met)."""
    n = program_cycles(PROG)
    out = [("PULSE", PROG, n - 1), ("PEND", PROG, n), ("IDLE", PROG, n + 1)]
    last = STOCH.in_bits - 1                   # the last plane: SETUP, WL, SAMPLE x s
    setup = planes_end(STOCH, last) + 1
    out += [("SETUP", STOCH, setup), ("WL", STOCH, setup + 1), ("SAMPLE", STOCH, setup + 2),
            ("SAMPLE", STOCH, setup + 1 + STOCH.sample_cyc)]
    n = mvm_cycles(STOCH)
    k, i = STOCH.out_bits, STOCH.integ_cyc
    per_bit = 1 + i + len(CONVERSION)          # DECR, MINTEG (integ_cyc), a conversion
    noise_end = n - len(CONVERSION) - (k - 1) * per_bit     # the last NGAP
    first_noise = noise_end - 2 * STOCH.noise_steps + 1
    out += [("NOISE", STOCH, first_noise), ("NGAP", STOCH, first_noise + 1),
            ("NOISE", STOCH, noise_end - 1), ("NGAP", STOCH, noise_end)]
    out += [(s, STOCH, noise_end + 1 + j) for j, s in enumerate(CONVERSION)]
    decr = noise_end + len(CONVERSION) + 1
    out += [("DECR", STOCH, decr), ("MINTEG", STOCH, decr + 1),
            ("MINTEG", STOCH, decr + i), ("WR", STOCH, n), ("IDLE", STOCH, n + 1)]
    reset2 = mvm_cycles(first_segment_alone(TWO_PHASE)) + 1
    out += [("WR", TWO_PHASE, reset2 - 1), ("RESET", TWO_PHASE, reset2),
            ("SETUP0", TWO_PHASE, reset2 + 1)]
    return out


class InterruptTB(FuzzTB):
    """FuzzTB with aborts issued at a given cycle after the start."""

    async def timed_abort(self, state: str, c: CoreConfig, t: int) -> None:
        what = f"abort in {state} at cycle {t} of {Mode(c.mode).name}"
        await self.configure(c)
        if c.mode != Mode.PROGRAM:
            await self.inputs(c)
        start = ll.encode_reg_write(0, REG_CMD, CMD["start"])
        abort = ll.encode_reg_write(0, REG_CMD, CMD["abort"])
        assert len(start) == len(abort)
        c0 = self.tb.cycles()
        await self.both(start)             # the golden model runs it to completion
        wait = c0 + t - 1 - self.tb.cycles()
        assert wait >= 0, f"{what}: the start frame alone takes {t - 1 - wait} cycles"
        # Frames are issued right after a clock edge (the wake-up at the end of the last
        # frame); half a cycle more keeps this one from racing the edge it lands on.
        await self.tb.spi.idle((wait + 0.5) * CLK_NS)
        assert self.tb.cycles() - c0 == t - 1, f"{what}: SPI master off the clock phase"
        await self.tb.frame(abort)
        st = await self.status()
        assert not st["busy"], f"{what}: busy after the abort frame"
        shown = EventKind(int(self.dut.analog__ev_kind.value)).name
        if SHOWN[state] is not None:
            assert shown == SHOWN[state] and not st["done"], (
                f"{what}: last event {shown}, done {st['done']}: the abort met another state")
        else:
            assert st["done"], f"{what}: the operation had not finished"
        fcov.sample_operation(c, "abort", fcov.state_name(int(self.dut.analog__ev_kind.value),
                                                          not st["done"]))
        await self.resync(registers=False)
        await self.check_state()
        self.count(what)


    async def start_lead(self) -> int:
        """Cycles from a start frame's request to the controller's start input, measured
        on an MVM: its RESET event shows 2 cycles after the start input."""
        c = dataclasses.replace(STOCH, stoch=0)
        await self.configure(c)
        await self.inputs(c)
        c0 = self.tb.cycles()
        seen = {}

        async def first_event():
            await self.dut.analog__ev_seq.value_change
            seen["cycle"] = self.tb.cycles() - c0
            seen["kind"] = EventKind(int(self.dut.analog__ev_kind.value)).name

        task = cocotb.start_soon(first_event())
        await self.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
        await task
        assert seen["kind"] == "RESET", seen
        await self.wait_idle(4 * mvm_cycles(c) * CLK_NS, "lead measurement")
        await self.resync(registers=False)
        return seen["cycle"] - 2

    async def timed_reset(self, state: str, c: CoreConfig, t: int, lead: int) -> None:
        """A chip reset in the cycle the controller is in the state at cycle ``t`` after
        the start input (``lead``: see :meth:`start_lead`); it may fall in the start
        frame's last bits (after its CMD write), so it is issued from a task of its own."""
        what = f"reset in {state} at cycle {t} of {Mode(c.mode).name}"
        await self.configure(c)
        await self.inputs(c)
        c0 = self.tb.cycles()
        seen = {}

        async def reset_at():
            await Timer(round((lead + t + 0.5) * CLK_NS * 1000), unit="ps")
            seen["cycle"] = self.tb.cycles() - c0 - lead
            seen["kind"] = int(self.dut.analog__ev_kind.value)
            await self.tb.reset()

        task = cocotb.start_soon(reset_at())
        await self.tb.frame(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
        await task
        assert seen["cycle"] == t, f"{what}: reset at cycle {seen['cycle']}"
        busy = t <= op_cycles(c)
        name = fcov.state_name(seen["kind"], busy)
        want = SHOWN[state] or "IDLE"
        assert name == want, f"{what}: last event {EventKind(seen['kind']).name}"
        self.golden = self._new_golden()
        self.sync_analog()
        fcov.sample_operation(c, "reset", name)
        await self.check_state()
        self.count(what)


async def _directed(dut, body) -> InterruptTB:
    """Reset, start the adapters, run ``body(tb)``; failures name the seed; the
    functional bins are exported."""
    t = InterruptTB(dut)
    await t.tb.init()
    t.tb.start()
    try:
        await body(t)
        t.tb.check_adapters()
    except AssertionError as e:
        raise AssertionError(f"seed {t.seed} (COCOTB_RANDOM_SEED={cocotb.RANDOM_SEED}): {e}") from e
    fcov.export()
    return t


@cocotb.test(timeout_time=2_000, timeout_unit="ms")
async def abort_short_states(dut):
    """CMD.abort timed into every one- and two-cycle state reachable at the pins."""
    async def body(t):
        for state, c, cycle in targets():
            await t.timed_abort(state, c, cycle)
            # A complete operation after the recovery must agree with the golden model.
            await t.operation(None)
        # The unused CTRL.dir code 3 runs as FWD (CoreConfig.direction, the RTL's decode).
        await t.complete(dataclasses.replace(STOCH, dir=3, stoch=0), "MVM dir code 3")
        await t.check_err()
    t = await _directed(dut, body)
    dut._log.info("timed aborts: %s", dict(sorted(t.stats.items())))


@cocotb.test(timeout_time=500, timeout_unit="ms")
async def burst_into_busy_core(dut):
    """RF_WRITE into a busy core: refused (CORE_BUSY), nothing changes; reads are served."""
    # A long MVM (8 planes, 255 sample / integrate pairs of 257 cycles: 0.66 ms), against
    # short bursts (20 entries, about 1,000 cycles each).
    c = dataclasses.replace(STOCH, stoch=0, in_bits=8, integ_cyc=255)

    async def body(t):
        rng, core = t.rng, t.golden.chip.cores[0]
        await t.configure(c)
        await t.inputs(c)
        await t.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
        # The golden model ran the MVM at once; it has no clock, so it is told that the
        # core is busy for as long as the chip's is.
        core.busy = True
        for target, f in ((0, 0), (0, 1), (ll.BROADCAST, int(rng.integers(0, 2)))):
            await t.both(ll.encode_rf_write(target, f, int(rng.integers(0, 200)),
                                            rng.integers(0, 1024, 20), 10))
            await t.check_err(SpiErr.CORE_BUSY)
            t.count("burst refused while busy")
        await t.reg_read(0, 0x02)                           # register reads are served,
        await t.both(ll.encode_reg_write(0, 0x07, 0x0001))  # and writes (captured at start)
        await t.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))   # refused: BUSY
        st = await t.status()
        assert (st["busy"], st["err"]) == (1, CfgErr.BUSY) == (1, core.ctrl.err), st
        await t.tb.frame(ll.encode_rf_read(0, 1, 0, 16, 10))  # file reads change nothing
        st = await t.status()
        assert st["busy"], f"the MVM ended before the bursts were checked: {st}"
        core.busy = False
        await t.wait_idle(4 * mvm_cycles(c) * CLK_NS, "long MVM")
        st = await t.status()
        assert (st["done"], st["err"]) == (int(core.ctrl.done), core.ctrl.err)
        await t.check_state()                              # the MVM's outputs, unchanged
        await t.both(ll.encode_rf_write(0, 1, 0, rng.integers(0, 1024, 20), 10))
        await t.check_state()
        await t.check_err(SpiErr.CORE_BUSY)                # sticky until cleared
        await t.clear_err()
        await t.check_err(0)
    await _directed(dut, body)


@cocotb.test(timeout_time=2_000, timeout_unit="ms")
async def reset_short_states(dut):
    """The reset pin timed into the one- and two-cycle states (the first segment's RESET,
    right after the start, included)."""
    async def body(t):
        lead = await t.start_lead()
        dut._log.info("start frame request to start input: %d cycles", lead)
        for state, c, cycle in [("RESET", STOCH, 2)] + targets():
            await t.timed_reset(state, c, cycle, lead)
            await t.operation(None)
    await _directed(dut, body)


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def refused_starts(dut):
    """A start with each illegal configuration (every range check of the contract, and
    CTRL.mode IDLE) leaves the core idle with the documented STATUS.err."""
    base = dataclasses.replace(STOCH, stoch=0, in_bits=4, integ_cyc=1)
    bad = [(chk.code, dataclasses.replace(base, two_phase=int(chk.two_phase),
                                          **{chk.field: chk.lo - 1}))
           for chk in RANGE_CHECKS] + [(CfgErr.MODE_IDLE, dataclasses.replace(base, mode=0))]

    async def body(t):
        for code, c in bad:
            assert validate(c) == code, (code, c)
            await t.configure(c)
            await t.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
            st = await t.status()
            want = t.golden.chip.cores[0].ctrl
            assert (st["busy"], st["done"], st["err"]) == (0, int(want.done), want.err) == (
                0, 0, code), (CfgErr(code).name, st)
            await t.check_state()
            t.count(f"refused {CfgErr(code).name}")
            await t.complete(base, "MVM after a refused start")
    await _directed(dut, body)

"""cocotb tests of the core's operations against the golden model, bit for bit.

Every MVM runs on the cosimulated RTL (the analog adapter answering the bus) and on
:class:`cosim.golden.GoldenChip` with the same seed. For each MVM the test checks

* the output codes (every file the MVM writes) are identical, and
* the analog-event sequence the RTL put on the bus equals the golden controller model's
  (so both analog models saw the same events, in the same order, with the same fields).

Cases come from ``$NEURRAM_CASES`` (a JSON list of :class:`cosim.mvmjob.MvmSetup` fields
plus ``vectors``), so pytest decides which widths / modes run in ``make test`` and which
only in ``make regress``.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

from cosim.golden import GoldenChip
from cosim.harness import ChipTB
from cosim.mvmjob import (MvmSetup, field_value, input_codes, random_inputs, run_mvm_async, run_mvm_golden,
                          setup_frames, start_frame, status_fields, status_frame, _reg)
from cosim.tb.session_tb import make_params
from firmware import lowlevel as ll

DEFAULT_CASES = [{"vectors": 2}]


def _cases() -> list[dict]:
    return json.loads(os.environ.get("NEURRAM_CASES", json.dumps(DEFAULT_CASES)))


def _params():
    return make_params(json.loads(os.environ.get("NEURRAM_PARAMS", "{}")))


class Scoreboard:
    """Cosim + golden chip with one seed; compares codes and event sequences."""

    def __init__(self, dut, params=None):
        self.seed = int(cocotb.RANDOM_SEED) & 0xFFFF
        self.tb = ChipTB(dut, params=params, seed=self.seed, record=True)
        self.golden = GoldenChip(self.tb.n_cores, params=params, seed=self.seed, record=True)
        self.rng = np.random.default_rng(self.seed)
        self.n_cores = self.tb.n_cores
        self.dut = dut
        self.mvms = 0
        dut._log.info("Scoreboard seed %d (numpy inputs, conductances, analog models)", self.seed)

    async def init(self):
        await self.tb.init()

    async def frame(self, data: bytes) -> bytes:
        got = await self.tb.frame(data)
        want = self.golden.spi(data)
        return got, want

    async def write_reg(self, core: int, name: str, value: int):
        await self.frame(ll.encode_reg_write(core, _reg(name).addr, value))

    async def read_reg(self, core: int, name: str) -> tuple[int, int]:
        got, want = await self.frame(ll.encode_reg_read(core, _reg(name).addr))
        return ll.decode_reg_read(got), ll.decode_reg_read(want)

    def load_conductance(self, core: int, lo: float = 1.0, hi: float = 40.0):
        g = self.rng.uniform(lo, hi, size=(256, 256))
        self.tb.set_conductance(core, g)
        self.golden.set_conductance(core, g)
        return g

    async def configure(self, s: MvmSetup):
        for f in setup_frames(s):
            await self.frame(f)

    def check_events(self, core: int, what: str):
        got = self.tb.events(core)
        want = self.golden.models[core].events
        n = min(len(got), len(want))
        for i in range(n):
            assert got[i] == want[i], f"{what}: event {i} differs: RTL {got[i]!r} vs golden {want[i]!r}"
        assert len(got) == len(want), (f"{what}: RTL emitted {len(got)} events, golden {len(want)}; "
                                       f"first extra: {(got + want)[n]!r}")
        got.clear()
        want.clear()
        self.tb.check_adapters()

    async def mvm(self, s: MvmSetup, x, what: str = "mvm"):
        got = await run_mvm_async(self.tb, s, x, both=True)
        want = run_mvm_golden(self.golden, s, x, both=True)
        # Events first: a sequencing difference explains any code difference.
        self.check_events(s.core, what)
        for g, w in zip(got, want):
            bad = np.flatnonzero(g != w)
            assert bad.size == 0, (f"{what}: {bad.size} codes differ, first at entry {bad[0]}: "
                                   f"RTL {g[bad[0]]} golden {w[bad[0]]}; entries {bad[:8].tolist()}: "
                                   f"RTL {g[bad[:8]].tolist()} golden {w[bad[:8]].tolist()}")
        self.mvms += 1
        return got


def _describe(c: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in c.items())


@cocotb.test(timeout_time=3000, timeout_unit="ms")
async def mvm_cases(dut):
    """Each case of $NEURRAM_CASES: random conductances and inputs, codes and events
    equal to the golden model."""
    sb = Scoreboard(dut, _params())
    await sb.init()
    for case in _cases():
        case = dict(case)
        n_vec = int(case.pop("vectors", 2))
        g_range = case.pop("g_range", (1.0, 40.0))
        s = MvmSetup(**case)
        dut._log.info("case %s (%d vectors)", _describe(case), n_vec)
        sb.load_conductance(s.core, *g_range)
        await sb.configure(s)
        if s.stoch:
            await sb.write_reg(s.core, "SEED_A", int(sb.rng.integers(1, 1 << 16)))
            await sb.write_reg(s.core, "SEED_B", int(sb.rng.integers(1, 1 << 16)))
            await sb.write_reg(s.core, "CMD", field_value("CMD", lfsr_load=1))
        full0 = sb.tb.adapters[s.core].ring_full_wakes
        for v in range(n_vec):
            await sb.mvm(s, random_inputs(s, sb.rng), f"{_describe(case)} vector {v}")
        if s.in_bits == 8 and s.mode == 3 and not s.two_phase:
            # 8-bit inputs: the MSB plane's 64 or 128 SAMPLE / INTEG pairs overrun the
            # testbench's event log, whose overflow path (wake instead of log) is then
            # part of what the event comparison above just checked.
            assert sb.tb.adapters[s.core].ring_full_wakes > full0, "event log never filled"
    dut._log.info("%d MVMs equal to the golden model", sb.mvms)


@cocotb.test(timeout_time=500, timeout_unit="ms")
async def wl_pulse_widths(dut):
    """WL pulse width measured in simulation time equals TIMING.wl_ns for 1..10 ns."""
    sb = Scoreboard(dut, _params())
    await sb.init()
    sb.load_conductance(0)
    for w in range(1, 11):
        s = MvmSetup(in_bits=2, out_bits=2, wl_ns=w)   # one input plane: one WL pulse
        await sb.configure(s)
        n0 = len(sb.tb.adapters[0].wl_widths_ns)
        await sb.mvm(s, random_inputs(s, sb.rng), f"wl_ns={w}")
        sb.tb.flush()
        widths = sb.tb.adapters[0].wl_widths_ns[n0:]
        assert widths == [float(w)], f"wl_ns={w}: measured {widths} ns"
        dut._log.info("wl_ns=%d: measured %s ns", w, widths)


async def _mid_mvm_state(sb: Scoreboard, s: MvmSetup, x, delay_ns: float):
    """Load inputs and start an MVM on the cosim only; return after ``delay_ns``."""
    await sb.tb.frame(ll.encode_rf_write(s.core, s.in_file, 0, input_codes(s, x), s.in_bits))
    await sb.tb.frame(start_frame(s))
    await sb.tb.wait_ns(delay_ns)
    st = status_fields(ll.decode_reg_read(await sb.tb.frame(status_frame(s))))
    assert st["busy"] == 1, f"the MVM should still be running, STATUS {st}"


@cocotb.test(timeout_time=500, timeout_unit="ms")
async def reset_mid_mvm(dut):
    """CMD.abort and the reset pin in the middle of an MVM return the core to idle; the
    next MVM is right (ideal analog core, so the interrupted MVM leaves no trace)."""
    from analog_models.params import AnalogParams

    sb = Scoreboard(dut, AnalogParams.ideal())
    await sb.init()
    sb.load_conductance(0)
    s = MvmSetup()
    await sb.configure(s)
    await sb.mvm(s, random_inputs(s, sb.rng), "before")
    for how in ("abort", "pin"):
        x = random_inputs(s, sb.rng)
        await _mid_mvm_state(sb, s, x, 1500.0)
        if how == "abort":
            await sb.tb.frame(ll.encode_reg_write(0, _reg("CMD").addr, field_value("CMD", abort=1)))
        else:
            await sb.tb.reset()
            sb.golden = GoldenChip(sb.n_cores, params=AnalogParams.ideal(), seed=sb.seed, record=True)
            sb.golden.set_conductance(0, sb.tb.conductance(0))
        st = status_fields(ll.decode_reg_read(await sb.tb.frame(status_frame(s))))
        assert st["busy"] == 0, f"{how}: core still busy after the reset: {st}"
        await Timer(1, unit="us")
        seq = int(sb.tb.adapters[0]._seq_now() or 0)
        await Timer(2, unit="us")
        assert int(sb.tb.adapters[0]._seq_now() or 0) == seq, f"{how}: events after the reset"
        # The interrupted MVM's events went to the cosim's model only.
        sb.tb.events(0).clear()
        if how == "pin":
            await sb.configure(s)
        await sb.mvm(s, random_inputs(s, sb.rng), f"after {how}")


@cocotb.test(timeout_time=20000, timeout_unit="ms")
async def multicore_parallel(dut):
    """Every core runs its own MVM, all started in one cycle by CHIP_CMD.start_sel."""
    from cosim.parallel_mvm import run_parallel_async, run_parallel_golden

    sb = Scoreboard(dut, _params())
    await sb.init()
    n = sb.n_cores
    setups = [MvmSetup(core=c, direction=c % 2) for c in range(n)]
    for s in setups:
        sb.load_conductance(s.core)
        await sb.configure(s)
    xs = [random_inputs(s, sb.rng) for s in setups]
    phases = {}
    got = await run_parallel_async(sb.tb, setups, xs, phases=phases)
    # Started together: the first BUSY0 read, right after start_sel, sees cores 0-15 busy
    # (BUSY1-2 are read 200 and 400 cycles later, when a 4-bit MVM may be over); that
    # every other core ran is shown by its codes below (nothing else started it).
    first = (1 << min(n, 16)) - 1
    assert phases["first_busy"] & first == first, f"BUSY {phases['first_busy']:#x} after start_sel"
    want = run_parallel_golden(sb.golden, setups, xs)
    # Both sides' shared rails saw the same cores start together.
    assert sb.tb.board.rails.group == sb.golden.board.rails.group == tuple(range(n))
    for s, g, w in zip(setups, got, want):
        bad = np.flatnonzero(g != w)
        assert bad.size == 0, (f"core {s.core}: {bad.size} parallel MVM codes differ from the "
                               f"golden model, first at entry {bad[0]}")
        sb.check_events(s.core, f"core {s.core}")
    # And one more MVM per core after the parallel run, through the ordinary start.
    for s in setups[:4]:
        await sb.mvm(s, random_inputs(s, sb.rng), f"core {s.core} after")

"""Controller: abort and reset, legal and illegal starts, WL pulses, MVM length.

The harness instantiates :class:`rtl.controller.Controller` (``macro=False``: the delay
line's taps are a free input, like every other input of the block) on one clock. The
configuration, commands, register-file contents and comparator bits are free at every
step unless a proof assumes otherwise.
"""

from __future__ import annotations

import sys

from amaranth.hdl import (Assert, Assume, Cat, ClockDomain, ClockSignal, Const, Elaboratable,
                          Module, Mux, ResetSignal, Signal)

import rtl.controller
from rtl.analog_bus import N_LINES, Mode
from rtl.controller import CONFIG_LAYOUT, ENTRY_BITS, CfgErr, Controller, CoreConfig, mvm_cycles

from . import probe
from .mutate import patched, resized
from .sby import Proof

# The onehot proof assumes the frame decoder's burst interlock (proved by frame_regblock);
# its mutant switches the assumption off to show the proof needs it.
DECODER_INTERLOCK = True

PROG_STATES = ("PDEC", "PWAIT", "PDRV", "PULSE", "PEND")
MVM_STATES = ("RESET", "SETUP", "WL", "SAMPLE", "INTEG", "NOISE", "NGAP", "COMPARE", "CWAIT",
              "LATCH", "WR", "DECR", "MINTEG")


def documented_error(c) -> "Value":
    """STATUS.err of a start with configuration ``c`` as docs/architecture.md §4 states it
    (restated here, independently of the RTL's decoder, as the property to check)."""
    signed = c.in_signed & (c.in_bits > 1)
    mag = Mux(signed, c.in_bits - 1, c.in_bits)
    return Mux(~c.power_enable, CfgErr.DISABLED,
           Mux(c.mode == Mode.IDLE, CfgErr.MODE_IDLE,
           Mux(c.mode == Mode.PROGRAM, CfgErr.OK,
           Mux((c.in_bits == 0) | (c.in_bits > 8), CfgErr.IN_BITS,
           Mux((c.out_bits == 0) | (c.out_bits > 10), CfgErr.OUT_BITS,
           Mux(c.two_phase & ((c.split == 0) | (c.split >= mag)), CfgErr.SPLIT,
           Mux(c.two_phase & ((c.out_bits_lsb == 0) | (c.out_bits_lsb > 10)),
               CfgErr.OUT_BITS_LSB,
           Mux((c.n_rows == 0) | (c.n_rows > N_LINES), CfgErr.N_ROWS,
           Mux((c.wl_ns == 0) | (c.wl_ns > 10), CfgErr.WL_NS, CfgErr.OK)))))))))


class ControllerHarness(Elaboratable):
    """Free-input controller: configuration, commands, register-file contents, comparator
    bits, delay-line taps, and ``host_commit`` (a host register-file commit, used by the
    proofs that reason about the files' contents)."""

    def __init__(self, *, config: CoreConfig | None = None):
        self.config = config
        self.cfg = Signal(CONFIG_LAYOUT)
        self.start = Signal()
        self.abort = Signal()
        self.lfsr_load = Signal()
        self.bl_q = Signal(ENTRY_BITS * N_LINES)
        self.sl_q = Signal(ENTRY_BITS * N_LINES)
        self.taps = Signal(10)
        self.cmp = Signal(N_LINES)
        self.host_commit = Signal()
        self.ports = [self.cfg.as_value(), self.start, self.abort, self.lfsr_load, self.taps,
                      self.cmp, self.host_commit, self.bl_q, self.sl_q]

    def elaborate(self, platform):
        m = Module()
        # Observation registers: never reset (they must see the reset itself).
        m.domains.obs = ClockDomain("obs", reset_less=True)
        m.d.comb += ClockSignal("obs").eq(ClockSignal("sync"))
        dut = Controller(macro=False)
        m.submodules.dut, p = probe.elaborate(dut, rtl.controller, platform)
        self.dut, self.probes = dut, p
        fsm = p.fsms["fsm"]
        self.idle = fsm.ongoing("IDLE")
        self.in_prog = Cat(*[fsm.ongoing(s) for s in PROG_STATES]).any()
        self.in_mvm = Cat(*[fsm.ongoing(s) for s in MVM_STATES]).any()
        m.d.comb += [
            dut.cfg.eq(self.cfg), dut.start.eq(self.start), dut.abort.eq(self.abort),
            dut.lfsr_load.eq(self.lfsr_load), dut.delay_taps.eq(self.taps),
            dut.analog.cmp.eq(self.cmp),
            dut.bl_q.as_value().eq(self.bl_q), dut.sl_q.as_value().eq(self.sl_q),
        ]
        if self.config is not None:
            m.d.comb += Assume(self.cfg.as_value() == Const.cast(
                CONFIG_LAYOUT.const({k: getattr(self.config, k) for k in
                                     CONFIG_LAYOUT.members})).value)
        return m


def _with_past(m, sig, n, name):
    """``sig`` delayed by 1..n cycles (observation registers, not reset)."""
    out = []
    prev = sig
    for k in range(1, n + 1):
        q = Signal.like(prev, name=f"{name}_{k}") if hasattr(prev, "shape") else Signal()
        m.d.obs += q.eq(prev)
        out.append(q)
        prev = q
    return out


# ---- proofs -------------------------------------------------------------------------------

def _abort_reset():
    h = ControllerHarness()
    m = Module()
    m.submodules.h = h
    m.submodules += _Checks(h, "abort_reset")
    return m, h.ports


class _Checks(Elaboratable):
    def __init__(self, h, which, **kw):
        self.h, self.which, self.kw = h, which, kw

    def elaborate(self, platform):
        m = Module()
        m.domains.obs = ClockDomain("obs", reset_less=True)
        m.d.comb += ClockSignal("obs").eq(ClockSignal("sync"))
        getattr(self, "_" + self.which)(m, self.h, self.h.dut, self.h.probes)
        return m

    def _abort_reset(self, m, h, dut, p):
        ab1, ab2 = _with_past(m, h.abort, 2, "abort")
        rs1, = _with_past(m, ResetSignal("sync"), 1, "rst")
        quiet = (~dut.busy & (dut.analog.wl_en == 0) & ~dut.analog.wl_pulse
                 & ~dut.analog.prog_pulse & ~dut.wr_en & ~dut.wr_clear
                 & (p["row_mask"] == 0) & (dut.analog.mode == Mode.IDLE))
        # A start captured together with an abort in IDLE changes nothing (abort wins):
        # STATUS.done / err keep their values.
        both_idle, done1, err1 = Signal(), Signal(), Signal(4)
        m.d.obs += [both_idle.eq(p["start_q"] & p["abort_q"] & h.idle & ~ResetSignal("sync")),
                    done1.eq(dut.done), err1.eq(dut.err)]
        m.d.comb += [
            # The bound: the abort is registered with the command capture (1 cycle) and
            # acts in the next (1 cycle), from whichever state the controller is in, also
            # when a start arrives with it (in IDLE the start is then dropped).
            Assert(~(ab2 & ~rs1) | h.idle, "abort did not reach IDLE in 2 cycles"),
            Assert(~both_idle | ((dut.done == done1) & (dut.err == err1)),
                   "a start with an abort changed STATUS"),
            Assert(~rs1 | h.idle, "reset did not reach IDLE in 1 cycle"),
            Assert(~h.idle | quiet, "IDLE with a line, pulse or write-back active"),
            Assert(h.idle == ~dut.busy, "busy differs from the FSM leaving IDLE"),
            Assert(h.idle | h.in_prog | h.in_mvm, "FSM state encoding out of range"),
        ]

    def _wl(self, m, h, dut, p):
        mode = dut.analog.mode
        m.d.comb += [
            Assert((dut.analog.wl_en == 0) | (dut.busy & ((mode == Mode.MVM)
                                                          | (mode == Mode.PROGRAM))),
                   "WL enabled outside MVM / programming"),
            Assert(~dut.analog.wl_pulse | (dut.busy & (mode != Mode.IDLE))),
            Assert(~dut.analog.prog_pulse | (dut.busy & (mode == Mode.PROGRAM))),
            # Strengthening: the state sets belong to their modes.
            Assert(~h.in_prog | (mode == Mode.PROGRAM)),
            Assert(~h.in_mvm | (mode == Mode.MVM) | (mode == Mode.NEURON_TEST)),
            Assert(h.idle == ~dut.busy),
            Assert(h.idle | h.in_prog | h.in_mvm),
            Assert((p["row_mask"] == 0) | (dut.busy & ((mode == Mode.MVM)
                                                       | (mode == Mode.PROGRAM)))),
        ]

    def _start(self, m, h, dut, p):
        # One cycle after the capture register presents a start to IDLE: STATUS.err is
        # the documented code, and the controller left IDLE exactly when it is 0.
        start_q, idle1 = Signal(), Signal()
        expect = Signal(4)
        m.d.obs += [start_q.eq(p["start_q"] & h.idle & ~p["abort_q"] & ~ResetSignal("sync")),
                    expect.eq(documented_error(p["cap"]))]
        rs = Signal()
        m.d.comb += rs.eq(ResetSignal("sync"))
        m.d.comb += [
            Assert(~start_q | rs | (dut.err == expect), "STATUS.err is not the documented code"),
            Assert(~start_q | rs | ((expect == 0) == dut.busy),
                   "an illegal configuration left IDLE (or a legal one did not)"),
            Assert(~start_q | rs | ~dut.done),
            Assert(h.idle == ~dut.busy),
            Assert(h.idle | h.in_prog | h.in_mvm),
        ]

    def _onehot(self, m, h, dut, p):
        # The register files' guarantee (proof regfile_decoder_isolation): from the cycle
        # after a decoder load until a commit, a decoder load or a write-back, bit 0 of
        # the BL / SL entries is one-hot at the loaded address (a decoder load wins over
        # a commit in the same cycle). Programming writes nothing back. Host commits are
        # free but for the frame decoder's interlock (proof frame_regblock): a commit
        # reaches a core only in the cycle after one in which the core was not busy.
        run = p["run"]
        busy1 = Signal()
        m.d.obs += busy1.eq(dut.busy)
        if DECODER_INTERLOCK:
            m.d.comb += Assume(~(h.host_commit & busy1))
        loaded, row, col = Signal(), Signal(8), Signal(8)
        with m.If(dut.dec_load):
            m.d.obs += [loaded.eq(1), row.eq(dut.dec_row), col.eq(dut.dec_col)]
        with m.Elif(h.host_commit | ~dut.busy):
            m.d.obs += loaded.eq(0)
        bit0 = lambda q: Cat(*[q[ENTRY_BITS * i] for i in range(N_LINES)])
        m.d.comb += [
            Assume(~loaded | (bit0(h.bl_q) == (Const(1, N_LINES) << row)[:N_LINES])),
            Assume(~loaded | (bit0(h.sl_q) == (Const(1, N_LINES) << col)[:N_LINES])),
        ]
        fsm = p.fsms["fsm"]
        m.d.comb += [
            # Strengthening: between the decoder load and the driver load the decoders
            # hold this operation's address.
            Assert(~(fsm.ongoing("PWAIT") | fsm.ongoing("PDRV"))
                   | (loaded & (row == run.prog_row) & (col == run.prog_col))),
            Assert(~dut.analog.prog_pulse | fsm.ongoing("PULSE")),
            Assert(~fsm.ongoing("PULSE")
                   | (p["row_mask"] == (Const(1, N_LINES) << run.prog_row)[:N_LINES])),
            Assert(~dut.analog.prog_pulse
                   | (dut.analog.wl_en == (Const(1, N_LINES) << run.prog_row)[:N_LINES]),
                   "programming pulse not on exactly the addressed WL"),
            Assert(h.idle == ~dut.busy),
            Assert(h.idle | h.in_prog | h.in_mvm),
            Assert(~h.in_prog | (dut.analog.mode == Mode.PROGRAM)),
        ]

    def _mvm_length(self, m, h, dut, p):
        n = self.kw["cycles"]
        t = Signal(range(n + 8), init=0)
        first = Signal(init=1)
        m.d.sync += first.eq(0)
        with m.If(t != n + 7):
            m.d.sync += t.eq(t + 1)
        m.d.comb += [Assume(h.start == first), Assume(~h.abort), Assume(~ResetSignal("sync")),
                     Assume(~h.lfsr_load)]
        # t counts cycles from the start input (t = 0); the capture register and the
        # busy flop each take one, so busy shows from t = 2, and the operation's
        # mvm_cycles(cfg) = n cycles end with busy low and done from t = n + 1.
        m.d.comb += [
            Assert((t < 2) | (t > n) | (dut.busy & ~dut.done),
                   "the MVM ended before mvm_cycles(cfg)"),
            Assert((t <= n) | (~dut.busy & dut.done & (dut.err == 0)),
                   "the MVM did not end within mvm_cycles(cfg)"),
        ]


def _checked(which, **hkw):
    def build():
        kw = {}
        if which == "mvm_length":
            kw["cycles"] = mvm_cycles(hkw["config"])
        h = ControllerHarness(**hkw)
        top = Module()
        top.submodules.h = h
        top.submodules.checks = _Checks(h, which, **kw)
        return top, h.ports
    return build


MVM_CONFIGS = {
    # Small integration windows keep the bound short; every segment feature is on.
    "mvm_4b6b": CoreConfig(mode=Mode.MVM, in_bits=4, out_bits=6, sample_cyc=1, integ_cyc=1),
    "mvm_2phase_stoch": CoreConfig(mode=Mode.MVM, in_bits=5, out_bits=3, two_phase=1, split=2,
                                   out_bits_lsb=2, sample_cyc=2, integ_cyc=1, stoch=1,
                                   noise_steps=2, dir=1, act=1),
    "neuron_test_1b": CoreConfig(mode=Mode.NEURON_TEST, in_bits=1, out_bits=2, sample_cyc=1,
                                 integ_cyc=3),
}


# A one-bit counter that this configuration needs wider (a counter-width bug): the
# repetition count of plane 2, the sample strobe of 2 cycles, the integration of 3 cycles.
LENGTH_MUTANTS = {
    "mvm_4b6b": ("rep_counter_1_bit", "rep"),
    "mvm_2phase_stoch": ("sample_counter_1_bit", "sample_cyc"),
    "neuron_test_1b": ("integ_counter_1_bit", "integ_cyc"),
}


def _wrong_neuron_test_code():
    """The row-select decode compares CTRL.mode against the wrong code for neuron test."""
    import enum

    class BadMode(enum.IntEnum):
        IDLE = 0
        PROGRAM = 1
        NEURON_TEST = 3
        MVM = 3
    return patched(rtl.controller, "Mode", BadMode)


PROOFS = [
    Proof("ctrl_abort_reset", _checked("abort_reset"), "prove", 4,
          "from any state, abort reaches IDLE (busy 0, WLs, programming pulse and write-back "
          "off) 2 cycles after the abort input, also with a start in the same cycle (which "
          "then changes nothing), reset 1 cycle after; busy == not IDLE",
          mutants={"abort_not_registered": lambda: resized(rtl.controller, "abort_q", 0),
                   # the abort lost to a start captured with it in IDLE
                   "idle_start_beats_abort": lambda: patched(
                       rtl.controller, "idle_takes_start", lambda start_q, abort_q: start_q)}),
    Proof("ctrl_start_err", _checked("start"), "prove", 3,
          "a start in IDLE sets STATUS.err to the documented code of its configuration and "
          "leaves IDLE iff that code is 0 (illegal configurations never leave IDLE)",
          mutants={"err_code_3_bits": lambda: resized(rtl.controller, "err_now", 3)}),
    Proof("ctrl_wl_modes", _checked("wl"), "prove", 8,
          "WLs are enabled only while busy in MVM or programming mode; the WL pulse and "
          "the programming pulse only while busy in their modes",
          mutants={"neuron_test_code": _wrong_neuron_test_code}),
    Proof("ctrl_prog_onehot", _checked("onehot"), "prove", 8,
          "a programming pulse enables exactly the WL PROG_ADDR.row, given the register "
          "files' one-hot decoder load and the frame decoder's burst interlock (no commit "
          "the cycle after the core was busy; both proved separately)",
          mutants={"row_mask_255_lines": lambda: resized(rtl.controller, "row_mask", 255),
                   "no_decoder_interlock": lambda: patched(
                       sys.modules[__name__], "DECODER_INTERLOCK", False)}),
] + [
    Proof(f"ctrl_len_{k}", _checked("mvm_length", config=c), "bmc", mvm_cycles(c) + 4,
          f"a started legal {k} is busy from 2 to mvm_cycles(cfg) = {mvm_cycles(c)} cycles "
          f"after the start input and idle with done, err 0 from the next cycle on",
          mutants={LENGTH_MUTANTS[k][0]: (lambda name=LENGTH_MUTANTS[k][1]:
                                          resized(rtl.controller, name, 1))})
    for k, c in MVM_CONFIGS.items()
]

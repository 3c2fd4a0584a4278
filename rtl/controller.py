"""The core controller: programming, neuron-test and MVM sequencing (docs/analog_bus.md).

The controller owns every analog action of a core. It reads the configuration registers
and the BL/SL register files, drives the line drivers, the WL pulse generator and the
neuron strobes, announces each action on ``ev_seq``/``ev_kind``, samples the 256
comparators and writes the neurons' output bits back into the register files.

This file holds

* :class:`CoreConfig` - the register fields the controller uses, as a plain dataclass;
* :func:`validate` - the start-time configuration check (STATUS.err codes);
* :class:`ControllerModel` / :func:`sequence_events` - the golden model: the exact
  analog-bus event sequence and register-file write-backs of one started operation;
* :class:`Controller` - the RTL (it contains the :class:`~rtl.lfsr.LfsrPair` and the
  :class:`~rtl.pulsegen.PulseGenerator`).

Cycle schedule of the RTL (one state per line, ``E`` = the state's entry announces an
event; the golden model reproduces the events, not the cycles)::

    MVM / neuron test, per segment:
      RESET      1 cycle  E RESET      lines at VREF; input file -> plane shift register
      SETUP      1 cycle               driver levels of plane p registered
      WL         1 cycle  E WL_PULSE   armed; the pulse ends inside the cycle
      SAMPLE     s cycles E SAMPLE     } 2^p times
      INTEG      i cycles E INTEG      }
      NOISE      1 cycle  E NOISE      } NOISE.steps times when CTRL.stoch
      NGAP       1 cycle               }  (the LFSR advances at the end of NOISE)
      COMPARE    1 cycle  E COMPARE    (sign cycle: destination file cleared)
      CWAIT      1 cycle               the comparators settle
      LATCH      1 cycle  E LATCH      cmp sampled on entry (2 cycles after COMPARE)
      WR         1 cycle  E WR         one bit of every destination entry written
      DECR       1 cycle  E DECR       } k-1 times: vdecr = VDECR, decr_step = c-1
      MINTEG     i cycles E INTEG      }  then COMPARE, CWAIT, LATCH, WR
    Programming:
      PDEC 1 (decoders load the one-hot row / column), PWAIT 1, PDRV 1 (drivers),
      PULSE max(cycles,1) E PROG_BEGIN, PEND 1 E PROG_END

With s = TIMING.sample_cyc, i = TIMING.integ_cyc (0 is taken as 1), an MVM segment of
m planes and k output bits takes 1 + 2m + (2^m - 1)(s + i) + 2*steps*stoch + 4 +
(k-1)(5 + i) cycles; :func:`mvm_cycles` adds the one cycle of the command capture
register (every command is registered, with the configuration, before it acts).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import AnalogBusSignature
from .contract.config import (CONFIG_FIELDS, RANGE_CHECKS, CoreConfig, input_levels, mvm_cycles,
                              output_bit, validate)
from .contract.constants import BL_FILE, ENTRY_BITS, N_LINES, SL_FILE
from .contract.corelet import NEURON_SL
from .contract.events import EV_KIND_BITS, EV_SEQ_BITS, DecrMode, EventKind, Level
from .contract.registers import Act as Activation
from .contract.registers import CfgErr, Mode, ProgOp
from .contract.registers import Dir as Direction
from .controller_model import ControllerModel, sequence_events
from .lfsr import DEFAULT_SEED_A, DEFAULT_SEED_B, LfsrPair
from .pulsegen import PulseGenerator

# The configuration, its rules and the golden model are re-exported: ``rtl.controller``
# was their home and stays a valid import path for them.
__all__ = ["BL_FILE", "CONFIG_FIELDS", "CONFIG_LAYOUT", "CfgErr", "Controller", "ControllerModel",
           "CoreConfig", "ENTRY_BITS", "NEURON_SL", "SL_FILE", "input_levels", "mvm_cycles",
           "output_bit", "sequence_events", "validate"]

CONFIG_LAYOUT = data.StructLayout({name: width for name, _, _, width, _ in CONFIG_FIELDS})


# --------------------------------------------------------------------------------------
# RTL
# --------------------------------------------------------------------------------------

VREF_ALL = sum(int(Level.VREF) << (3 * i) for i in range(N_LINES))
ODD_LINES = int("10" * (N_LINES // 2), 2)


# The three helpers below hold the controller's wide, per-line logic. They are separate
# modules so that their logic is evaluated only when their own inputs change (the Amaranth
# simulator re-runs a module's comb statements on any of its inputs changing), and each is
# built bit by bit from signals so that no expression tree is duplicated per line.

class _SignBits(wiring.Component):
    """Bit ``shift`` of every entry of the (already shifted) input register ``sr``.

    Works from the controller's own register, not from the register files: the files are
    on the ungated clock, and logic reading them would be re-evaluated on its every edge.
    """

    def __init__(self):
        super().__init__({
            "sr": In(ENTRY_BITS * N_LINES),
            "shift": In(4),
            "signs": Out(N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        shifted = Signal(ENTRY_BITS * N_LINES)
        m.d.comb += [
            # One whole-vector shift brings the wanted bit of every entry to bit 10*i.
            shifted.eq(self.sr >> self.shift),
            self.signs.eq(Cat(*[shifted[ENTRY_BITS * i] for i in range(N_LINES)])),
        ]
        return m


class _LineLevels(wiring.Component):
    """Driver levels of the input lines for the current plane.

    Line ``i`` is on when bit 0 of its (shifted) entry ``sr[10 i]`` is 1 and positive when
    its sign is 1 (unsigned inputs: always); with ``diff_in`` odd line ``2j+1`` copies
    entry ``2j`` with the opposite polarity. Level codes: VREF = 001, VREF_P = 010,
    VREF_N = 011, so b1 = on and b0 = ~(on & pos).
    """

    def __init__(self):
        super().__init__({
            "sr": In(ENTRY_BITS * N_LINES),
            "sgn": In(N_LINES),
            "diff_in": In(1),
            "signed": In(1),
            "levels": Out(3 * N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        bits = []
        for i in range(N_LINES):
            src = i & ~1
            on = Mux(self.diff_in, self.sr[ENTRY_BITS * src], self.sr[ENTRY_BITS * i])
            sg = Mux(self.diff_in, self.sgn[src], self.sgn[i])
            pos = Mux(self.signed, sg, 1)
            if i & 1:
                pos = pos ^ self.diff_in
            on_s = Signal(name=f"on_{i}")
            pos_s = Signal(name=f"pos_{i}")
            m.d.comb += [on_s.eq(on), pos_s.eq(pos)]
            bits += [~(on_s & pos_s), on_s, Const(0, 1)]
        m.d.comb += self.levels.eq(Cat(*bits))
        return m


class _OutputBits(wiring.Component):
    """Entry-indexed bits written by WR (see :func:`output_bit`, routed through the SL
    switch when the destination is the SL file: entry e <- neuron SL(e))."""

    def __init__(self):
        super().__init__({
            "r": In(N_LINES),
            "s": In(N_LINES),
            "sign_cycle": In(1),
            "act": In(2),
            "dest_sl": In(1),
            "data": Out(N_LINES),
        })

    def elaborate(self, platform):
        m = Module()
        r, s = self.r, self.s
        bit_n = Signal(N_LINES)
        with m.If(self.sign_cycle):
            m.d.comb += bit_n.eq(Mux(self.act == Activation.TANH, ~r, r))
        with m.Elif(self.act == Activation.NONE):
            m.d.comb += bit_n.eq(~(r ^ s))
        with m.Elif(self.act == Activation.RELU):
            m.d.comb += bit_n.eq(r & s)
        with m.Else():
            m.d.comb += bit_n.eq(r)
        routed = Cat(*[bit_n[int(NEURON_SL[e])] for e in range(N_LINES)])
        m.d.comb += self.data.eq(Mux(self.dest_sl, routed, bit_n))
        return m


def _keep(s: SimpleNamespace, **signals) -> None:
    """Record signals of one controller block for the blocks after it."""
    vars(s).update(signals)


def idle_takes_start(start_q, abort_q):
    """The IDLE state's rule for a captured start: taken only without a captured abort
    (the golden model's :func:`~rtl.controller_model.start_taken`)."""
    return start_q & ~abort_q


class Controller(wiring.Component):
    """Sequencer of one core (programming, neuron test, MVM).

    Parameters
    ----------
    macro : bool
        Passed to the :class:`PulseGenerator`: True instantiates the delay-line blackbox;
        False exposes its taps as ``delay_taps`` for Amaranth-simulator testbenches.

    Members
    -------
    cfg : In(CONFIG_LAYOUT)
        Configuration register fields (:data:`CONFIG_FIELDS`).
    start, abort, lfsr_load : In(1)
        Command pulses (already re-launched for this clock by the clock gate); each is
        registered (with the configuration, for start) one cycle before it acts.
    bl_q, sl_q : In(ArrayLayout(10, 256))
        Live entries of the BL / SL register files.
    wr_file : Out(1)
        Register file of the write-back ports below (0 BL, 1 SL).
    wr_clear, wr_en : Out(1)
        Clear all entries / write bit ``wr_bit`` of all entries of ``wr_file``.
    wr_bit : Out(4)
        Bit written by ``wr_en``.
    wr_data : Out(256)
        Entry-indexed bits written by ``wr_en`` (already routed through the SL switch).
    dec_load : Out(1)
        Load the one-hot decoders: BL entry ``dec_row`` and SL entry ``dec_col`` set to 1,
        every other entry of both files to 0.
    dec_row, dec_col : Out(8)
    busy, done : Out(1)
        STATUS.busy / STATUS.done.
    cmd_pending : Out(1)
        A command is held in the capture register (the clock must run one more cycle).
    err : Out(4)
        STATUS.err of the last start.
    analog : Out(AnalogBusSignature())
        The analog bus (docs/analog_bus.md).
    delay_a : Out(1)
        The delay line's input (observability).
    delay_taps : In(10)
        Only with ``macro=False``.
    """

    def __init__(self, *, macro: bool = True):
        if not isinstance(macro, bool):
            raise TypeError(f"macro must be a bool, not {macro!r}")
        self._macro = macro
        members = {
            "cfg": In(CONFIG_LAYOUT),
            "start": In(1),
            "abort": In(1),
            "lfsr_load": In(1),
            "bl_q": In(data.ArrayLayout(ENTRY_BITS, N_LINES)),
            "sl_q": In(data.ArrayLayout(ENTRY_BITS, N_LINES)),
            "wr_file": Out(1),
            "wr_clear": Out(1),
            "wr_en": Out(1),
            "wr_bit": Out(4),
            "wr_data": Out(N_LINES),
            "dec_load": Out(1),
            "dec_row": Out(8),
            "dec_col": Out(8),
            "busy": Out(1),
            "cmd_pending": Out(1),
            "done": Out(1),
            "err": Out(4),
            "analog": Out(AnalogBusSignature()),
            "delay_a": Out(1),
        }
        if not macro:
            members["delay_taps"] = In(10)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        # The signals of the controller, shared by the helpers below (each one block of it).
        s = SimpleNamespace(cfg=self.cfg, a=self.analog)
        self._capture(m, s)
        self._start_decision(m, s)
        self._registers(m, s)
        self._datapath(m, s)
        with m.FSM():
            self._idle_state(m, s)
            self._program_states(m, s)
            self._mvm_states(m, s)
        self._busy_refusal(m, s)
        return m

    def _capture(self, m, s):
        """Command and configuration capture; the pulse generator and the LFSR."""
        m.submodules.pulsegen = pg = PulseGenerator(macro=self._macro)
        m.submodules.lfsr = lfsr = LfsrPair()

        # ---- command and configuration capture ------------------------------------------
        # Every command is registered, together with the configuration it acts on, before
        # the sequencer sees it (one cycle): ``cap`` holds the configuration as it was
        # when the last start arrived, ``run`` the one the running operation was accepted
        # with, ``seeds`` the SEED registers of the last lfsr_load. Two reasons: a host
        # write to the configuration while the core is busy cannot change an operation
        # half-way; and the sequencer depends on registers of its own clock only (not on
        # the ungated configuration or the falling-edge command crossing), so an
        # event-driven or Verilator simulation need not re-evaluate it on every edge of
        # the ungated clock while the core sleeps.
        start_q = Signal()
        abort_q = Signal()
        lfsr_load_q = Signal()
        cap = Signal(CONFIG_LAYOUT)
        run = Signal(CONFIG_LAYOUT)
        seeds = Signal(32, init=DEFAULT_SEED_A | (DEFAULT_SEED_B << 16))
        m.d.sync += [start_q.eq(self.start), abort_q.eq(self.abort),
                     lfsr_load_q.eq(self.lfsr_load)]
        # The clock gate must pass one more edge for a captured command to act.
        m.d.comb += self.cmd_pending.eq(start_q | abort_q | lfsr_load_q)
        with m.If(self.start):
            m.d.sync += cap.as_value().eq(s.cfg.as_value())
        with m.If(self.lfsr_load):
            m.d.sync += seeds.eq(Cat(s.cfg.seed_a, s.cfg.seed_b))

        if not self._macro:
            m.d.comb += pg.delay_taps.eq(self.delay_taps)
        m.d.comb += [
            self.delay_a.eq(pg.delay_a),
            lfsr.seed_a.eq(seeds[:16]),
            lfsr.seed_b.eq(seeds[16:]),
            lfsr.load.eq(lfsr_load_q),
            s.a.noise.eq(lfsr.noise),
            s.a.wl_pulse.eq(pg.pulse),
            pg.width.eq(run.wl_ns),
        ]
        _keep(s, abort_q=abort_q, cap=cap, lfsr=lfsr, pg=pg, run=run, start_q=start_q)

    def _start_decision(self, m, s):
        """Decoded configuration fields and STATUS.err of a start (the contract's checks)."""
        def decode(c, suffix):
            signed = Signal(name=f"signed{suffix}")
            mag_bits = Signal(4, name=f"mag_bits{suffix}")
            dirn = Signal(2, name=f"dirn{suffix}")
            in_sl = Signal(name=f"in_sl{suffix}")
            m.d.comb += [
                signed.eq(c.in_signed & (c.in_bits > 1)),
                mag_bits.eq(Mux(signed, c.in_bits - 1, c.in_bits)),
                dirn.eq(Mux(c.dir == 3, Direction.FWD, c.dir)),
                in_sl.eq(dirn == Direction.BWD),
            ]
            return signed, mag_bits, dirn, in_sl

        # ``cap``: the start decision (IDLE); ``run``: every later state
        signed0, mag_bits0, dirn0, in_sl0 = decode(s.cap, "_start")
        signed, mag_bits, dirn, in_sl = decode(s.run, "")
        err_now = Signal(4)
        with m.If(~s.cap.power_enable):
            m.d.comb += err_now.eq(CfgErr.DISABLED)
        with m.Elif(s.cap.mode == Mode.IDLE):
            m.d.comb += err_now.eq(CfgErr.MODE_IDLE)
        with m.Elif(s.cap.mode == Mode.PROGRAM):
            m.d.comb += err_now.eq(CfgErr.OK)
        for chk in RANGE_CHECKS:   # the contract's table, in its order
            value = getattr(s.cap, chk.field)
            above = value >= mag_bits0 if chk.hi is None else value > chk.hi
            bad = (value < chk.lo) | above
            with m.Elif(s.cap.two_phase & bad if chk.two_phase else bad):
                m.d.comb += err_now.eq(chk.code)

        sample_cyc = Signal(4)
        integ_cyc = Signal(8)
        prog_cycles = Signal(16)
        m.d.comb += [
            sample_cyc.eq(Mux(s.run.sample_cyc == 0, 1, s.run.sample_cyc)),
            integ_cyc.eq(Mux(s.run.integ_cyc == 0, 1, s.run.integ_cyc)),
            prog_cycles.eq(Mux(s.run.prog_cycles == 0, 1, s.run.prog_cycles)),
        ]
        _keep(s, dirn0=dirn0, err_now=err_now, in_sl=in_sl, in_sl0=in_sl0,
                 integ_cyc=integ_cyc, mag_bits0=mag_bits0, prog_cycles=prog_cycles,
                 sample_cyc=sample_cyc, signed=signed)

    def _registers(self, m, s):
        """State registers, the outputs they drive and the event counter."""
        busy = Signal()
        done = Signal()
        err = Signal(4)
        mode_r = Signal(2)
        power_down = Signal()
        ev_seq = Signal(EV_SEQ_BITS)
        ev_kind = Signal(EV_KIND_BITS)
        bl_drv = Signal(data.ArrayLayout(3, N_LINES))
        sl_drv = Signal(data.ArrayLayout(3, N_LINES))
        row_mask = Signal(N_LINES)
        bl_sel = Signal()
        sl_sel = Signal()
        sample_bl = Signal()        # operation: neurons sample their BL
        seg = Signal()              # 0: first (or only) segment, 1: LSB segment
        planes = Signal(4)          # planes of the current segment
        kbits = Signal(4)           # output bits of the current segment
        dest_sl = Signal()          # destination file of the current segment
        p = Signal(3)               # plane index
        rep = Signal(8)             # sample/integrate repetitions left in this plane
        cnt = Signal(16)            # strobe length / noise steps / pulse counter
        c = Signal(4)               # output cycle (0 = sign)
        sr = Signal(ENTRY_BITS * N_LINES)   # input entries >> (base + p), entry-major
        sgn = Signal(N_LINES)       # input sign bits (line-indexed), from the first plane on
        sgn_now = Signal(N_LINES)   # ... and in the first plane itself
        r_cmp = Signal(N_LINES)     # comparator bits sampled at LATCH (neuron-indexed)
        s_cmp = Signal(N_LINES)     # sign comparison of this segment
        wr_en = Signal()
        wr_clear = Signal()
        wr_bit = Signal(4)
        wr_data = Signal(N_LINES)
        prog_pulse = Signal()

        m.d.comb += [
            self.busy.eq(busy), self.done.eq(done), self.err.eq(err),
            s.a.mode.eq(mode_r), s.a.power_down.eq(power_down),
            s.a.ev_seq.eq(ev_seq), s.a.ev_kind.eq(ev_kind),
            s.a.bl_drv.eq(bl_drv), s.a.sl_drv.eq(sl_drv),
            s.a.wl_en.eq(Mux(s.pg.pulse | prog_pulse, row_mask, 0)),
            s.a.bl_sel.eq(bl_sel), s.a.sl_sel.eq(sl_sel),
            s.a.vread.eq(s.cfg.vread), s.a.vnoise.eq(s.cfg.vnoise),
            # The DAC halves its level per step itself: the code and the step index.
            s.a.vdecr.eq(s.run.vdecr), s.a.decr_step.eq(c - 1), s.a.decr_mode.eq(DecrMode.LATCH),
            s.a.prog_pulse.eq(prog_pulse), s.a.prog_op.eq(s.cfg.prog_op),
            s.a.prog_amp.eq(s.cfg.prog_amp),
            self.wr_en.eq(wr_en), self.wr_clear.eq(wr_clear), self.wr_bit.eq(wr_bit),
            self.wr_data.eq(wr_data), self.wr_file.eq(dest_sl),
            self.dec_row.eq(s.run.prog_row), self.dec_col.eq(s.run.prog_col),
        ]

        emit = Signal()
        emit_kind = Signal(EV_KIND_BITS)
        with m.If(emit):
            m.d.sync += [ev_seq.eq(ev_seq + 1), ev_kind.eq(emit_kind)]

        def event(kind):
            m.d.comb += [emit.eq(1), emit_kind.eq(kind)]
        _keep(s, bl_drv=bl_drv, bl_sel=bl_sel, busy=busy, c=c, cnt=cnt, dest_sl=dest_sl,
                 done=done, emit=emit, err=err, event=event, kbits=kbits, mode_r=mode_r,
                 p=p, planes=planes, power_down=power_down, prog_pulse=prog_pulse,
                 r_cmp=r_cmp, rep=rep, row_mask=row_mask, s_cmp=s_cmp, sample_bl=sample_bl,
                 seg=seg, sgn=sgn, sgn_now=sgn_now, sl_drv=sl_drv, sl_sel=sl_sel, sr=sr,
                 wr_bit=wr_bit, wr_clear=wr_clear, wr_data=wr_data,
                 wr_en=wr_en)

    def _datapath(self, m, s):
        """Per-line datapath, programming drivers, strobe defaults and the helpers the
        states share (segment entry, finish, abort guard, power-gate output)."""
        # Wide datapath values are plain expressions used only inside the FSM branch that
        # registers them, never comb signals: the line logic is then evaluated only in the
        # cycle that loads it (in the Amaranth simulator every comb statement of a module
        # re-runs on any input change; Verilator inlines single-use terms into the flop).
        m.submodules.signbits = signbits = _SignBits()
        m.submodules.levels = lvl = _LineLevels()
        m.submodules.outbits = outb = _OutputBits()
        sign_pos = Signal(4)
        base = Signal(3)
        m.d.comb += [
            sign_pos.eq(s.run.in_bits - 1),
            base.eq(Mux(s.seg | ~s.run.two_phase, 0, s.run.split)),
        ]
        m.d.comb += [
            # At the first plane ``sr`` holds the entries >> base: their sign bit
            # ``in_bits-1`` is bit ``sign_pos - base`` (never negative when signed).
            signbits.sr.eq(s.sr), signbits.shift.eq(sign_pos - base),
            s.sgn_now.eq(Mux(s.p == 0, signbits.signs, s.sgn)),
        ]

        all_ones = (1 << N_LINES) - 1
        vref_all = Const(VREF_ALL, 3 * N_LINES)

        sample_bl_next = Signal()
        m.d.comb += sample_bl_next.eq(Mux(s.cap.mode == Mode.NEURON_TEST, ~s.in_sl0,
                                          s.dirn0 == Direction.BWD))

        # Segment parameters: first segment at start, LSB segment after the first.
        def enter_segment(first: bool):
            if first:   # at start: from the configuration captured with the command
                two = s.cap.two_phase
                m.d.sync += [
                    s.planes.eq(Mux(two, s.mag_bits0 - s.cap.split, s.mag_bits0)),
                    s.kbits.eq(s.cap.out_bits),
                    # two-phase: the file that does not hold inputs; else FWD -> SL.
                    s.dest_sl.eq(Mux(two, ~s.in_sl0, s.dirn0 == Direction.FWD)),
                    s.seg.eq(0),
                ]
            else:
                m.d.sync += [
                    s.planes.eq(s.run.split),
                    s.kbits.eq(s.run.out_bits_lsb),
                    s.dest_sl.eq(s.in_sl),
                    s.seg.eq(1),
                ]
            m.d.sync += [
                s.bl_drv.as_value().eq(vref_all), s.sl_drv.as_value().eq(vref_all),
                s.bl_sel.eq(Mux(first, sample_bl_next, s.sample_bl)),
                s.sl_sel.eq(~Mux(first, sample_bl_next, s.sample_bl)),
            ]
            s.event(EventKind.RESET)


        # Row select of the WL pulses: thermometer code of n_rows, computed once at start.
        thermo = Mux(s.cap.n_rows >= N_LINES, all_ones,
                     ((Const(1, N_LINES + 1) << s.cap.n_rows) - 1)[:N_LINES])

        def finish(ok: bool):
            m.d.sync += [
                s.busy.eq(0), s.done.eq(int(ok)), s.mode_r.eq(0), s.prog_pulse.eq(0),
                s.bl_drv.as_value().eq(0), s.sl_drv.as_value().eq(0), s.row_mask.eq(0),
                s.bl_sel.eq(0), s.sl_sel.eq(0), s.wr_en.eq(0), s.wr_clear.eq(0),
            ]

        m.d.comb += [
            lvl.sr.eq(s.sr), lvl.sgn.eq(s.sgn_now), lvl.diff_in.eq(s.run.diff_in),
            lvl.signed.eq(s.signed),
            outb.r.eq(s.r_cmp), outb.s.eq(s.s_cmp), outb.sign_cycle.eq(s.c == 0),
            outb.act.eq(s.run.act), outb.dest_sl.eq(s.dest_sl),
        ]

        # Programming drivers from the one-hot files: bit 0 of each entry selects a line.
        # BL side: GND = 100, VPROG = 101: b2 always, b0 on a selected line driven to VPROG.
        op_reset = Signal()
        m.d.comb += op_reset.eq(s.run.prog_op == ProgOp.RESET)
        bl_hot = Cat(*[self.bl_q[i][0] for i in range(N_LINES)])
        prog_bl = Cat(*[Cat(self.bl_q[i][0] & ~op_reset, Const(0b10, 2))
                        for i in range(N_LINES)])
        # SL side: RESET drives the selected SL to VPROG (101) and the rest to GND (100);
        # SET / READ ground the selected SL (100) and float the rest (000) to inhibit the
        # other cells of the selected row.
        prog_sl = Cat(*[Cat(self.sl_q[i][0] & op_reset, Const(0, 1),
                            self.sl_q[i][0] | op_reset)
                        for i in range(N_LINES)])

        m.d.comb += [
            s.lfsr.advance.eq(0),
            s.pg.start.eq(0),
            s.a.n_reset.eq(0), s.a.n_sample.eq(0), s.a.n_integ.eq(0), s.a.n_decr.eq(0),
            s.a.n_compare.eq(0), s.a.n_latch.eq(0), s.a.n_noise.eq(0), s.a.n_wr.eq(0),
            self.dec_load.eq(0),
        ]

        # Power-gate output: follows POWER.enable, announced when idle.
        def idle_power():
            with m.If(s.cfg.power_enable == s.power_down):
                m.d.sync += s.power_down.eq(~s.cfg.power_enable)
                s.event(EventKind.POWER)

        def guard():
            # Abort wins over whatever the state does in this cycle.
            with m.If(s.abort_q):
                finish(False)
                # dec_load is not withdrawn: an abort that meets PDEC still loads the
                # decoders, as one a cycle later would (and dec_load then depends on
                # gated state alone, not on the falling-edge command crossing).
                m.d.comb += [s.emit.eq(0), s.pg.start.eq(0), s.lfsr.advance.eq(0)]
                m.next = "IDLE"
        _keep(s, all_ones=all_ones, base=base, bl_hot=bl_hot, enter_segment=enter_segment,
                 finish=finish, guard=guard, idle_power=idle_power, lvl=lvl, outb=outb,
                 prog_bl=prog_bl, prog_sl=prog_sl, sample_bl_next=sample_bl_next,
                 thermo=thermo)

    def _idle_state(self, m, s):
        """IDLE: a captured start is accepted or refused; the power gate follows POWER.

        Abort wins, here as in every other state: a start captured together with an abort
        (one CMD write with both bits set) is dropped, so STATUS (done, err) keeps the
        previous operation's values and the core stays idle.
        """
        with m.State("IDLE"):
            with m.If(idle_takes_start(s.start_q, s.abort_q)):
                m.d.sync += [s.done.eq(0), s.err.eq(s.err_now)]
                with m.If(s.err_now == 0):
                    m.d.sync += [s.busy.eq(1), s.mode_r.eq(s.cap.mode),
                                 s.sample_bl.eq(s.sample_bl_next),
                                 s.run.as_value().eq(s.cap.as_value())]
                    with m.If(s.cap.mode == Mode.PROGRAM):
                        m.next = "PDEC"
                    with m.Else():
                        with m.If(s.cap.mode == Mode.NEURON_TEST):
                            m.d.sync += s.row_mask.eq(0)
                        with m.Elif(s.dirn0 == Direction.BWD):
                            m.d.sync += s.row_mask.eq(s.all_ones)
                        with m.Else():
                            m.d.sync += s.row_mask.eq(s.thermo)
                        s.enter_segment(True)
                        m.next = "RESET"
            with m.Else():
                s.idle_power()

    def _program_states(self, m, s):
        """Programming: decoders, drivers, one pulse of PROG_WIDTH cycles."""
        with m.State("PDEC"):
            m.d.comb += self.dec_load.eq(1)
            m.next = "PWAIT"
            s.guard()
        with m.State("PWAIT"):
            m.next = "PDRV"
            s.guard()
        with m.State("PDRV"):
            m.d.sync += [
                s.bl_drv.as_value().eq(s.prog_bl), s.sl_drv.as_value().eq(s.prog_sl),
                s.row_mask.eq(s.bl_hot), s.prog_pulse.eq(1), s.cnt.eq(s.prog_cycles),
            ]
            s.event(EventKind.PROG_BEGIN)
            m.next = "PULSE"
            s.guard()
        with m.State("PULSE"):
            m.d.sync += s.cnt.eq(s.cnt - 1)
            with m.If(s.cnt == 1):
                m.d.sync += s.prog_pulse.eq(0)
                s.event(EventKind.PROG_END)
                m.next = "PEND"
            s.guard()
        with m.State("PEND"):
            s.finish(True)
            m.next = "IDLE"

            s.guard()

    def _mvm_states(self, m, s):
        """MVM / neuron test: per segment RESET, planes of WL pulses with sample and
        integrate, noise, then the binary search with its write-backs."""
        with m.State("RESET"):
            m.d.comb += s.a.n_reset.eq(1)
            m.d.sync += [
                # The only read of the register files' wide outputs in an MVM: one
                # expression, used here alone.
                s.sr.eq(Mux(s.in_sl, self.sl_q.as_value(), self.bl_q.as_value()) >> s.base),
                s.p.eq(0),
            ]
            m.next = "SETUP"
            s.guard()
        with m.State("SETUP"):
            in_lv = s.lvl.levels
            m.d.sync += [
                s.bl_drv.as_value().eq(Mux(s.in_sl, 0, in_lv)),
                s.sl_drv.as_value().eq(Mux(s.in_sl, in_lv, 0)),
                s.sr.eq(s.sr >> 1),
                s.sgn.eq(s.sgn_now),
                s.rep.eq(Const(1, 8) << s.p),
            ]
            m.d.comb += s.pg.start.eq(1)
            s.event(EventKind.WL_PULSE)
            m.next = "WL"
            s.guard()
        with m.State("WL"):
            m.d.sync += s.cnt.eq(s.sample_cyc)
            s.event(EventKind.SAMPLE)
            m.next = "SAMPLE"
            s.guard()
        with m.State("SAMPLE"):
            m.d.comb += s.a.n_sample.eq(1)
            m.d.sync += s.cnt.eq(s.cnt - 1)
            with m.If(s.cnt == 1):
                m.d.sync += s.cnt.eq(s.integ_cyc)
                s.event(EventKind.INTEG)
                m.next = "INTEG"
            s.guard()
        with m.State("INTEG"):
            m.d.comb += s.a.n_integ.eq(1)
            m.d.sync += s.cnt.eq(s.cnt - 1)
            with m.If(s.cnt == 1):
                m.d.sync += s.rep.eq(s.rep - 1)
                with m.If(s.rep != 1):
                    m.d.sync += s.cnt.eq(s.sample_cyc)
                    s.event(EventKind.SAMPLE)
                    m.next = "SAMPLE"
                with m.Elif(s.p + 1 != s.planes):
                    m.d.sync += s.p.eq(s.p + 1)
                    m.next = "SETUP"
                with m.Elif(s.run.stoch & (s.run.noise_steps != 0)):
                    m.d.sync += s.cnt.eq(s.run.noise_steps)
                    s.event(EventKind.NOISE)
                    m.next = "NOISE"
                with m.Else():
                    m.d.sync += [s.c.eq(0), s.wr_clear.eq(1)]
                    s.event(EventKind.COMPARE)
                    m.next = "COMPARE"
            s.guard()
        with m.State("NOISE"):
            m.d.comb += [s.a.n_noise.eq(1), s.lfsr.advance.eq(1)]
            m.d.sync += s.cnt.eq(s.cnt - 1)
            m.next = "NGAP"
            s.guard()
        with m.State("NGAP"):
            with m.If(s.cnt != 0):
                s.event(EventKind.NOISE)
                m.next = "NOISE"
            with m.Else():
                m.d.sync += [s.c.eq(0), s.wr_clear.eq(1)]
                s.event(EventKind.COMPARE)
                m.next = "COMPARE"
            s.guard()
        with m.State("COMPARE"):
            m.d.comb += s.a.n_compare.eq(1)
            m.d.sync += s.wr_clear.eq(0)
            m.next = "CWAIT"
            s.guard()
        with m.State("CWAIT"):
            # The comparators have had two cycles: sample them on entering LATCH.
            m.d.sync += s.r_cmp.eq(s.a.cmp)
            s.event(EventKind.LATCH)
            m.next = "LATCH"
            s.guard()
        with m.State("LATCH"):
            m.d.comb += s.a.n_latch.eq(1)
            with m.If(s.c == 0):
                m.d.sync += s.s_cmp.eq(s.r_cmp)
            m.d.sync += [
                s.wr_en.eq(1),
                s.wr_bit.eq(s.kbits - 1 - s.c),
                s.wr_data.eq(s.outb.data),
                s.bl_sel.eq(~s.dest_sl), s.sl_sel.eq(s.dest_sl),
            ]
            s.event(EventKind.WR)
            m.next = "WR"
            s.guard()
        with m.State("WR"):
            m.d.comb += s.a.n_wr.eq(1)
            m.d.sync += [s.wr_en.eq(0), s.bl_sel.eq(s.sample_bl), s.sl_sel.eq(~s.sample_bl)]
            with m.If(s.c + 1 != s.kbits):
                m.d.sync += s.c.eq(s.c + 1)
                s.event(EventKind.DECR)
                m.next = "DECR"
            with m.Elif(s.run.two_phase & ~s.seg):
                s.enter_segment(False)
                m.next = "RESET"
            with m.Else():
                s.finish(True)
                m.next = "IDLE"
            s.guard()
        with m.State("DECR"):
            m.d.comb += s.a.n_decr.eq(1)
            m.d.sync += s.cnt.eq(s.integ_cyc)
            s.event(EventKind.INTEG)
            m.next = "MINTEG"
            s.guard()
        with m.State("MINTEG"):
            m.d.comb += s.a.n_integ.eq(1)
            m.d.sync += s.cnt.eq(s.cnt - 1)
            with m.If(s.cnt == 1):
                s.event(EventKind.COMPARE)
                m.next = "COMPARE"
            s.guard()

    def _busy_refusal(self, m, s):
        """A second start while busy is refused (the running operation goes on)."""
        with m.If(s.busy & s.start_q & ~s.abort_q):
            m.d.sync += s.err.eq(CfgErr.BUSY)

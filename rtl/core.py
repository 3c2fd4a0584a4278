"""One NeuRRAM CIM core: register block, BL/SL register files, controller, clock gate.

Clocking (docs/architecture.md §1): the register block and the two register files run on
``sync`` so the host can load them while the core sleeps. The controller (with its LFSR
and pulse generator) runs on a local ``gated`` domain whose clock is the
:class:`~rtl.clockgate.ClockGate` output, enabled while the controller is busy, while a
command is on its way or held in the controller's capture register, during reset and
while a POWER change is pending. The CMD pulses cross into the gated domain through the
clock gate's falling-edge launch; the controller registers each one with the
configuration it acts on, and otherwise reads from ``sync`` only the register files,
when no write to them is in flight.
"""

from __future__ import annotations

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, DomainRenamer, Module, Mux, ResetSignal,
                          Signal)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .analog_bus import AnalogBusSignature
from .bus import RegBusSignature
from .clockgate import ClockGate
from .contract.config import CONFIG_FIELDS
from .contract.constants import MAX_CORES, N_LINES
from .controller import Controller
from .regblock import RegBlock
from .regfile import RegisterFile


class Core(wiring.Component):
    """A compute-in-memory core (everything but the analog array and neurons).

    Parameters
    ----------
    core_id : int
        Index of the core in the chip, ``0 .. MAX_CORES-1`` (47: the chip registers
        select and report 48 cores).
    macro : bool
        True: the pulse generator instantiates the ``neurram_delay_line`` blackbox. False:
        its taps become the input ``delay_taps`` (Amaranth-simulator testbenches).

    Members
    -------
    bus : In(RegBusSignature())
        Register and register-file bus from the frame decoder.
    analog : Out(AnalogBusSignature())
        The analog bus to the array and neurons (docs/analog_bus.md).
    start_ext : In(1)
        Chip-level start (CHIP_CMD.start_sel with this core selected), same as CMD.start.
    busy : Out(1)
        The controller is running (for the chip's BUSY mask).
    clk_req : Out(1)
        The core needs the next edge of its clock: its controller's clock gate is about
        to open (busy, a command pending or held, reset, a POWER change pending). With
        no register-bus strobe and no ``start_ext``, a core whose ``clk_req`` is 0 does
        not change state on a clock edge, so the chip may stop its clock.
    delay_a : Out(1)
        Only with ``macro=False``: the delay line's input.
    delay_taps : In(10)
        Only with ``macro=False``: the delay line's taps.
    """

    def __init__(self, core_id: int, *, macro: bool = True):
        if not isinstance(core_id, int) or isinstance(core_id, bool):
            raise TypeError(f"core_id must be an int, not {core_id!r}")
        if not 0 <= core_id < MAX_CORES:
            raise ValueError(f"core_id must be 0..{MAX_CORES - 1}, not {core_id!r}")
        if not isinstance(macro, bool):
            raise TypeError(f"macro must be a bool, not {macro!r}")
        self.core_id = core_id
        self._macro = macro
        super().__init__(self.build_signature(macro=macro))

    @staticmethod
    def build_signature(*, macro: bool = True) -> wiring.Signature:
        """The port signature of a core, without building one (``rtl.generate`` wires
        Verilog instances of a converted core with it)."""
        members = {
            "bus": In(RegBusSignature()),
            "analog": Out(AnalogBusSignature()),
            "start_ext": In(1),
            "busy": Out(1),
            "clk_req": Out(1),
        }
        if not macro:
            members["delay_a"] = Out(1)
            members["delay_taps"] = In(10)
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        m.submodules.regs = regs = RegBlock("neurram_core")
        m.submodules.bl_file = blf = RegisterFile()
        m.submodules.sl_file = slf = RegisterFile()
        m.submodules.clockgate = cg = ClockGate(n_xfer=3)
        m.submodules.controller = ctrl = DomainRenamer("gated")(Controller(macro=self._macro))

        # Asynchronous reset: the gated flops' next-state logic then does not read the
        # ungated reset flop, so a simulator evaluates it on gated edges only.
        m.domains.gated = ClockDomain("gated", local=True, async_reset=True)
        m.d.comb += [
            ClockSignal("gated").eq(cg.gclk),
            ResetSignal("gated").eq(ResetSignal("sync")),
        ]

        # ---- register bus -------------------------------------------------------------
        m.d.comb += [
            regs.addr.eq(bus.addr), regs.wdata.eq(bus.wdata),
            regs.we.eq(bus.we), regs.re.eq(bus.re),
            bus.rdata.eq(regs.rdata),
        ]
        rd_sel = Signal()
        with m.If(bus.rf_re):
            m.d.sync += rd_sel.eq(bus.rf_sel)
        for sel, f in ((0, blf), (1, slf)):
            hit = bus.rf_sel == sel
            m.d.comb += [
                f.index.eq(bus.rf_index), f.wdata.eq(bus.rf_wdata),
                f.stage_we.eq(bus.rf_we & hit), f.re.eq(bus.rf_re & hit),
                f.commit.eq(bus.rf_commit), f.abort.eq(bus.rf_abort),
            ]
        m.d.comb += bus.rf_rdata.eq(Mux(rd_sel, slf.rdata, blf.rdata))

        # ---- configuration and commands -----------------------------------------------
        hw = regs.hw
        for name, reg, fld, _, _ in CONFIG_FIELDS:
            m.d.comb += getattr(ctrl.cfg, name).eq(getattr(getattr(hw, reg), fld))
        cmds = Signal(3)
        m.d.comb += [
            cmds.eq(Cat(hw.cmd.start | self.start_ext, hw.cmd.abort, hw.cmd.lfsr_load)),
            cg.xfer_i.eq(cmds),
            ctrl.start.eq(cg.xfer_o[0]),
            ctrl.abort.eq(cg.xfer_o[1]),
            ctrl.lfsr_load.eq(cg.xfer_o[2]),
            cg.en.eq(ctrl.busy | ctrl.cmd_pending | cmds.any()),
            cg.power_enable.eq(hw.power.enable),
            cg.power_down.eq(ctrl.analog.power_down),
            hw.status.busy.eq(ctrl.busy),
            hw.status.done.eq(ctrl.done),
            hw.status.err.eq(ctrl.err),
            hw.status.clk_gated.eq(cg.clk_gated),
            hw.status.pwr_gated.eq(cg.pwr_gated),
            self.busy.eq(ctrl.busy),
            self.clk_req.eq(cg.wake),
        ]

        # ---- register files' hardware ports --------------------------------------------
        m.d.comb += [
            ctrl.bl_q.eq(blf.q), ctrl.sl_q.eq(slf.q),
            blf.dec_load.eq(ctrl.dec_load), blf.dec_addr.eq(ctrl.dec_row),
            slf.dec_load.eq(ctrl.dec_load), slf.dec_addr.eq(ctrl.dec_col),
        ]
        for sel, f in ((0, blf), (1, slf)):
            hit = ctrl.wr_file == sel
            m.d.comb += [
                f.wr_mask.eq((1 << N_LINES) - 1),
                f.wr_clear.eq(ctrl.wr_clear & hit),
                f.wr_en.eq(ctrl.wr_en & hit),
                f.wr_bit.eq(ctrl.wr_bit),
                f.wr_data.eq(ctrl.wr_data),
            ]

        wiring.connect(m, ctrl.analog, wiring.flipped(self.analog))
        if not self._macro:
            m.d.comb += [self.delay_a.eq(ctrl.delay_a), ctrl.delay_taps.eq(self.delay_taps)]
        return m

"""The analog bus port signature: everything the digital core drives into the analog domain.

The events the bus carries, their levels and :class:`AnalogEvent` are the chip contract's
(:mod:`rtl.contract.events`, documented in ``docs/analog_bus.md``); this module adds the
Amaranth port group and re-exports the contract's names, so RTL code imports one module.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .contract.corelet import neuron_bl, neuron_sl
from .contract.events import (DECR_MODE_BITS, DECR_STEP_BITS, EV_KIND_BITS, EV_SEQ_BITS, FIELDS_BY_KIND,
                              LEVEL_BITS, MODE_BITS, PROG_AMP_BITS, PROG_OP_BITS, VDECR_BITS,
                              VNOISE_BITS, VREAD_BITS, AnalogEvent, DecrMode, EventKind, Level)
from .contract.constants import N_LINES
from .contract.registers import Act as Activation
from .contract.registers import Dir as Direction
from .contract.registers import Mode, ProgOp

__all__ = ["Activation", "AnalogBusSignature", "AnalogEvent", "DECR_MODE_BITS", "DECR_STEP_BITS",
           "DecrMode",
           "Direction", "EV_KIND_BITS", "EV_SEQ_BITS", "EventKind", "FIELDS_BY_KIND", "LEVEL_BITS",
           "Level", "MODE_BITS", "Mode", "N_LINES", "PROG_AMP_BITS", "PROG_OP_BITS", "ProgOp",
           "VDECR_BITS", "VNOISE_BITS", "VREAD_BITS", "neuron_bl", "neuron_sl"]


class AnalogBusSignature(wiring.Signature):
    """Port group from a core (``Out`` members) to the analog domain (``In`` member ``cmp``).

    Members (directions as seen from the digital core)
    -------------------------------------------------
    bl_drv, sl_drv : Out(ArrayLayout(3, 256))
        :class:`Level` per line; entry ``i`` occupies bits ``[3i+2:3i]`` of the flat port.
    wl_en : Out(256)
        Per-row WL enable (row select AND the delay-line pulse / programming pulse).
    wl_pulse : Out(1)
        The delay-line pulse itself (true 1-10 ns width in simulation time).
    n_reset, n_sample, n_integ, n_decr, n_compare, n_latch, n_noise, n_wr : Out(1)
        Neuron strobes shared by the core's 256 neurons.
    bl_sel, sl_sel : Out(1)
        Neuron line switches (which line the neurons sample from / drive).
    vread, vdecr, decr_step, decr_mode, vnoise : Out
        Shared DAC codes, the decrement's step index (its level is
        ``Vdecr * 2**-decr_step``) and polarity mode (:class:`DecrMode`).
    noise : Out(256)
        Per-neuron LFSR noise bits (neuron-indexed).
    prog_pulse, prog_op, prog_amp : Out
        Programming pulse, its :class:`ProgOp` and amplitude code.
    mode : Out(2)
        The controller's :class:`Mode` while busy.
    power_down : Out(1)
        Power-gate control: the core's analog circuits are off.
    ev_seq, ev_kind : Out
        Event counter (incremented once per event) and the :class:`EventKind` of the last
        event; a testbench waits on ``ev_seq`` changes, never on the clock.
    cmp : In(256)
        Comparator outputs, neuron-indexed, driven by the analog side.
    """

    def __init__(self):
        super().__init__({
            "bl_drv": Out(data.ArrayLayout(LEVEL_BITS, N_LINES)),
            "sl_drv": Out(data.ArrayLayout(LEVEL_BITS, N_LINES)),
            "wl_en": Out(N_LINES),
            "wl_pulse": Out(1),
            "n_reset": Out(1),
            "n_sample": Out(1),
            "n_integ": Out(1),
            "n_decr": Out(1),
            "n_compare": Out(1),
            "n_latch": Out(1),
            "n_noise": Out(1),
            "n_wr": Out(1),
            "bl_sel": Out(1),
            "sl_sel": Out(1),
            "vread": Out(VREAD_BITS),
            "vdecr": Out(VDECR_BITS),
            "decr_step": Out(DECR_STEP_BITS),
            "decr_mode": Out(DECR_MODE_BITS),
            "vnoise": Out(VNOISE_BITS),
            "noise": Out(N_LINES),
            "prog_pulse": Out(1),
            "prog_op": Out(PROG_OP_BITS),
            "prog_amp": Out(PROG_AMP_BITS),
            "mode": Out(MODE_BITS),
            "power_down": Out(1),
            "ev_seq": Out(EV_SEQ_BITS),
            "ev_kind": Out(EV_KIND_BITS),
            "cmp": In(N_LINES),
        })

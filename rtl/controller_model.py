"""Golden model of the core controller: the analog-bus events and register-file write-backs
of one started operation (no cycles).

:class:`ControllerModel` plays one start command with the contract's rules
(:mod:`rtl.contract.config`) and the LFSR golden model; the RTL
(:class:`rtl.controller.Controller`) must produce the same events in the same order
(tests/rtl/test_controller.py, the cosim regression). Numpy only.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .contract.config import CoreConfig, input_levels, output_bit
from .contract.constants import BL_FILE, CLK_NS, N_LINES, SL_FILE
from .contract.corelet import NEURON_SL
from .contract.events import AnalogEvent, DecrMode, EventKind, Level
from .contract.registers import CfgErr, Mode, ProgOp
from .lfsr_model import LfsrModel

__all__ = ["ControllerModel", "sequence_events", "start_taken"]


def start_taken(start: bool, abort: bool) -> bool:
    """Does a CMD write with these ``start`` / ``abort`` bits start an operation?

    Abort wins: with both bits set in one write, the start is dropped (an idle core stays
    idle, STATUS keeps the last operation's done / err; a busy core is aborted, its start
    neither refused with BUSY nor queued).
    """
    return bool(start) and not bool(abort)


class ControllerModel:
    """Golden model of :class:`Controller`: events and write-backs, no cycles.

    The model keeps the state that survives between operations: the LFSR chains and the
    power-gate output. ``run`` plays one start command.
    """

    def __init__(self):
        self.lfsr = LfsrModel()
        self.power_down = False
        self.err = 0
        self.done = False

    def load_lfsr(self, seed_a: int, seed_b: int) -> None:
        """CMD.lfsr_load."""
        self.lfsr.load(seed_a, seed_b)

    def set_power(self, enable: bool, analog: Callable[[AnalogEvent], object]) -> None:
        """POWER.enable written: a POWER event when the power-gate output changes."""
        pd = not enable
        if pd != self.power_down:
            self.power_down = pd
            analog(AnalogEvent(EventKind.POWER, power_down=pd))

    def start_while_busy(self) -> int:
        """A start that arrives while an operation runs: refused with STATUS.err BUSY, the
        running operation goes on (done is left as it is)."""
        self.err = int(CfgErr.BUSY)
        return self.err

    def run(self, cfg: CoreConfig, bl: np.ndarray, sl: np.ndarray,
            analog: Callable[[AnalogEvent], object]) -> int:
        """One CMD.start: emit the events through ``analog``, write back into ``bl``/``sl``.

        ``analog(event)`` returns the 256 comparator bits (neuron-indexed) for COMPARE
        events and is ignored otherwise. ``bl``/``sl`` are integer arrays of 256 entries
        modified in place. Returns STATUS.err (0: the operation ran and ``done`` is set).
        """
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        for name, arr in (("bl", bl), ("sl", sl)):
            if not isinstance(arr, np.ndarray) or arr.shape != (N_LINES,):
                raise ValueError(f"{name} must be a numpy array of {N_LINES} entries")
        self.done = False
        self.err = int(cfg.validate())
        if self.err:
            return self.err
        if cfg.mode == Mode.PROGRAM:
            self._program(cfg, bl, sl, analog)
        else:
            self._mvm(cfg, bl, sl, analog)
        self.done = True
        return 0

    def _program(self, cfg, bl, sl, analog):
        bl[:] = 0
        bl[cfg.prog_row] = 1
        sl[:] = 0
        sl[cfg.prog_col] = 1
        bl_sel = (bl & 1).astype(bool)
        sl_sel = (sl & 1).astype(bool)
        reset = cfg.prog_op == ProgOp.RESET
        bl_drv = np.where(bl_sel & (not reset), Level.VPROG, Level.GND).astype(np.uint8)
        # SET and READ put the whole selected row's BL at VPROG with its WL on: only the
        # selected SL may sink current, the others float (inhibit) or every cell of the row
        # would be SET / read together. RESET drives one SL, so the rest can stay at GND.
        if reset:
            sl_drv = np.where(sl_sel, Level.VPROG, Level.GND).astype(np.uint8)
        else:
            sl_drv = np.where(sl_sel, Level.GND, Level.FLOAT).astype(np.uint8)
        analog(AnalogEvent(EventKind.PROG_BEGIN, mode=cfg.mode, bl_drv=bl_drv, sl_drv=sl_drv,
                           wl_en=bl_sel.copy(), prog_op=cfg.prog_op, prog_amp=cfg.prog_amp))
        analog(AnalogEvent(EventKind.PROG_END, mode=cfg.mode,
                           width_ns=CLK_NS * max(cfg.prog_cycles, 1)))

    def _mvm(self, cfg, bl, sl, analog):
        files = (bl, sl)
        inp = cfg.input_file
        wl = cfg.wl_rows()
        sample_bl = cfg.sample_bl
        floating = np.full(N_LINES, Level.FLOAT, dtype=np.uint8)
        for base, planes, k, dest in cfg.segments():
            analog(AnalogEvent(EventKind.RESET, mode=cfg.mode))
            entries = files[inp].copy()
            for p in range(planes):
                lv = input_levels(cfg, entries, base + p)
                bl_drv, sl_drv = (lv, floating) if inp == BL_FILE else (floating, lv)
                analog(AnalogEvent(EventKind.WL_PULSE, mode=cfg.mode, bl_drv=bl_drv.copy(),
                                   sl_drv=sl_drv.copy(), wl_en=wl.copy(), vread=cfg.vread,
                                   width_ns=float(cfg.wl_ns)))
                for _ in range(1 << p):
                    analog(AnalogEvent(EventKind.SAMPLE, mode=cfg.mode, bl_sel=sample_bl,
                                       sl_sel=not sample_bl, bl_drv=bl_drv.copy(),
                                       sl_drv=sl_drv.copy(), vread=cfg.vread))
                    analog(AnalogEvent(EventKind.INTEG))
            if cfg.stoch:
                for _ in range(cfg.noise_steps):
                    analog(AnalogEvent(EventKind.NOISE, noise=self.lfsr.noise(),
                                       vnoise=cfg.vnoise))
                    self.lfsr.advance()
            out = files[dest]
            out[:] = 0
            s = None
            for c in range(k):
                if c:
                    analog(AnalogEvent(EventKind.DECR, vdecr=cfg.vdecr, decr_step=c - 1,
                                       decr_mode=DecrMode.LATCH))
                    analog(AnalogEvent(EventKind.INTEG))
                r = analog(AnalogEvent(EventKind.COMPARE))
                r = np.asarray(r, dtype=bool)
                if r.shape != (N_LINES,):
                    raise ValueError("analog(COMPARE) must return 256 comparator bits")
                if c == 0:
                    s = r.copy()
                analog(AnalogEvent(EventKind.LATCH))
                bits = output_bit(cfg.act, c, r, s)
                entry_bits = bits[NEURON_SL] if dest == SL_FILE else bits
                b = 1 << (k - 1 - c)
                out[:] = np.where(entry_bits, out | b, out & ~b)
                analog(AnalogEvent(EventKind.WR, bl_sel=dest == BL_FILE, sl_sel=dest == SL_FILE))


def sequence_events(cfg: CoreConfig, bl: np.ndarray, sl: np.ndarray,
                    cmp_fn: Callable[[int], np.ndarray],
                    model: ControllerModel | None = None) -> list[AnalogEvent]:
    """The event list of one start; ``cmp_fn(i)`` gives the bits of the i-th COMPARE.

    ``bl``/``sl`` receive the write-backs in place, as in :meth:`ControllerModel.run`.
    """
    model = ControllerModel() if model is None else model
    events: list[AnalogEvent] = []
    n_cmp = [0]

    def analog(ev):
        events.append(ev)
        if ev.kind == EventKind.COMPARE:
            n_cmp[0] += 1
            return cmp_fn(n_cmp[0] - 1)
        return None

    model.run(cfg, bl, sl, analog)
    return events

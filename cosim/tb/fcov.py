"""Functional coverage of the cosim regression (cocotb-coverage coverpoints and crosses).

The testbenches call :func:`sample_frame` after every frame and :func:`sample_operation`
after every operation; :func:`export` writes cocotb-coverage's YAML database when
``$NEURRAM_FCOV_FILE`` is set (``make coverage`` merges the files of all runs and names the
bins no run hit). Bins:

* ``frame.opcode`` (REG_WRITE..RF_READ, ``other``) and ``frame.error`` (every SPI_ERR code);
* ``op.mode`` (programming SET / RESET, neuron test, MVM), each run to completion;
* ``op.in_out`` = in bits 1-8 x out bits 1-10 and ``op.variant`` = direction x two-phase x
  activation x stochastic, of completed MVMs / neuron tests;
* ``op.interrupt`` = abort / reset x the controller's state when it hit, named by the last
  event the controller announced on the analog bus (``IDLE`` when it had finished).
"""

from __future__ import annotations

import os

from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db

from rtl.analog_bus import Direction, EventKind, Mode, ProgOp
from rtl.frame import Op, SpiErr

OPCODES = [op.name for op in Op] + ["other"]
ERRORS = [e.name for e in SpiErr]
MODES = ["PROGRAM_SET", "PROGRAM_RESET", "NEURON_TEST", "MVM"]
# The states an interrupt can meet, named by the event announced on entering them.
MVM_STATES = ["RESET", "WL_PULSE", "SAMPLE", "INTEG", "NOISE", "COMPARE", "LATCH", "WR", "DECR"]
PROG_STATES = ["PROG_BEGIN", "PROG_END"]
STATES = ["IDLE"] + MVM_STATES + PROG_STATES
ACTS = ["NONE", "RELU", "SIGMOID", "TANH"]


def _op_name(opcode: int) -> str:
    return Op(opcode).name if opcode in set(int(o) for o in Op) else "other"


@CoverPoint("neurram.frame.opcode", xf=lambda opcode, err: _op_name(opcode), bins=OPCODES)
@CoverPoint("neurram.frame.error", xf=lambda opcode, err: SpiErr(err).name, bins=ERRORS)
def _frame(opcode: int, err: int) -> None:
    pass


def sample_frame(mosi: bytes, err: int) -> None:
    """One frame (its first byte, or none) and the error code the golden model gave it."""
    _frame(mosi[0] if mosi else -1, int(err))


def _mode(cfg) -> str:
    if cfg.mode == Mode.PROGRAM:
        return "PROGRAM_RESET" if cfg.prog_op == ProgOp.RESET else "PROGRAM_SET"
    return Mode(cfg.mode).name


@CoverPoint("neurram.op.mode", xf=lambda cfg, i, s: _mode(cfg), bins=MODES)
@CoverPoint("neurram.op.in_bits", xf=lambda cfg, i, s: cfg.in_bits if cfg.mode != Mode.PROGRAM else 0,
            bins=list(range(1, 9)))
@CoverPoint("neurram.op.out_bits", xf=lambda cfg, i, s: cfg.out_bits if cfg.mode != Mode.PROGRAM else 0,
            bins=list(range(1, 11)))
@CoverCross("neurram.op.in_out", items=["neurram.op.in_bits", "neurram.op.out_bits"])
@CoverPoint("neurram.op.direction", xf=lambda cfg, i, s: Direction(cfg.direction).name
            if cfg.mode != Mode.PROGRAM else None, bins=[d.name for d in Direction])
@CoverPoint("neurram.op.two_phase", xf=lambda cfg, i, s: bool(cfg.two_phase)
            if cfg.mode != Mode.PROGRAM else None, bins=[False, True])
@CoverPoint("neurram.op.act", xf=lambda cfg, i, s: ACTS[cfg.act]
            if cfg.mode != Mode.PROGRAM else None, bins=ACTS)
@CoverPoint("neurram.op.stoch", xf=lambda cfg, i, s: bool(cfg.stoch and cfg.noise_steps)
            if cfg.mode != Mode.PROGRAM else None, bins=[False, True])
@CoverCross("neurram.op.variant", items=["neurram.op.direction", "neurram.op.two_phase",
                                          "neurram.op.act", "neurram.op.stoch"])
def _completed_op(cfg, interrupt, state) -> None:
    pass


@CoverPoint("neurram.op.interrupt_kind", xf=lambda cfg, i, s: i, bins=["abort", "reset"])
@CoverPoint("neurram.op.interrupt_state", xf=lambda cfg, i, s: s, bins=STATES)
@CoverCross("neurram.op.interrupt", items=["neurram.op.interrupt_kind",
                                            "neurram.op.interrupt_state"])
def _interrupted_op(cfg, interrupt, state) -> None:
    pass


def sample_operation(cfg, interrupt: str | None, state: str | None = None) -> None:
    """A started operation: completed (``interrupt`` None) or cut by ``abort`` / ``reset``
    in controller ``state`` (one of :data:`STATES`)."""
    if interrupt is None:
        _completed_op(cfg, interrupt, state)
    else:
        _interrupted_op(cfg, interrupt, state)


def state_name(ev_kind: int, busy: bool) -> str:
    """The controller state an interrupt met, from the last announced event."""
    if not busy:
        return "IDLE"
    name = EventKind(ev_kind).name
    return name if name in STATES else "IDLE"


def export() -> str | None:
    path = os.environ.get("NEURRAM_FCOV_FILE")
    if path:
        coverage_db.export_to_yaml(path)
    return path

"""The golden chip: a pure-Python transaction-level model of the NeuRRAM chip.

Composition (each piece is the golden model its RTL block is tested against):

* :class:`rtl.frame.FrameModel`: SPI frames, the chip control registers, SPI_ERR.
* per core a :class:`GoldenCore`: the core's :class:`rtl.regblock.RegisterModel`, the BL
  and SL :class:`rtl.regfile.RegisterFileModel` files, the LFSR, and the controller's
  transaction-level model ``rtl.controller.ControllerModel.run``, whose analog-bus events
  go to the same ``analog_models.CoreModel`` the cosimulation's adapters call, made by the
  same :func:`make_core_models` with the same seeds. Both sides therefore feed identical
  event sequences to identical models and must produce identical output codes.

An operation runs to completion at the moment its start command is written (the model
has no clock); STATUS then reads done. :meth:`GoldenChip.spi` is ``Transport.spi``.
"""

from __future__ import annotations

import numpy as np

from rtl.contract.constants import MAX_CORES, N_LINES
from rtl.contract.events import AnalogEvent, EventKind
from rtl.contract.registers import ProgOp
from rtl.controller_model import start_taken

# The per-core seeding rule and the relaxation wait live with the analog models (every
# backend makes its cores there); re-exported here for existing imports.
from analog_models.cores import (CORE_SEED_STRIDE, RELAX_WAIT_NS, core_seed,  # noqa: F401
                                 initial_conductance, make_core_models)


# --------------------------------------------------------------------------------------
# Analog models shared by cosim and golden
# --------------------------------------------------------------------------------------


def get_conductance(model) -> np.ndarray:
    """A copy of the model's true conductances (µS)."""
    return np.array(model.G, dtype=float)


def set_conductance(model, g_uS) -> None:
    """Backdoor load (no programming pulses); validated by the model."""
    g = np.asarray(g_uS, dtype=float)
    if g.shape != (N_LINES, N_LINES):
        raise ValueError(f"conductance must be {N_LINES}x{N_LINES}, got {g.shape}")
    model.G = g


class RecordingModel:
    """Wraps an analog model, keeping every event it is handed (scoreboard aid)."""

    def __init__(self, model):
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "events", [])

    def handle(self, ev):
        self.events.append(ev)
        return self.model.handle(ev)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __setattr__(self, name, value):
        # Backdoor loads (``G``) and parameter changes must reach the wrapped model.
        setattr(self.model, name, value)


# --------------------------------------------------------------------------------------
# One core
# --------------------------------------------------------------------------------------

class GoldenCore:
    """Register semantics of one core, its register files and its controller model.

    Implements the per-core half of :class:`rtl.frame.FrameTarget`. The controller model
    (``rtl.controller_model.ControllerModel``) keeps what survives between operations (LFSR,
    power gate, err/done) and plays each start; its events go to the analog model.
    """

    def __init__(self, index: int, model, board):
        from rtl import regmap
        from rtl.controller_model import ControllerModel
        from rtl.regblock import RegisterModel
        from rtl.regfile import RegisterFileModel

        self.index = index
        self.model = model
        self.board = board
        self.regs = RegisterModel(regmap.core_map())
        self.files = [RegisterFileModel(), RegisterFileModel()]
        self.ctrl = ControllerModel()
        self.busy = False
        self.runs = 0
        self._status()

    def _status(self):
        self.regs.set_hw("STATUS", "busy", int(self.busy))
        self.regs.set_hw("STATUS", "done", int(self.ctrl.done))
        self.regs.set_hw("STATUS", "err", int(self.ctrl.err))
        # Operations complete at once here, so the controller clock is always gated
        # when the host can look.
        self.regs.set_hw("STATUS", "clk_gated", int(not self.busy))
        self.regs.set_hw("STATUS", "pwr_gated", int(self.ctrl.power_down))

    # ---- FrameTarget -------------------------------------------------------------
    def reg_write(self, addr: int, data: int) -> None:
        self.regs.write(addr, data)
        pulses = set(self.regs.pulses)
        self.ctrl.set_power(bool(self.regs.get("power", "enable")), self.model.handle)
        if ("cmd", "lfsr_load") in pulses:
            self.ctrl.load_lfsr(self.regs.get("seed_a", "seed"), self.regs.get("seed_b", "seed"))
        if start_taken(("cmd", "start") in pulses, ("cmd", "abort") in pulses):
            self.start()
        self._status()

    def reg_read(self, addr: int) -> int:
        self._status()
        return self.regs.read(addr)

    def rf_stage(self, file, index, value):
        self.files[file].stage(index, value)

    def rf_commit(self):
        for f in self.files:
            f.commit()

    def rf_abort(self):
        for f in self.files:
            f.abort()

    def rf_read(self, file, index):
        return self.files[file].read(index)

    # ---- operations --------------------------------------------------------------
    def _analog(self, ev):
        """The analog model, with the board ADC listening to READ pulses (as in cosim)."""
        result = self.model.handle(ev)
        if ev.kind == EventKind.PROG_BEGIN:
            self._prog_op = int(ev.prog_op)
        elif ev.kind == EventKind.PROG_END:
            if getattr(self, "_prog_op", None) == int(ProgOp.READ) and result is not None:
                self.board.adc_reading(self.index, float(result))
            self._prog_op = None
        return result

    def config(self):
        from rtl.contract.config import CoreConfig

        return CoreConfig.from_registers(self.regs.values)

    def start(self) -> int:
        """One start command (CMD.start or CHIP_CMD.start_sel); returns STATUS.err.

        Operations complete at once here; ``busy`` is set only by a testbench that tells
        the model the chip's core is still running (a start is then refused).
        """
        if self.busy:
            err = self.ctrl.start_while_busy()
            self._status()
            return err
        bl = self.files[0].live.copy()
        sl = self.files[1].live.copy()
        err = self.ctrl.run(self.config(), bl, sl, self._analog)
        if not err:
            self.runs += 1
            # The neurons write the live slots directly (pending stages are untouched).
            self.files[0].live = bl
            self.files[1].live = sl
        self._status()
        return err


# --------------------------------------------------------------------------------------
# The chip
# --------------------------------------------------------------------------------------

class _Targets:
    """Adapts the list of cores to :class:`rtl.frame.FrameTarget` (core index first)."""

    def __init__(self, cores):
        self.cores = cores

    def reg_write(self, core, addr, data):
        self.cores[core].reg_write(addr, data)

    def reg_read(self, core, addr):
        return self.cores[core].reg_read(addr)

    def rf_stage(self, core, file, index, value):
        self.cores[core].rf_stage(file, index, value)

    def rf_commit(self, core):
        self.cores[core].rf_commit()

    def rf_abort(self, core):
        self.cores[core].rf_abort()

    def rf_read(self, core, file, index):
        return self.cores[core].rf_read(file, index)

    def busy(self, core):
        return self.cores[core].busy

    def start(self, core):
        self.cores[core].start()


class GoldenChip:
    """Transaction-level chip: ``spi(mosi) -> miso`` plus the board.

    Parameters
    ----------
    n_cores : int
    params : analog_models.params.AnalogParams, optional
    seed : int
        Analog-model seed (the cosimulation uses the same seed for the same models).
    record : bool
        Keep every analog event of core ``i`` in ``chip.events(i)``.
    """

    def __init__(self, n_cores: int = 1, params=None, seed: int = 0, record: bool = False):
        from cosim.board import Board
        from rtl.frame import FrameModel

        if not isinstance(n_cores, int) or not 1 <= n_cores <= MAX_CORES:
            raise ValueError(f"n_cores must be an int in 1..{MAX_CORES}, got {n_cores!r}")
        self.n_cores = n_cores
        self.seed = seed
        models = make_core_models(n_cores, params, seed)
        self.board = Board(models)
        if record:
            models = [RecordingModel(m) for m in models]
        self.models = models
        self.cores = [GoldenCore(i, models[i], self.board) for i in range(n_cores)]
        self.frames = FrameModel(_Targets(self.cores), n_cores)
        self.time_ns = 0.0

    def spi(self, mosi: bytes, extra_bits: int = 0, partial_byte: int = 0) -> bytes:
        if not extra_bits:
            self.board.observe_frame(mosi)   # the shared rails learn a start first
        return self.frames.transfer(bytes(mosi), extra_bits=extra_bits, partial_byte=partial_byte)

    def wait_ns(self, ns: float) -> None:
        self.time_ns += float(ns)
        if ns >= RELAX_WAIT_NS:
            # Relaxation happens mostly within the first second after programming; a host
            # that waits this long sees the relaxed cells (iterative programming relies on it).
            for m in self.models:
                m.elapse()

    @property
    def spi_err(self) -> int:
        return self.frames.err_code

    def events(self, core: int = 0) -> list:
        return self.models[core].events

    def conductance(self, core: int) -> np.ndarray:
        return get_conductance(self.models[core])

    def set_conductance(self, core: int, g_uS) -> None:
        set_conductance(self.models[core], g_uS)

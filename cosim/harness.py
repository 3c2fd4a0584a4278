"""The cocotb testbench object: clock/reset, SPI host, analog adapters, board, wake count.

:class:`ChipTB` is what every cocotb test and the firmware session build on. It owns
one analog model per core (made by :func:`cosim.golden.make_core_models`, the same
function and seeds the golden model uses, so both see the same analog behaviour), one
:class:`cosim.adapter.AnalogAdapter` per core, the :class:`cosim.board.Board` and the
:class:`cosim.spi.SpiMaster`.
"""

from __future__ import annotations

import os

import numpy as np
from cocotb.triggers import Timer

from cosim.adapter import AnalogAdapter, analog_prefix
from cosim.board import Board
from cosim.golden import RELAX_WAIT_NS
from cosim.spi import SpiMaster, WakeCounter
from rtl.contract.constants import CLK_NS

FAST_WAIT_NS = 100_000.0


def seed_from_cocotb() -> int:
    """The run's seed: cocotb's RANDOM_SEED (logged by cocotb at start-up)."""
    import cocotb

    return int(cocotb.RANDOM_SEED) & 0xFFFFFFFF


def has_analog_bus(dut) -> bool:
    return hasattr(dut, "analog__ev_seq") or hasattr(dut, "analog__0__ev_seq")


class ChipTB:
    """Testbench around ``tb_top``.

    Parameters
    ----------
    dut : cocotb root handle (``tb_top``)
    n_cores : int, optional
        Defaults to ``$NEURRAM_N_CORES`` (set by the runner from the build).
    params : analog_models.params.AnalogParams, optional
    seed : int
        Seed of the analog models (golden model: same seed, same models).
    record : bool
        Adapters keep every decoded event (for event-level scoreboarding).
    """

    def __init__(self, dut, n_cores: int | None = None, params=None, seed: int = 0,
                 record: bool = False):
        from cosim.golden import make_core_models

        self.dut = dut
        self.n_cores = int(n_cores or os.environ.get("NEURRAM_N_CORES", "1") or 1)
        self.seed = seed
        self.wakes = WakeCounter()
        self.spi = SpiMaster(dut, self.wakes)
        self.fast_waits = 0
        dut.tb_clk_stop.value = 0
        # A top without an analog bus (the bus chip of cosim.tb.buschip) gets no analog models.
        self.has_analog = has_analog_bus(dut)
        self.models = make_core_models(self.n_cores, params, seed) if self.has_analog else []
        self.board = Board(self.models)
        self.adapters = [
            AnalogAdapter(dut, analog_prefix(dut, i, self.n_cores), self.models[i], self.wakes,
                          board=self.board, core=i, record=record)
            for i in range(len(self.models))
        ]
        dut._log.info("ChipTB: %d core(s), analog seed %d", self.n_cores, seed)

    async def reset(self, cycles: int = 5) -> None:
        """Synchronous reset of the chip; the analog models keep their cells (RRAM is
        non-volatile) and the adapters resynchronise to the cleared event counter."""
        self.dut.rst.value = 1
        await Timer(cycles * CLK_NS, unit="ns")
        self.wakes.n += 1
        self.dut.rst.value = 0
        await Timer(2 * CLK_NS, unit="ns")
        self.wakes.n += 1
        for a in self.adapters:
            a.resync()

    def start(self) -> None:
        for a in self.adapters:
            if a._task is None:
                a.start()

    async def init(self) -> None:
        """Reset and start the adapters: the state every test begins from."""
        self.dut.rst.value = 1
        await Timer(5 * CLK_NS, unit="ns")
        self.dut.rst.value = 0
        await Timer(2 * CLK_NS, unit="ns")
        self.wakes.n += 2
        self.start()

    async def frame(self, mosi: bytes, **kw) -> bytes:
        if self.has_analog and not kw:
            # The rails learn a start before the chip acts on it, with every earlier
            # event handed to the models (as in the golden model, whose state is current).
            self.board.observe_frame(mosi, sync=self.flush)
        return await self.spi.frame(mosi, **kw)

    async def wait_ns(self, ns: float) -> None:
        """Let ``ns`` of chip time pass.

        A long wait (>= FAST_WAIT_NS) on an idle chip (BUSY0-2 read 0 over SPI, as a host
        would check) stops the clock for the rest of the wait: an idle chip's state does not
        change from one cycle to the next, and the analog models are event-driven, so this
        is the same as ticking through it, without 1e8 clock edges per simulated second.
        """
        if ns >= RELAX_WAIT_NS:
            # Same point as GoldenChip.wait_ns, so both models relax in step (after every
            # event that came before).
            self.flush()
            for m in self.models:
                m.elapse()
        if ns < FAST_WAIT_NS or not await self._chip_idle():
            await self.spi.idle(ns)
            return
        spent = 3 * 6 * 8 * 4 * CLK_NS   # the three BUSY reads above
        self.dut.tb_clk_stop.value = 1
        await self.spi.idle(max(ns - spent, 0.0))
        self.dut.tb_clk_stop.value = 0
        self.fast_waits += 1

    async def _chip_idle(self) -> bool:
        from firmware import lowlevel as ll

        for addr in (0x07, 0x08, 0x09):
            if ll.decode_reg_read(await self.spi.frame(ll.encode_reg_read(ll.CHIP, addr))):
                return False
        return True

    def cycles(self) -> int:
        return int(self.dut.tb_cycles.value)

    def flush(self) -> None:
        """Hand every analog event that already happened to the models (the adapters
        otherwise pass logged events on at their next wake-up)."""
        for a in self.adapters:
            a.flush()

    def check_adapters(self) -> None:
        self.flush()
        errs = [e for a in self.adapters for e in a.errors]
        assert not errs, errs

    def events(self, core: int = 0) -> list:
        self.adapters[core].flush()
        return self.adapters[core].events

    def conductance(self, core: int) -> np.ndarray:
        from cosim.golden import get_conductance

        self.flush()
        return get_conductance(self.models[core])

    def set_conductance(self, core: int, g_uS: np.ndarray) -> None:
        from cosim.golden import set_conductance

        self.flush()
        set_conductance(self.models[core], g_uS)

"""The two simulated :class:`firmware.transport.Transport` implementations.

* :class:`GoldenTransport`: the transaction-level golden chip (:class:`cosim.golden.GoldenChip`);
  fast, the firmware's default backend.
* :class:`CosimTransport`: the cocotb cosimulation. Its methods block, so it is meant to be
  used from a thread started with ``cocotb.task.bridge`` (the firmware is synchronous code);
  each call hands control back to the simulator with ``cocotb.task.resume`` until the SPI frame
  has been shifted through the RTL's pins. :class:`AsyncCosimTransport` offers the same
  calls as coroutines for testbench code that is already async.
"""

from __future__ import annotations

import numpy as np

from firmware.transport import Transport


class GoldenTransport(Transport):
    """The golden model behind the Transport interface.

    Parameters
    ----------
    n_cores : int
    params : analog_models.params.AnalogParams, optional
    seed : int
        Seed of the analog models (use the cosimulation's seed to compare bit-for-bit).
    chip : cosim.golden.GoldenChip, optional
        Use an existing golden chip instead of making one.
    """

    def __init__(self, n_cores: int = 1, params=None, seed: int = 0, chip=None):
        from cosim.golden import GoldenChip

        self.chip = chip if chip is not None else GoldenChip(n_cores, params=params, seed=seed)
        self.n_cores = self.chip.n_cores

    def spi(self, mosi: bytes) -> bytes:
        return self.chip.spi(bytes(mosi))

    def wait_ns(self, ns: float) -> None:
        self.chip.wait_ns(ns)

    def board_adc_uS(self, core: int) -> float:
        return self.chip.board.adc_uS(core)

    def board_dac(self, name: str, volts: float) -> None:
        self.chip.board.dac(name, volts)

    def backdoor_set_conductance(self, core: int, g_uS: np.ndarray) -> None:
        self.chip.set_conductance(core, g_uS)

    def backdoor_get_conductance(self, core: int) -> np.ndarray:
        return self.chip.conductance(core)


class CosimTransport(Transport):
    """The cosimulated chip, for synchronous (firmware) code run under ``cocotb.task.bridge``.

    Parameters
    ----------
    tb : cosim.harness.ChipTB
    """

    def __init__(self, tb):
        self.tb = tb
        self.n_cores = tb.n_cores
        self.frames = 0

    def spi(self, mosi: bytes) -> bytes:
        from cocotb.task import resume

        self.frames += 1
        return resume(self.tb.frame)(bytes(mosi))

    def wait_ns(self, ns: float) -> None:
        from cocotb.task import resume

        resume(self.tb.wait_ns)(float(ns))

    def board_adc_uS(self, core: int) -> float:
        return self.tb.board.adc_uS(core)

    def board_dac(self, name: str, volts: float) -> None:
        self.tb.board.dac(name, volts)

    # The backdoor first hands the models every analog event that already happened (the
    # adapters read the testbench's event log), and simulator handles belong to cocotb's
    # thread: run it there, as the SPI calls do.
    def backdoor_set_conductance(self, core: int, g_uS: np.ndarray) -> None:
        from cocotb.task import resume

        async def put():
            self.tb.set_conductance(core, g_uS)

        resume(put)()

    def backdoor_get_conductance(self, core: int) -> np.ndarray:
        from cocotb.task import resume

        async def get():
            return self.tb.conductance(core)

        return resume(get)()


class AsyncCosimTransport:
    """Coroutine flavour of :class:`CosimTransport` (for async testbench code)."""

    def __init__(self, tb):
        self.tb = tb
        self.n_cores = tb.n_cores

    async def spi(self, mosi: bytes) -> bytes:
        return await self.tb.frame(bytes(mosi))

    async def wait_ns(self, ns: float) -> None:
        await self.tb.wait_ns(ns)

    def board_adc_uS(self, core: int) -> float:
        return self.tb.board.adc_uS(core)

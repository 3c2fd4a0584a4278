"""The one interface between the host toolchain and a NeuRRAM chip.

Everything above this layer (low-, mid- and high-level firmware) talks to a chip only
through a :class:`Transport`: SPI frames plus the test board's DAC and ADC. Implementations:
the golden model (``cosim.transport.GoldenTransport``, the fast default) and the cocotb
cosimulation (``cosim.transport.CosimTransport``). A real board adapter would implement the
same four methods; nothing above assumes simulation except the clearly named ``backdoor_*``
methods, which a real board does not have.
"""

from __future__ import annotations

import abc

import numpy as np


class Transport(abc.ABC):
    """A connection to one NeuRRAM chip (``n_cores`` cores behind one SPI port)."""

    #: Number of cores on the chip behind this transport.
    n_cores: int = 1

    @abc.abstractmethod
    def spi(self, mosi: bytes) -> bytes:
        """Send one complete frame (CS low, the bytes, CS high); return the MISO bytes.

        The returned bytes have the same length as ``mosi``; byte ``i`` is what the chip
        drove while the host sent byte ``i``.
        """

    @abc.abstractmethod
    def wait_ns(self, ns: float) -> None:
        """Let the chip run for ``ns`` nanoseconds of chip time without SPI traffic."""

    @abc.abstractmethod
    def board_adc_uS(self, core: int) -> float:
        """Conductance (µS) the board ADC measured during the last READ pulse of ``core``."""

    def board_dac(self, name: str, volts: float) -> None:
        """Set a board DAC (e.g. ``"vref"``); boards without one raise ``ValueError``."""
        raise ValueError(f"board DAC {name!r} is not available on {type(self).__name__}")

    # --- simulation-only access (a real board has no backdoor) -------------------------
    def backdoor_set_conductance(self, core: int, g_uS: np.ndarray) -> None:
        """Overwrite a core's 256x256 conductances (µS) without programming pulses."""
        raise NotImplementedError(f"{type(self).__name__} has no backdoor")

    def backdoor_get_conductance(self, core: int) -> np.ndarray:
        """Read a core's true 256x256 conductances (µS), bypassing the board ADC."""
        raise NotImplementedError(f"{type(self).__name__} has no backdoor")

    def close(self) -> None:
        """Release the connection (end the simulation, close the device)."""

"""Python side of the testbench SPI master (``cosim/hdl/tb_spi_master.v``).

One Python wake-up per word of up to ``SPI_WORD_BITS`` (2048) bits: Python hands the
shifter a word, the HDL produces the SCLK / CS_N / MOSI waveform and captures MISO, and
``tb_spi_done`` changes when the word is out (after CS_N has risen and settled, for the
frame's last word).
"""

from __future__ import annotations

from dataclasses import dataclass

from cocotb.triggers import Timer

from .gpi import read_binstr, write_binstr_now, write_int_now
from .runner import SPI_WORD_BITS


@dataclass
class WakeCounter:
    """Counts Python wake-ups (every trigger the harness awaits)."""

    n: int = 0


class SpiMaster:
    """Async SPI frames through the HDL shifter.

    ``half`` is the SCLK half period in clk cycles (2 = SCLK at clk/4, the fastest the chip
    allows; 1 = too fast, for the bad-input tests). ``late`` samples MISO on SCLK's falling
    edge instead of the rising one.
    """

    def __init__(self, dut, wakes: WakeCounter | None = None, half: int = 2, late: bool = False):
        self.dut = dut
        self.wakes = wakes or WakeCounter()
        self.half = half
        self.late = late
        # Handles looked up once; the rarely changing controls are written only when they
        # change (every VPI write costs a few microseconds, every word would pay it).
        # tx / rx live in the shifter instance (public there; see cosim/hdl/tb_spi_master.v).
        self._tx, self._nbits = dut.spi_master.tx, dut.tb_spi_nbits
        self._last, self._half, self._late = dut.tb_spi_last, dut.tb_spi_half, dut.tb_spi_late
        self._reqh, self._done, self._rx = dut.tb_spi_req, dut.tb_spi_done, dut.spi_master.rx
        self._shadow: dict[str, int] = {}
        self._req = int(dut.tb_spi_req.value) if dut.tb_spi_req.value.is_resolvable else 0
        self.frames = 0
        self.bytes = 0

    # Writes go straight to the simulator (deposits, applied at once in this harness): the
    # handles' value setters re-check ranges and, for the 2048-bit word, build 2**2048.
    def _put(self, name: str, handle, value: int) -> None:
        if self._shadow.get(name) != value:
            write_int_now(handle, value)
            self._shadow[name] = value

    async def _word(self, tx: int, nbits: int, last: bool, half: int, late: bool) -> int:
        if not 0 <= tx < (1 << nbits):
            raise ValueError(f"word {tx:#x} does not fit in {nbits} bits")
        # LSB-aligned: bit nbits-1 goes out first; bits above nbits are never sent.
        write_binstr_now(self._tx, format(tx, f"0{SPI_WORD_BITS}b"))
        self._put("nbits", self._nbits, nbits)
        self._put("last", self._last, int(last))
        self._put("half", self._half, half)
        self._put("late", self._late, int(late))
        self._req = (self._req + 1) & 0xFF
        write_int_now(self._reqh, self._req)
        await self._done.value_change
        self.wakes.n += 1
        return int(read_binstr(self._rx), 2) & ((1 << nbits) - 1)

    async def frame(self, mosi: bytes, half: int | None = None, late: bool | None = None,
                    nbits: int | None = None) -> bytes:
        """CS low, ``mosi``, CS high; returns MISO (same length).

        ``nbits`` (< 8*len) releases CS after that many bits: a frame cut mid-byte.
        """
        half = self.half if half is None else half
        late = self.late if late is None else late
        total = 8 * len(mosi) if nbits is None else nbits
        if not 0 < total <= 8 * len(mosi):
            raise ValueError(f"nbits {nbits!r} out of range for {len(mosi)} bytes")
        bits = int.from_bytes(mosi, "big") >> (8 * len(mosi) - total) if mosi else 0
        out = 0
        pos = 0
        while pos < total:
            n = min(SPI_WORD_BITS, total - pos)
            word = (bits >> (total - pos - n)) & ((1 << n) - 1)
            rx = await self._word(word, n, pos + n >= total, half, late)
            out = (out << n) | rx
            pos += n
        self.frames += 1
        self.bytes += len(mosi)
        out <<= 8 * len(mosi) - total
        return out.to_bytes(len(mosi), "big")

    async def idle(self, ns: float) -> None:
        if ns > 0:
            await Timer(round(ns * 1000), unit="ps")
            self.wakes.n += 1

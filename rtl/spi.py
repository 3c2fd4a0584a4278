"""SPI slave: mode 0 (CPOL=0, CPHA=0), MSB first, CS active low, byte interface.

SCLK, CS_n and MOSI are asynchronous to ``clk`` and pass through 2-flop synchronisers;
SCLK may run at most at clk/4 (each SCLK level must last at least 2 clk cycles). Timing,
counted in clk edges after a pin change (pin changes just after edge 0):

* edge 2: the synchronised value changes; edge 3: the change is acted on (a rising SCLK
  samples MOSI, a falling CS_n starts a frame, a rising CS_n ends it).
* MISO is a register updated at that edge 3 of every SCLK rise (to the next bit), so at
  SCLK = clk/4 it changes one clk cycle before the SCLK rise that samples it. The first
  bit of each byte is taken from ``tx_data`` at the rise that completes the previous
  byte (or at the CS fall for byte 0), so the frame decoder must present the next byte's
  data on ``tx_data`` before the current byte completes; ``tx_load`` (high in the cycle
  that ends with the sampling edge) tells it when the byte it presented is taken.
* Host requirements: CS_n falls at least 2 clk cycles before the first SCLK rise and
  rises at least 2 clk cycles after the last SCLK rise; CS_n stays high at least 4 clk
  cycles between frames.

:class:`SpiSlave` is the RTL; :class:`SpiSlaveModel` the plain-Python model of what it
delivers for a frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


class SpiSlave(wiring.Component):
    """Mode-0 SPI slave with a byte-level interface.

    Members
    -------
    sclk, cs_n, mosi : In(1)
        SPI pins (asynchronous; synchronised inside).
    miso : Out(1)
        SPI data out (0 while CS_n is high).
    rx_data : Out(8)
        Last byte received, valid with ``rx_valid``.
    rx_valid : Out(1)
        One-cycle pulse: a whole byte was received.
    tx_data : In(8)
        The byte to send next; sampled at the CS fall (byte 0) and whenever a byte
        completes (the following byte).
    tx_load : Out(1)
        Combinational one-cycle pulse, the cycle before ``cs_start`` / ``rx_valid``:
        ``tx_data`` is taken at the end of this cycle; from the next cycle on present the
        byte after it. (Combinational so that the decoder never updates ``tx_data`` at
        the very edge that samples it.)
    cs_start : Out(1)
        One-cycle pulse: CS_n fell (a frame begins).
    cs_end : Out(1)
        One-cycle pulse: CS_n rose (the frame ends).
    cs_partial : Out(1)
        Valid with ``cs_end``: CS_n rose in the middle of a byte (1-7 bits clocked).
    """

    def __init__(self):
        super().__init__({
            "sclk": In(1),
            "cs_n": In(1, init=1),
            "mosi": In(1),
            "miso": Out(1),
            "rx_data": Out(8),
            "rx_valid": Out(1),
            "tx_data": In(8),
            "tx_load": Out(1),
            "cs_start": Out(1),
            "cs_end": Out(1),
            "cs_partial": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        sclk = Signal()
        cs_n = Signal(init=1)
        mosi = Signal()
        m.submodules.sync_sclk = FFSynchronizer(self.sclk, sclk, stages=2)
        m.submodules.sync_cs_n = FFSynchronizer(self.cs_n, cs_n, stages=2, init=1)
        m.submodules.sync_mosi = FFSynchronizer(self.mosi, mosi, stages=2)

        sclk_d = Signal()
        cs_n_d = Signal(init=1)
        m.d.sync += [sclk_d.eq(sclk), cs_n_d.eq(cs_n)]
        rise = Signal()
        cs_fall = Signal()
        cs_rise = Signal()
        m.d.comb += [
            rise.eq(sclk & ~sclk_d & ~cs_n),
            cs_fall.eq(~cs_n & cs_n_d),
            cs_rise.eq(cs_n & ~cs_n_d),
        ]

        bitcnt = Signal(3)
        m.d.comb += self.tx_load.eq(cs_fall | (rise & (bitcnt == 7)))
        rx_sr = Signal(7)
        tx_sr = Signal(7)
        m.d.sync += [
            self.rx_valid.eq(0),
            self.cs_start.eq(0),
            self.cs_end.eq(0),
        ]
        with m.If(cs_fall):
            m.d.sync += [
                bitcnt.eq(0),
                self.cs_start.eq(1),
                self.miso.eq(self.tx_data[7]),
                tx_sr.eq(self.tx_data[:7]),
            ]
        with m.Elif(rise):
            m.d.sync += [
                rx_sr.eq(Cat(mosi, rx_sr[:6])),
                bitcnt.eq(bitcnt + 1),
            ]
            with m.If(bitcnt == 7):
                m.d.sync += [
                    self.rx_data.eq(Cat(mosi, rx_sr)),
                    self.rx_valid.eq(1),
                    self.miso.eq(self.tx_data[7]),
                    tx_sr.eq(self.tx_data[:7]),
                ]
            with m.Else():
                m.d.sync += [
                    self.miso.eq(tx_sr[6]),
                    tx_sr.eq(Cat(0, tx_sr[:6])),
                ]
        with m.Elif(cs_rise):
            m.d.sync += [
                self.cs_end.eq(1),
                self.cs_partial.eq(bitcnt != 0),
                self.miso.eq(0),
                bitcnt.eq(0),
            ]
        return m


@dataclass
class SpiFrameResult:
    rx: bytes          #: whole bytes delivered to the frame decoder
    miso: bytes        #: MISO bytes seen by the host (a partial last byte is MSB-aligned)
    partial: bool      #: CS released mid-byte


class SpiSlaveModel:
    """What :class:`SpiSlave` delivers for one frame.

    ``tx(k)`` is the byte the frame decoder presents for byte ``k`` (it may depend on the
    bytes received before byte ``k-1`` completes, which the model passes as ``rx``).
    ``extra_bits`` bits of a further byte (the MSBs of ``partial_byte``) are clocked
    before CS rises.
    """

    def frame(self, mosi: bytes, tx: Callable[[int, bytes], int], extra_bits: int = 0,
              partial_byte: int = 0) -> SpiFrameResult:
        if not 0 <= extra_bits < 8:
            raise ValueError(f"extra_bits must be 0..7, not {extra_bits!r}")
        rx = bytearray()
        miso = bytearray()
        for k, byte in enumerate(mosi):
            out = tx(k, bytes(rx[:max(k - 1, 0)])) & 0xFF
            miso.append(out)
            rx.append(byte)
        if extra_bits:
            k = len(mosi)
            out = tx(k, bytes(rx[:max(k - 1, 0)])) & 0xFF
            keep = 0xFF << (8 - extra_bits) & 0xFF
            miso.append(out & keep)
        return SpiFrameResult(bytes(rx), bytes(miso), extra_bits != 0)

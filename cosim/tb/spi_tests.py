"""cocotb tests of the host side: SPI register access, register-file bursts, bad frames.

Every frame goes through genuine SPI pins (the HDL shifter) and every MISO byte and every
error code is checked against the golden model (``rtl.frame.FrameModel`` under
:class:`cosim.golden.GoldenChip`, or under ``CoreTargetModel`` on the bus chip of ``cosim.tb.buschip``).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from cosim.harness import ChipTB, has_analog_bus
from firmware import lowlevel as ll

N_RANDOM_BAD = int(os.environ.get("NEURRAM_BAD_FRAMES", "1000"))

CORE_REGS = list(range(0x00, 0x10))
CHIP_REGS = list(range(0x00, 0x0A))
REG_CMD, REG_STATUS, REG_POWER = 0x0D, 0x0E, 0x0F
CHIP_CMD = 0x03


class FrameGolden:
    """Golden model of what the chip answers, with the cosim frame's cut-bit semantics."""

    def __init__(self, dut, n_cores: int, seed: int):
        if has_analog_bus(dut):
            from cosim.golden import GoldenChip

            self.chip = GoldenChip(n_cores, seed=seed)
            self.frames = self.chip.frames
        else:
            from rtl.frame import CoreTargetModel, FrameModel

            self.frames = FrameModel(CoreTargetModel(n_cores), n_cores)

    def transfer(self, data: bytes, nbits: int | None = None) -> bytes:
        nbits = 8 * len(data) if nbits is None else nbits
        whole, extra = nbits // 8, nbits % 8
        return self.frames.transfer(data[:whole], extra_bits=extra,
                                    partial_byte=data[whole] if extra else 0)

    @property
    def err(self) -> tuple[int, int]:
        return self.frames.err_code, self.frames.err_count


class SpiTB:
    """ChipTB + golden model; :meth:`both` sends a frame to each and compares MISO."""

    def __init__(self, dut):
        seed = int(cocotb.RANDOM_SEED) & 0xFFFF
        self.tb = ChipTB(dut, seed=seed)
        self.golden = FrameGolden(dut, self.tb.n_cores, seed)
        self.rng = np.random.default_rng(seed)
        self.n_cores = self.tb.n_cores
        dut._log.info("SpiTB seed %d (numpy frames, analog models)", seed)

    async def init(self):
        await self.tb.init()

    async def both(self, data: bytes, nbits: int | None = None, check: bool = True, **kw) -> bytes:
        got = await self.tb.frame(data, nbits=nbits, **kw)
        want = self.golden.transfer(data, nbits)
        if check:
            n = len(want)
            got_cut = bytearray(got[:n])
            if nbits is not None and nbits % 8:
                got_cut[-1] &= (0xFF << (8 - nbits % 8)) & 0xFF
            assert bytes(got_cut) == want, f"MISO {bytes(got_cut).hex()} != golden {want.hex()} for {data[:16].hex()}"
        return got

    async def reg_read(self, core: int, addr: int) -> int:
        return ll.decode_reg_read(await self.both(ll.encode_reg_read(core, addr)))

    async def spi_err(self) -> tuple[int, int]:
        w = await self.reg_read(ll.CHIP, 0x02)
        return w & 0xF, w >> 8

    async def check_err(self, want_code: int | None = None):
        code, count = await self.spi_err()
        assert (code, count) == self.golden.err, f"SPI_ERR {(code, count)} != golden {self.golden.err}"
        if want_code is not None:
            assert code == want_code, f"SPI_ERR code {code} != expected {want_code}"

    async def clear_err(self):
        await self.both(ll.encode_reg_write(ll.CHIP, CHIP_CMD, 0x0002))

    async def check_state(self, width: int = 10):
        """Every register and every register-file entry equals the golden model."""
        for c in range(self.n_cores):
            for a in CORE_REGS:
                if a == REG_STATUS and has_analog_bus(self.tb.dut):
                    continue   # status bits (gating) are compared by the MVM tests
                await self.reg_read(c, a)
            for f in (0, 1):
                await self.both(ll.encode_rf_read(c, f, 0, 256, width))
        for a in CHIP_REGS:
            await self.reg_read(ll.CHIP, a)


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def reg_read_write(dut):
    """IDs, N_CORES, and random writes/reads of every writable core register."""
    t = SpiTB(dut)
    await t.init()
    assert await t.reg_read(0, 0x00) == 0x4E43
    assert await t.reg_read(ll.CHIP, 0x00) == 0x4E52
    assert await t.reg_read(ll.CHIP, 0x01) == t.n_cores
    for _ in range(3):
        for a in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C):
            v = int(t.rng.integers(0, 1 << 16))
            if a == 0x01:
                v &= ~0x3   # keep mode IDLE: nothing starts
            await t.both(ll.encode_reg_write(0, a, v))
            await t.reg_read(0, a)
    await t.check_err(0)


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def rf_bursts(dut):
    """Register-file bursts of every width, random starts and counts, read back at other widths."""
    t = SpiTB(dut)
    await t.init()
    for width in range(1, 11):
        for _ in range(2):
            f = int(t.rng.integers(0, 2))
            start = int(t.rng.integers(0, 256))
            count = int(t.rng.integers(1, 257 - start))
            vals = t.rng.integers(0, 1 << width, size=count)
            await t.both(ll.encode_rf_write(0, f, start, vals, width))
            rw = int(t.rng.integers(1, 11))
            await t.both(ll.encode_rf_read(0, f, start, count, rw))
    # A full-file burst at 4 bits (the MVM input load) and the 6-bit output read.
    await t.both(ll.encode_rf_write(0, 0, 0, t.rng.integers(0, 16, size=256), 4))
    await t.both(ll.encode_rf_read(0, 0, 0, 256, 6))
    await t.check_err(0)


def malformed_cases(n_cores: int) -> list[tuple[str, bytes, int | None, int]]:
    """(name, bytes, nbits, expected SPI_ERR code) for every error of architecture §2."""
    good_w = ll.encode_reg_write(0, 0x08, 0x1234)
    rf_w = ll.encode_rf_write(0, 0, 10, np.arange(8), 4)
    return [
        ("unknown opcode", bytes([0x07, 0, 0, 0, 0]), None, 1),
        ("opcode zero", bytes([0x00, 0, 0, 0, 0]), None, 1),
        ("core out of range", bytes([0x01, n_cores, 0x08, 0, 1]), None, 2),
        ("unmapped register", bytes([0x01, 0, 0x40, 0, 1]), None, 2),
        ("unmapped chip register", bytes([0x02, 0xFE, 0x20, 0, 0, 0]), None, 2),
        ("start+count > 256", bytes([0x03, 0, 0, 250, 9, 4]) + bytes(5), None, 2),
        ("file > 1", bytes([0x03, 0, 2, 0, 0, 4, 0]), None, 2),
        ("CS mid-byte", good_w, 8 * 3 + 4, 3),
        ("CS mid-byte in data", rf_w, 8 * 7 + 3, 3),
        ("short reg write", good_w[:4], None, 4),
        ("short rf write", rf_w[:-1], None, 4),
        ("width 0", bytes([0x03, 0, 0, 0, 0, 0, 0]), None, 5),
        ("width 11", bytes([0x04, 0, 0, 0, 0, 11, 0, 0, 0]), None, 5),
        ("read from broadcast", bytes([0x02, 0xFF, 0x00, 0, 0, 0]), None, 6),
        ("write to ID", bytes([0x01, 0, 0x00, 0x12, 0x34]), None, 7),
        ("write to STATUS", bytes([0x01, 0, REG_STATUS, 0, 0]), None, 7),
        ("write to CHIP_ID", bytes([0x01, 0xFE, 0x00, 0, 0]), None, 7),
        ("extra byte after reg write", good_w + b"\x55", None, 8),
        ("extra byte after rf write", rf_w + b"\x00", None, 8),
    ]


@cocotb.test(timeout_time=30, timeout_unit="ms")
async def malformed_frames(dut):
    """Every malformed-frame case: the right SPI_ERR code, nothing else changed."""
    t = SpiTB(dut)
    await t.init()
    # Known, non-reset contents so that a wrongly applied write would show.
    await t.both(ll.encode_reg_write(0, 0x08, 0xBEEF))
    await t.both(ll.encode_rf_write(0, 0, 0, t.rng.integers(0, 1024, size=256), 10))
    await t.both(ll.encode_rf_write(0, 1, 0, t.rng.integers(0, 1024, size=256), 10))
    for name, data, nbits, code in malformed_cases(t.n_cores):
        dut._log.info("bad frame: %s", name)
        await t.both(data, nbits=nbits)
        await t.check_err(code)
        assert await t.reg_read(0, 0x08) == 0xBEEF, name
        await t.clear_err()
        await t.check_err(0)
    await t.check_state()


@cocotb.test(timeout_time=30, timeout_unit="ms")
async def sclk_too_fast(dut):
    """SCLK at clk/2 (twice the allowed rate): no hang, unaddressed registers unchanged,
    the next well-formed frame is decoded normally."""
    t = SpiTB(dut)
    await t.init()
    await t.both(ll.encode_reg_write(0, 0x09, 0x5A5A))
    await t.both(ll.encode_rf_write(0, 1, 0, t.rng.integers(0, 1024, size=256), 10))
    bl = await t.both(ll.encode_rf_read(0, 1, 0, 256, 10))
    for i in range(8):
        # A frame addressed only to SEED_A; at the wrong rate the chip may see anything.
        data = ll.encode_reg_write(0, 0x08, int(t.rng.integers(0, 1 << 16)))
        await t.tb.frame(data, half=1)
        code, count = await t.spi_err()
        dut._log.info("too-fast frame %d: SPI_ERR code %d count %d", i, code, count)
        seed_a = ll.decode_reg_read(await t.tb.frame(ll.encode_reg_read(0, 0x08)))
        # Resynchronise the golden model with whatever the chip did to the addressed
        # register and error counter (the model cannot know what a too-fast SCLK sampled).
        t.golden.transfer(ll.encode_reg_write(0, 0x08, seed_a))
        t.golden.frames.chip.set_hw("SPI_ERR", "code", code)
        t.golden.frames.chip.set_hw("SPI_ERR", "count", count)
    assert await t.reg_read(0, 0x09) == 0x5A5A
    assert await t.both(ll.encode_rf_read(0, 1, 0, 256, 10)) == bl
    await t.check_state()


@cocotb.test(timeout_time=2000, timeout_unit="ms", skip=N_RANDOM_BAD <= 0)
async def random_bad_frames(dut):
    """Randomized garbage at the pins (random bytes, CS dropped mid-frame and mid-byte):
    the chip's SPI_ERR and all its state follow the golden model frame by frame."""
    t = SpiTB(dut)
    await t.init()
    rng = t.rng
    for i in range(N_RANDOM_BAD):
        kind = rng.integers(0, 4)
        n = int(rng.integers(1, 12))
        data = bytearray(rng.integers(0, 256, size=n).astype(np.uint8).tobytes())
        if kind >= 1:
            data[0] = int(rng.integers(0, 6))           # mostly real opcodes
        if kind >= 2 and n > 1:
            data[1] = int(rng.choice([0, 0xFF, 0xFE, t.n_cores, int(rng.integers(0, 256))]))
        if n > 2 and data[0] == 0x01 and data[2] in (REG_CMD, REG_POWER):
            data[2] = 0x0C          # never start operations or power-gate from garbage
        if n > 2 and data[0] == 0x01 and data[1] == 0xFE and data[2] == CHIP_CMD:
            data[2] = 0x04
        nbits = None
        if rng.random() < 0.3:
            nbits = int(rng.integers(1, 8 * n + 1))
        await t.both(bytes(data), nbits=nbits)
        if i % 50 == 0 or i == N_RANDOM_BAD - 1:
            await t.check_err()
            if i % 250 == 0:
                await t.check_state()
    await t.check_state()

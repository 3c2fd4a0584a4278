"""SPI frame formats (docs/spi.md): byte layout of the four frames and the burst bit stream.

These functions build and split frames exactly as the chip reads them and check only
what is needed to produce the bytes (each byte in range, every entry within its width).
What a host may send is checked one layer up (``firmware.lowlevel``); the RTL frame
decoder and its golden model (``rtl.frame``) answer every frame, also the malformed ones
the tests build with these functions.
"""

from __future__ import annotations

import enum

import numpy as np

from .constants import N_LINES, OPCODES, RF_MAX_WIDTH

REG_WRITE_LEN = 5      #: op core addr d_hi d_lo
REG_READ_LEN = 6       #: op core addr dummy d_hi d_lo
RF_HEADER = 6          #: op core file start count-1 width
RF_READ_HEADER = 7     #: RF_HEADER + one dummy byte before the data


class Opcode(enum.IntEnum):
    """SPI frame opcodes."""

    REG_WRITE = OPCODES["REG_WRITE"]
    REG_READ = OPCODES["REG_READ"]
    RF_WRITE = OPCODES["RF_WRITE"]
    RF_READ = OPCODES["RF_READ"]


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
        raise TypeError(f"width must be an int in 1..{RF_MAX_WIDTH}, not {width!r}")
    if not 1 <= width <= RF_MAX_WIDTH:
        raise ValueError(f"width must be 1..{RF_MAX_WIDTH}, not {width!r}")
    return int(width)


def _byte(name, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int in 0..255, not {v!r}")
    if not 0 <= v <= 0xFF:
        raise ValueError(f"{name} must be in 0..255, not {v!r}")
    return int(v)


def data_bytes(count: int, width: int) -> int:
    """Bytes of a burst of ``count`` entries of ``width`` bits (the last byte zero-padded)."""
    return (count * width + 7) // 8


def pack_entries(values, width: int) -> bytes:
    """Entries as the MSB-first bit stream of a burst, zero-padded to a whole byte."""
    width = _check_width(width)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"entries must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= (1 << width)):
        bad = arr[(arr < 0) | (arr >= (1 << width))][0]
        raise ValueError(f"entry {int(bad)!r} does not fit {width} bits (0..{(1 << width) - 1})")
    shifts = np.arange(width - 1, -1, -1)
    bits = ((arr.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8).ravel()
    return np.packbits(bits).tobytes()   # packbits pads the last byte with zeros


def unpack_entries(data: bytes, count: int, width: int) -> np.ndarray:
    """Inverse of :func:`pack_entries`: ``count`` entries of ``width`` bits from ``data``."""
    width = _check_width(width)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= N_LINES:
        raise ValueError(f"count must be an int in 0..{N_LINES}, not {count!r}")
    need = data_bytes(int(count), width)
    if len(data) < need:
        raise ValueError(f"{count} entries of {width} bits need {need} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(bytes(data[:need]), dtype=np.uint8))[: count * width]
    weights = 1 << np.arange(width - 1, -1, -1, dtype=np.int64)
    return bits.reshape(int(count), width) @ weights


def reg_write(core: int, addr: int, data: int) -> bytes:
    """REG_WRITE frame: ``op core addr d_hi d_lo``."""
    if isinstance(data, bool) or not isinstance(data, (int, np.integer)) or not 0 <= data <= 0xFFFF:
        raise ValueError(f"data must be an int in 0..0xFFFF, not {data!r}")
    return bytes([Opcode.REG_WRITE, _byte("core", core), _byte("addr", addr), int(data) >> 8,
                  int(data) & 0xFF])


def reg_read(core: int, addr: int) -> bytes:
    """REG_READ frame: ``op core addr dummy xx xx``; the word is in the last two MISO bytes."""
    return bytes([Opcode.REG_READ, _byte("core", core), _byte("addr", addr), 0, 0, 0])


def decode_reg_read(miso: bytes) -> int:
    """16-bit register word from the MISO bytes of a REG_READ frame."""
    if len(miso) != REG_READ_LEN:
        raise ValueError(f"a REG_READ frame returns {REG_READ_LEN} bytes, got {len(miso)}")
    return (miso[-2] << 8) | miso[-1]


def rf_write(core: int, file: int, start: int, values, width: int) -> bytes:
    """RF_WRITE frame: ``op core file start count-1 width`` + the packed entries."""
    values = np.asarray(values)
    if not 1 <= values.size <= N_LINES:
        raise ValueError(f"1..{N_LINES} entries per burst, not {values.size!r}")
    return bytes([Opcode.RF_WRITE, _byte("core", core), _byte("file", file), _byte("start", start),
                  values.size - 1, _check_width(width)]) + pack_entries(values.ravel(), width)


def rf_read(core: int, file: int, start: int, count: int, width: int) -> bytes:
    """RF_READ frame: header, a dummy byte and one byte per data byte (data is MISO[7:])."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= N_LINES:
        raise ValueError(f"1..{N_LINES} entries per burst, not {count!r}")
    width = _check_width(width)
    return (bytes([Opcode.RF_READ, _byte("core", core), _byte("file", file), _byte("start", start),
                   int(count) - 1, width, 0]) + bytes(data_bytes(int(count), width)))


def decode_rf_read(miso: bytes, count: int, width: int) -> np.ndarray:
    """Entries from the MISO bytes of an RF_READ frame."""
    return unpack_entries(bytes(miso[RF_READ_HEADER:]), count, width)

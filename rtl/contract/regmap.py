"""Register map model: address maps, registers and fields of ``rtl/regmap.rdl``.

The data lives in :mod:`rtl.contract.registers`, generated from the RDL by
``python -m rtl.regmap`` (which also checks it: ``--check``); this module holds the
classes and the helpers every layer uses to build and split register words. Importing
it needs neither the SystemRDL compiler nor Amaranth.

Addressing: SystemRDL addresses are byte addresses and every register is 16 bits, so
register index ``i`` sits at RDL byte address ``2*i``. :attr:`Register.addr` is the
index, which is the 8-bit address byte of an SPI register frame.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Mapping

REG_BITS = 16


@dataclass(frozen=True)
class Field:
    """One field of a register: bits ``[lsb + width - 1 : lsb]`` of the 16-bit word.

    ``sw`` is ``"rw"`` or ``"r"``; ``hw`` is ``"r"`` (the hardware reads a
    software-written value), ``"w"`` (the hardware drives a read-only status) or ``"na"``
    (a constant). ``singlepulse`` fields are write-1 one-cycle pulses that read back 0.
    ``enum_name`` names the RDL enum of the field (:meth:`AddrMap.enums`).
    """

    name: str
    lsb: int
    width: int
    sw: str
    hw: str
    reset: int
    singlepulse: bool = False
    enum_name: str | None = None
    desc: str = ""

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def max(self) -> int:
        """Largest value of the field."""
        return (1 << self.width) - 1

    @property
    def mask(self) -> int:
        """Mask of the field in the register word."""
        return self.max << self.lsb

    @property
    def sw_writable(self) -> bool:
        return "w" in self.sw

    writable = sw_writable

    @property
    def kind(self) -> str:
        """How the register block implements it: ``out``, ``pulse``, ``in`` or ``const``."""
        if self.singlepulse:
            return "pulse"
        if self.sw_writable:
            return "out"
        if self.hw == "w":
            return "in"
        return "const"

    def check(self, value) -> int:
        """``value`` as an int, or ValueError / TypeError if it does not fit the field."""
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            try:
                import numpy as np
                ok = isinstance(value, np.integer)
            except ImportError:       # pragma: no cover - numpy is a core dependency
                ok = False
            if not ok:
                raise TypeError(f"field {self.name!r} takes an int, not {value!r}")
            value = int(value)
        if not 0 <= value <= self.max:
            raise ValueError(f"value {value!r} does not fit field {self.name!r} ({self.width} bits)")
        return value

    def get(self, word: int) -> int:
        return (int(word) >> self.lsb) & self.max

    def put(self, word: int, value: int) -> int:
        return (int(word) & ~self.mask) | (self.check(value) << self.lsb)


@dataclass(frozen=True)
class Register:
    """One 16-bit register at index ``addr`` with its fields (LSB first)."""

    name: str
    addr: int
    fields: tuple[Field, ...]
    title: str = ""

    @property
    def reset(self) -> int:
        word = 0
        for f in self.fields:
            word |= f.reset << f.lsb
        return word

    @property
    def sw_writable(self) -> bool:
        return any(f.sw_writable for f in self.fields)

    writable = sw_writable

    @property
    def sw_write_mask(self) -> int:
        """Bits kept by a software write (singlepulse bits are not stored)."""
        m = 0
        for f in self.fields:
            if f.sw_writable and not f.singlepulse:
                m |= f.mask
        return m

    @functools.cached_property
    def by_name(self) -> dict[str, Field]:
        """Fields by (lowercase) name."""
        return {f.name: f for f in self.fields}

    def field(self, name: str) -> Field:
        try:
            return self.by_name[name.lower()]
        except KeyError:
            raise KeyError(f"register {self.name!r} has no field {name!r}") from None

    # Upper-case names as in the register tables: ``CTRL.MODE``, ``CTRL.ADDR``.
    @property
    def ADDR(self) -> int:
        return self.addr

    @property
    def RESET(self) -> int:
        return self.reset

    @property
    def WRITABLE(self) -> bool:
        return self.sw_writable

    def __getattr__(self, name: str) -> Field:
        if name.isupper():
            f = self.__dict__.get("by_name", None) or {x.name: x for x in self.fields}
            if name.lower() in f:
                return f[name.lower()]
        raise AttributeError(f"register {self.name!r} has no attribute {name!r}")

    def encode(self, word: int | None = None, **values) -> int:
        """A register word from field values, starting from ``word`` (default: reset).

        Raises ValueError for an unknown field or a value that does not fit.
        """
        word = self.reset if word is None else int(word)
        for name, value in values.items():
            word = self.field(name).put(word, value)
        return word

    def decode(self, word: int) -> dict[str, int]:
        """``{field name: value}`` of a register word."""
        return {f.name: f.get(word) for f in self.fields}


@dataclass(frozen=True)
class AddrMap:
    """One address map (``neurram_core`` or ``neurram_chip``)."""

    name: str
    registers: tuple[Register, ...]
    title: str = ""
    desc: str = ""
    enum_types: Mapping[str, type[enum.IntEnum]] = field(default_factory=dict, compare=False,
                                                         repr=False)
    _by_addr: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._by_addr.update({r.addr: r for r in self.registers})

    def by_addr(self, addr: int) -> Register | None:
        return self._by_addr.get(addr)

    def reg(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name.upper():
                return r
        raise KeyError(f"address map {self.name!r} has no register {name!r}")

    def __getitem__(self, name: str) -> Register:
        return self.reg(name)

    def __contains__(self, name: str) -> bool:
        return any(r.name == str(name).upper() for r in self.registers)

    def __iter__(self):
        return iter(r.name for r in self.registers)

    def mapped(self, addr: int) -> bool:
        return addr in self._by_addr

    def writable(self, addr: int) -> bool:
        r = self._by_addr.get(addr)
        return r is not None and r.sw_writable

    def enums(self) -> dict[str, type[enum.IntEnum]]:
        """RDL enum name -> its :class:`enum.IntEnum`, for the enums this map's fields use."""
        out = {}
        for r in self.registers:
            for f in r.fields:
                if f.enum_name:
                    out[f.enum_name] = self.enum_types[f.enum_name]
        return out


def enum_class_name(enum_name: str) -> str:
    """Python class name of an RDL enum: ``cfg_err_e`` -> ``CfgErr``."""
    base = enum_name[:-2] if enum_name.endswith("_e") else enum_name
    return "".join(part.capitalize() for part in base.split("_"))


def encode(reg: Register, word: int | None = None, **values) -> int:
    """:meth:`Register.encode`."""
    return reg.encode(word, **values)


def decode(reg: Register, word: int) -> dict[str, int]:
    """:meth:`Register.decode`."""
    return reg.decode(word)

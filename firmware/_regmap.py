"""Host-side view of the register map: names -> word addresses, fields and reset values.

The single source of truth is ``rtl/regmap.rdl``; ``firmware/registers.py`` is generated
from it. This module turns that generated module into the small structure the low-level
driver uses (:class:`Reg`, :class:`Field`, enums by name), so that the driver refers to
registers, fields and enum values only by name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from firmware import registers  # generated from rtl/regmap.rdl


@dataclass(frozen=True)
class Field:
    """One register field: ``width`` bits from bit ``lsb``; ``reset`` its reset value."""

    name: str
    lsb: int
    width: int
    reset: int = 0
    writable: bool = True

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    @property
    def max(self) -> int:
        return (1 << self.width) - 1


@dataclass(frozen=True)
class Reg:
    """One 16-bit register at word address ``addr`` with its fields by name."""

    name: str
    addr: int
    fields: dict = field(default_factory=dict)

    @property
    def reset(self) -> int:
        return sum((f.reset << f.lsb) for f in self.fields.values())

    @property
    def writable(self) -> bool:
        return any(f.writable for f in self.fields.values())


@dataclass(frozen=True)
class RegMap:
    core: dict    #: register name -> Reg, core address map (SPI core byte 0..N-1 / 0xFF)
    chip: dict    #: register name -> Reg, chip control map (SPI core byte 0xFE)
    enums: dict   #: enum class name (e.g. "Mode") -> enum.IntEnum of firmware.registers


_ENUM_NAMES = ("Mode", "Dir", "Act", "ProgOp", "CfgErr", "SpiErr")


def _regs(classes) -> dict:
    out = {}
    for cls in classes:
        fields = {}
        for v in vars(cls).values():
            if isinstance(v, registers.Field):
                fields[v.name] = Field(v.name, v.lsb, v.width, v.reset, "w" in v.sw)
        out[cls.__name__] = Reg(cls.__name__, cls.ADDR, fields)
    return out


@functools.lru_cache(maxsize=None)
def load() -> RegMap:
    """Build the :class:`RegMap` from the generated ``firmware.registers``."""
    enums = {name: getattr(registers, name) for name in _ENUM_NAMES}
    return RegMap(core=_regs(registers.CORE_REGS), chip=_regs(registers.CHIP_REGS), enums=enums)

"""Host-side view of the register map: registers by name, enums by class name.

The register map is the contract's (:mod:`rtl.contract.registers`, generated from
``rtl/regmap.rdl``); this module indexes it the way the low-level driver refers to it,
so that the driver names registers, fields and enum values only by name.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from rtl.contract import registers
from rtl.contract.regmap import Field, Register, enum_class_name

Reg = Register   # the name this module used for a register

__all__ = ["Field", "Reg", "RegMap", "load"]


@dataclass(frozen=True)
class RegMap:
    core: dict    #: register name -> Register, core address map (SPI core byte 0..N-1 / 0xFF)
    chip: dict    #: register name -> Register, chip control map (SPI core byte 0xFE)
    enums: dict   #: enum class name (e.g. "Mode") -> its enum.IntEnum


@functools.lru_cache(maxsize=None)
def load() -> RegMap:
    """The :class:`RegMap` of the contract's register map."""
    enums: dict[str, type[enum.IntEnum]] = {enum_class_name(k): v for k, v in registers.ENUMS.items()}
    return RegMap(core={r.name: r for r in registers.CORE_REGS},
                  chip={r.name: r for r in registers.CHIP_REGS}, enums=enums)

"""Register map for the host firmware: the contract's, under the names the firmware uses.

Everything here is :mod:`rtl.contract.registers` (generated from ``rtl/regmap.rdl``) and
:mod:`rtl.contract.constants`; e.g. ``CTRL.MODE.put(word, Mode.MVM)``,
``encode(CTRL, mode=Mode.MVM)`` or ``decode(STATUS, word)``.
"""

from __future__ import annotations

from rtl.contract.constants import (CORE_BROADCAST, CORE_CHIP, OPCODES, RF_ENTRIES, RF_FILES,
                                    RF_MAX_WIDTH)
from rtl.contract.regmap import REG_BITS, Field, Register, decode, encode
from rtl.contract.registers import *  # noqa: F403 - the generated registers and enums
from rtl.contract.registers import CHIP_REGS, CORE_REGS, ENUMS  # noqa: F401

OP_REG_WRITE = OPCODES["REG_WRITE"]
OP_REG_READ = OPCODES["REG_READ"]
OP_RF_WRITE = OPCODES["RF_WRITE"]
OP_RF_READ = OPCODES["RF_READ"]
FILE_BL = RF_FILES["BL"]
FILE_SL = RF_FILES["SL"]

__all__ = ["CHIP_REGS", "CORE_BROADCAST", "CORE_CHIP", "CORE_REGS", "ENUMS", "FILE_BL", "FILE_SL",
           "Field", "OP_REG_READ", "OP_REG_WRITE", "OP_RF_READ", "OP_RF_WRITE", "REG_BITS",
           "RF_ENTRIES", "RF_MAX_WIDTH", "Register", "decode", "encode"]

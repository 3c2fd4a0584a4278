"""Chip-wide constants of the NeuRRAM contract (SPEC §1-2, docs/architecture.md §2)."""

from __future__ import annotations

#: System clock period of the paper's board (100 MHz); every cycle count in the contract
#: (``mvm_cycles``, PROG_WIDTH.cycles) converts to chip time with it.
CLK_NS = 10.0

#: Cores of the NeuRRAM chip. The chip control registers give it its upper bound too:
#: CORE_SEL0-2 and BUSY0-2 hold 3 x 16 = 48 bits, one per core, so a frame decoder cannot
#: select or report more (``rtl.contract.regmap``'s core-select width is checked against
#: it in tests/rtl/test_contract.py). The core byte of a frame could name 254 cores
#: (0xFE is the chip registers, 0xFF broadcast), but nothing else of the chip could.
N_CORES = 48
MAX_CORES = N_CORES

#: BLs, SLs, WLs and neurons per core; also the entries of each register file.
N_LINES = 256

#: Verilog attribute on a chip input the chip synchronises itself (a flop of the clock
#: that consumes it): a testbench passes such an input straight through instead of
#: registering it, so every input reaches the logic the same one cycle after it is
#: driven. Set by rtl/chip.py, read by cosim/tbgen.py from the generated Verilog.
SYNCHRONISED_INPUT_ATTR = "neurram_synchronised"

#: Bits of one register-file entry (the widest input / output code).
ENTRY_BITS = 10

# ---- SPI frames (docs/spi.md)
OPCODES = {"REG_WRITE": 0x01, "REG_READ": 0x02, "RF_WRITE": 0x03, "RF_READ": 0x04}
CORE_BROADCAST = 0xFF      #: core byte addressing every core (writes only)
CORE_CHIP = 0xFE           #: core byte addressing the chip control registers
RF_FILES = {"BL": 0, "SL": 1}
BL_FILE, SL_FILE = RF_FILES["BL"], RF_FILES["SL"]
RF_ENTRIES = N_LINES
RF_MAX_WIDTH = ENTRY_BITS

#: Programming DAC: PROG.amp is 10 mV per code (rtl/regmap.rdl).
PROG_AMP_LSB_V = 0.010

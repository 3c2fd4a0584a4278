"""The NeuRRAM chip contract: every rule the RTL, analog models, firmware and cosim share.

Imports numpy only (no Amaranth, cocotb or torch), so every layer can use it:

* :mod:`~rtl.contract.constants` - clock period, cores, lines, frame constants;
* :mod:`~rtl.contract.registers` - the register map generated from ``rtl/regmap.rdl``
  (enums ``Mode``, ``Dir``, ``Act``, ``ProgOp``, error codes ``CfgErr``, ``SpiErr``,
  every register and field with its width, reset and single-pulse flag), with the classes
  of :mod:`~rtl.contract.regmap`;
* :mod:`~rtl.contract.events` - analog-bus event kinds, driver levels, :class:`AnalogEvent`;
* :mod:`~rtl.contract.config` - :class:`CoreConfig` (validation, segments and their
  destination files, cycle counts, input encoding, output decoding);
* :mod:`~rtl.contract.corelet` - the neuron <-> SL map;
* :mod:`~rtl.contract.frames` - SPI frame layouts and the burst bit stream;
* :mod:`~rtl.contract.event_log` - the cosim testbench's event-log entry layout.
"""

from .config import (CONFIG_FIELDS, RANGE_CHECKS, ConfigError, CoreConfig, Segment, decode_outputs,
                     encode_inputs, entry_sign_magnitude, input_levels, line_sign_magnitude, mvm_cycles, op_cycles,
                     output_bit, output_codes, program_cycles, TwoPhasePlan, two_phase_exact,
                     two_phase_plan, validate)
from .constants import (BL_FILE, CLK_NS, CORE_BROADCAST, CORE_CHIP, ENTRY_BITS, MAX_CORES, N_CORES,
                        N_LINES, SL_FILE)
from .corelet import NEURON_SL, SL_NEURON, neuron_of_sl, neuron_sl
from .events import FIELDS_BY_KIND, AnalogEvent, DecrMode, EventKind, Level
from .registers import Act, CfgErr, Dir, Mode, ProgOp, SpiErr

__all__ = ["Act", "AnalogEvent", "BL_FILE", "CLK_NS", "CONFIG_FIELDS", "CORE_BROADCAST",
           "CORE_CHIP", "CfgErr", "ConfigError", "CoreConfig", "DecrMode", "Dir", "ENTRY_BITS",
           "EventKind", "FIELDS_BY_KIND", "Level", "MAX_CORES", "Mode", "NEURON_SL", "N_CORES",
           "N_LINES", "ProgOp", "RANGE_CHECKS", "SL_FILE", "SL_NEURON", "Segment", "SpiErr",
           "decode_outputs", "encode_inputs", "entry_sign_magnitude", "input_levels", "line_sign_magnitude",
           "mvm_cycles", "neuron_of_sl", "neuron_sl", "op_cycles", "output_bit", "output_codes",
           "program_cycles", "TwoPhasePlan", "two_phase_exact", "two_phase_plan", "validate"]

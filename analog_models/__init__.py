"""Numpy models of the NeuRRAM core's analog side: RRAM devices, the TNSA array and the
voltage-mode neurons, answering the digital core's analog bus (docs/analog_bus.md).

Main entry points: :class:`CoreModel` (event path ``handle`` and vectorised ``mvm``),
:class:`AnalogParams`, :class:`CoreConfig`, :mod:`analog_models.normalisation`,
:func:`write_verify` (:mod:`analog_models.programming`, the algorithm the firmware
runs through the chip), :mod:`analog_models.energy`, :mod:`analog_models.fidelity`.
"""

from .config import CoreConfig
from .core import CoreModel
from .device import RRAMDevice, iterative_program, write_verify
from .params import AnalogParams
from .programming import WriteVerifyConfig

__all__ = ["AnalogParams", "CoreConfig", "CoreModel", "RRAMDevice", "WriteVerifyConfig",
           "iterative_program", "write_verify"]

"""Mid-level API: write-verify programming, MVM at any precision, multi-core MVM, calibration.

The middle of the paper's three-level toolchain (SPEC §8). It knows conductances, input
and output bit widths and the directions of the TNSA, and nothing about neural-network
layers (that is :mod:`firmware.highlevel`).

Main entry point: :class:`Core` state is kept by :class:`MidLevel`, which wraps a
:class:`firmware.lowlevel.Chip`:

>>> mid = MidLevel(Chip(transport))                                     # doctest: +SKIP
>>> report = mid.program_matrix(core=0, g=G)   # write-verify, 3 iterative passes
>>> res = mid.mvm(core=0, x=X, cfg=MvmConfig(in_bits=4, out_bits=6), rows=(0, 128), cols=(0, 64))
>>> res.dot                                    # sum_i x_i (G+ - G-) in µS per input unit
"""

from __future__ import annotations

import numpy as np

from analog_models.params import AnalogParams
from firmware.calibration import Calibration, CalibrationOps
from firmware.lowlevel import N_LINES, Chip
from firmware.mvm import MvmConfig, MvmOps, MvmResult
from firmware.normalisation import Normaliser
from firmware.programming import ProgramReport, ProgrammingOps, WriteVerifyConfig
from firmware.validation import finite_number as _finite_number
from rtl.contract.corelet import neuron_of_sl
from rtl.contract.events import PROG_AMP_BITS, VDECR_BITS, VNOISE_BITS, VREAD_BITS

# The mid-level API lives in firmware.programming, firmware.mvm, firmware.normalisation and
# firmware.calibration; this module is its entry point and keeps every name it had.
__all__ = ["WriteVerifyConfig", "ProgramReport", "MvmConfig", "MvmResult", "Normaliser",
           "Calibration", "MidLevel", "neuron_of_sl"]


class MidLevel(ProgrammingOps, MvmOps, CalibrationOps):
    """Mid-level driver: programming, MVM, calibration over a :class:`Chip`.

    Parameters
    ----------
    chip : Chip
        Low-level driver.
    params : AnalogParams, optional
        Analog constants the host uses for normalisation (DAC scales, capacitances).
    progress : bool
        Show tqdm progress bars on long operations.

    Notes
    -----
    The host keeps what it knows of each core's conductances in :attr:`g_known`
    (NaN = never programmed or measured). MVM normalisation needs the conductances of
    every cell on the lines being averaged; :meth:`measure` reads unknown ones.
    """

    def __init__(self, chip: Chip, params: AnalogParams | None = None, *, progress: bool = True):
        if not isinstance(chip, Chip):
            raise TypeError(f"chip must be a firmware.lowlevel.Chip, got {type(chip).__name__}")
        self.chip = chip
        self._init_host(params, progress)

    def _init_host(self, params: AnalogParams | None, progress: bool) -> None:
        """What the host keeps, whatever drives the chip below."""
        self.norm = Normaliser(params)
        self.progress = bool(progress)
        self.g_known: dict[int, np.ndarray] = {}
        #: block key -> (per-output offset, gain) recorded by :meth:`calibrate`
        self.offsets: dict[tuple, tuple] = {}
        #: when True every MVM's raw output codes are appended to :attr:`codes_log`
        #: (used to compare backends code for code)
        self.record_codes = False
        self.codes_log: list[np.ndarray] = []
        #: read unknown conductances through the board ADC when an MVM needs them
        self.auto_measure = True

    @property
    def n_cores(self) -> int:
        return self.chip.n_cores

    #: Board DACs that change the analog scale the host normalises with: name ->
    #: (AnalogParams field, code bits of the on-chip DAC it is the full scale of).
    BOARD_DACS = {"vref": ("vref", None), "vread_fs": ("vread_lsb", VREAD_BITS),
                  "vdecr_fs": ("vdecr_lsb", VDECR_BITS), "vnoise_fs": ("vnoise_lsb", VNOISE_BITS),
                  "vprog_fs": ("prog_lsb", PROG_AMP_BITS)}

    def board_dac(self, name: str, volts: float) -> None:
        """Set a board DAC and keep the host's normalisation constants in step with it."""
        if name not in self.BOARD_DACS:
            raise ValueError(f"name must be one of {', '.join(self.BOARD_DACS)}, got {name!r}")
        volts = _finite_number("volts", volts, 1e-6, 10)
        self.chip.board_dac(name, volts)
        field_name, bits = self.BOARD_DACS[name]
        self.norm.p = self.norm.p.replace(**{field_name: volts / (2 ** bits if bits else 1)})

    def known(self, core: int) -> np.ndarray:
        core = self.chip.check_core(core)
        if core not in self.g_known:
            self.g_known[core] = np.full((N_LINES, N_LINES), np.nan)
        return self.g_known[core]

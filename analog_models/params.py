"""Physical constants and calibration parameters of the NeuRRAM analog models.

Every number the analog side uses lives in :class:`AnalogParams`; nothing is hidden in
the model code. Units: conductance in µS, voltage in V, capacitance in fF, time in ns,
resistance in Ω. Products that cross units are converted where they occur
(``fF / µS = ns``, ``Ω · µS = 1e-6``).

Which values come from the paper and which were chosen or calibrated is documented in
``docs/analog_models.md`` (table "Parameters").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from rtl.contract.constants import N_CORES
from rtl.contract.events import DECR_STEP_BITS

BOLTZMANN = 1.380649e-23  # J/K

VREAD_BITS = 8
VDECR_BITS = 12
VNOISE_BITS = 8
PROG_AMP_BITS = 8

#: Names of the non-ideality switches; all False gives the ideal core.
NONIDEALITY_SWITCHES = (
    "input_drop",        # (1) drop on each input line through its driver gate (R_write)
    "driver_drop",       # (2) drop on the shared read rails (R_driver, x parallel cores)
    "wire",              # (3) BL/SL wire resistance
    "prog_resolution",   # (4) write-verify leaves cells inside +-window, not on target
    "relaxation",        # (5) conductance relaxation after programming
    "coupling",          # (6) capacitive coupling of lines switching together
    "adc",               # (7) comparator offset/noise, charge injection, headroom clipping
    "read_noise",        # RRAM read (current) noise at every WL pulse
    "thermal",           # kT/C noise of every charge transfer onto Csample
    "settling",          # incomplete settling when the WL pulse is short against line RC
    "sample_depletion",  # each sample removes charge from the floating output line
)


@dataclass
class AnalogParams:
    """All constants of the device, array and neuron models.

    The defaults are the calibrated values used by ``neurram fidelity``; the
    non-ideality switches (see :data:`NONIDEALITY_SWITCHES`) are all on.
    :meth:`ideal` returns a copy with every switch off, in which the core computes
    the exactly quantised weighted-average MVM.
    """

    # ---- DAC scales (board / chip bias DACs); see vread_volts() etc. --------------
    vref: float = 1.0            #: V, mid-rail reference of lines and neurons (choice)
    vread_lsb: float = 2.0e-3    #: V per VREAD code (8-bit, 0 ... 0.51 V)
    vdecr_lsb: float = 0.25e-3   #: V per VDECR code (12-bit, 0 ... 1.02 V)
    vnoise_lsb: float = 1.0e-3   #: V per VNOISE code (8-bit)
    prog_lsb: float = 10e-3      #: V per PROG amplitude code (paper: 10 mV)
    vread_max: float = 0.30      #: V, read-disturb limit the calibration respects (choice)

    # ---- capacitances (fF) ------------------------------------------------------------
    c_sample: float = 17.0       #: paper
    c_integ: float = 104.0       #: paper
    c_bl: float = 450.0          #: BL parasitic: 256 RRAM top electrodes + wire (choice)
    c_sl: float = 550.0          #: SL parasitic: 256 access-transistor sources + wire (choice)
    c_cross: float = 0.02        #: BL-SL crossing capacitance per cell (coupling)
    c_wl_overlap: float = 0.004  #: WL to output-line overlap capacitance per cell
    v_wl: float = 3.3            #: V, WL swing (thick-oxide access transistors)

    # ---- neuron -------------------------------------------------------------------------
    integ_headroom: float = 0.11      #: V, linear swing of the integrator around Vref
    cmp_offset_sigma: float = 4.0e-3  #: V, fixed comparator offset per neuron
    inj_offset_sigma: float = 0.3e-3  #: V per integration, fixed charge-injection offset
    cmp_noise_sigma: float = 0.5e-3   #: V, comparator input noise per decision
    temperature: float = 300.0        #: K (kT/C noise)
    sample_noise_sigma: float = 3.2e-3  #: V on Csample per sample of a floating line: switch
                                        #: charge-injection randomness + line crosstalk

    # ---- array drivers and wires (Ω) ------------------------------------------------
    r_write: float = 150.0       #: per input line: transmission gate + routing
    r_driver: float = 2.0        #: shared read rail source resistance per core
    n_parallel_cores: int = 1    #: cores drawing from the same rails at once
    r_wire: float = 1.0          #: BL / SL wire resistance per cell pitch

    # ---- RRAM read noise ------------------------------------------------------------------
    read_noise_rel: float = 0.05   #: relative conductance fluctuation in one 10 ns WL pulse
    read_noise_abs: float = 0.15   #: µS, absolute conductance fluctuation per WL pulse
    board_noise_rel: float = 0.01  #: relative noise of a board-ADC read (µs averaging)
    board_noise_abs: float = 0.10  #: µS, absolute noise of a board-ADC read

    # ---- weight mapping (paper) ---------------------------------------------------------
    g_min: float = 1.0     #: µS
    g_max: float = 40.0    #: µS (CNNs; 30 for LSTM/RBM)

    # ---- device (RRAM) model; see device.py for the equations ------------------------
    g_floor: float = 0.1       #: µS, deepest reset state
    g_ceil: float = 46.0       #: µS, mean saturated SET state
    set_v0: float = 1.2        #: V, SET amplitude at which the step is set_k0
    reset_v0: float = 1.5      #: V, RESET amplitude at which the step is reset_k0
    set_k0: float = 0.6        #: µS, mean SET step at set_v0, 1 µs, mid-range
    reset_k0: float = 0.6      #: µS, mean RESET step at reset_v0, 1 µs, mid-range
    v_slope: float = 0.33      #: V per e-fold of step size with amplitude
    width_exp: float = 0.5     #: step ~ (width / 1 µs) ** width_exp
    step_sigma: float = 0.8    #: lognormal spread of a step (cycle-to-cycle)
    step_jitter: float = 0.35  #: µS, additive Gaussian jitter per pulse
    ref_width_ns: float = 1000.0
    d2d_sigma: float = 0.3     #: lognormal device-to-device spread of the step size
    g_ceil_sigma: float = 6.0  #: µS, device-to-device spread of the saturated SET state
    # relaxation: std(G0) = relax_floor + relax_peak * x * exp(1 - x), x = (G0-g_floor)/relax_g_peak
    relax_peak: float = 3.55      #: µS
    relax_floor: float = 0.35     #: µS
    relax_g_peak: float = 11.0    #: µS above g_floor where the std peaks
    relax_mean_shift: float = -0.4  #: µS, mean drift (paper: |shift| < 1 µS)
    board_adc_lsb: float = 0.05   #: µS, board ADC resolution of a cell read

    # ---- switches ---------------------------------------------------------------------------
    input_drop: bool = True
    driver_drop: bool = True
    wire: bool = True
    prog_resolution: bool = True
    relaxation: bool = True
    coupling: bool = True
    adc: bool = True
    read_noise: bool = True
    thermal: bool = True
    settling: bool = True
    sample_depletion: bool = True

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in NONIDEALITY_SWITCHES:
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"{f.name} must be a bool, got {v!r}")
                continue
            if f.name == "n_parallel_cores":
                if not isinstance(v, (int, np.integer)) or not 1 <= v <= N_CORES:
                    raise ValueError(f"n_parallel_cores must be an int in 1..{N_CORES}, got {v!r}")
                continue
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v!r}")
            if v < 0 and f.name != "relax_mean_shift":
                raise ValueError(f"{f.name} must be >= 0, got {v!r}")
        for name in ("c_sample", "c_integ", "c_bl", "c_sl", "vref", "g_max", "ref_width_ns"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.g_min < self.g_max:
            raise ValueError(f"need 0 < g_min < g_max, got g_min={self.g_min}, g_max={self.g_max}")

    # ------------------------------------------------------------------------------------
    @classmethod
    def ideal(cls, **overrides) -> "AnalogParams":
        """Parameters with every non-ideality switched off (plus ``overrides``)."""
        kw = {name: False for name in NONIDEALITY_SWITCHES}
        kw.update(overrides)
        return cls(**kw)

    def replace(self, **changes) -> "AnalogParams":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ---- DAC conversions -----------------------------------------------------------------
    def vread_volts(self, code) -> float:
        """Read amplitude Vread (V) of an 8-bit VREAD code (0 ... 255)."""
        return _code(code, VREAD_BITS, "vread") * self.vread_lsb

    def vdecr_volts(self, code, step=0) -> float:
        """Decrement amplitude (V) of a 12-bit VDECR code (0 ... 4095) at step ``step`` of
        the binary search (output cycle ``step + 1``): ``Vdecr * 2**-step``. The shared DAC
        makes the halved levels from the one code (SPEC §4: Vdecr halves every cycle), so
        the halving is exact whatever the code."""
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) \
                or not 0 <= step < 2**DECR_STEP_BITS:
            raise ValueError(f"decr_step must be an integer in 0..{2**DECR_STEP_BITS - 1}, got {step!r}")
        return _code(code, VDECR_BITS, "vdecr") * self.vdecr_lsb * 2.0 ** -int(step)

    def vnoise_volts(self, code) -> float:
        """Noise injection amplitude (V) of an 8-bit VNOISE code (0 ... 255)."""
        return _code(code, VNOISE_BITS, "vnoise") * self.vnoise_lsb

    def prog_volts(self, code) -> float:
        """Programming pulse amplitude (V) of an 8-bit PROG amplitude code (10 mV/code)."""
        return _code(code, PROG_AMP_BITS, "prog_amp") * self.prog_lsb

    def vread_code(self, volts: float) -> int:
        """Nearest VREAD code for ``volts`` (clipped to the DAC range)."""
        return int(np.clip(round(float(volts) / self.vread_lsb), 0, 2**VREAD_BITS - 1))

    def vdecr_code(self, volts: float) -> int:
        """Nearest VDECR code for ``volts`` (clipped to the DAC range)."""
        return int(np.clip(round(float(volts) / self.vdecr_lsb), 0, 2**VDECR_BITS - 1))

    # ---- derived quantities ----------------------------------------------------------------
    @property
    def gain(self) -> float:
        """Charge-transfer gain Csample / Cinteg of one integration."""
        return self.c_sample / self.c_integ

    def share(self, c_line: float) -> float:
        """Fraction of a line voltage that one charge share leaves on Csample."""
        return c_line / (c_line + self.c_sample)

    def ktc_var(self) -> float:
        """Variance (V²) of the kT/C noise left on Csample by one charge transfer."""
        return BOLTZMANN * self.temperature / (self.c_sample * 1e-15)

    def sample_var(self) -> float:
        """Variance (V²) of the noise of sampling a floating line onto Csample: kT/C plus
        ``sample_noise_sigma`` (a DECR charges Csample from the low-impedance DAC and
        only gets kT/C)."""
        return self.ktc_var() + self.sample_noise_sigma**2


def _code(code, bits: int, name: str) -> int:
    if isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
        raise ValueError(f"{name} code must be an integer in 0..{2**bits - 1}, got {code!r}")
    if not 0 <= int(code) < 2**bits:
        raise ValueError(f"{name} code must be in 0..{2**bits - 1}, got {code!r}")
    return int(code)

"""The test board beside the chip: bias DACs and the conductance-measuring ADC.

On the paper's board the bias voltages come from board DACs and a cell's conductance is
measured by a board ADC while the chip applies a READ pulse (SPEC §5). Here:

* :meth:`Board.dac` sets a board DAC. ``vref`` is the reference voltage itself; the
  ``*_fs`` DACs are the full-scale references of the chip's on-chip code DACs (VREAD,
  VDECR, VNOISE and the programming amplitude), so they change the volts per code the
  analog models use. The same :class:`Board` class serves the cosimulation and the golden
  model, so both see identical analog parameters.
* :attr:`Board.rails` are the chip's shared read rails (:mod:`analog_models.rails`);
  :meth:`Board.observe_frame` tells them which cores start together.
* :meth:`Board.adc_reading` is called with the analog model's answer to the ``PROG_END``
  of a READ pulse (the cell current already converted to µS and quantised to the board
  ADC's LSB by the model); :meth:`Board.adc_uS` returns the last reading of a core.
"""

from __future__ import annotations

import math

# DAC name -> (AnalogParams field, scale from the DAC volts to the field, code bits).
DACS = {
    "vref": ("vref", 1.0, None),
    "vread_fs": ("vread_lsb", 1.0, 8),
    "vdecr_fs": ("vdecr_lsb", 1.0, 12),
    "vnoise_fs": ("vnoise_lsb", 1.0, 8),
    "vprog_fs": ("prog_lsb", 1.0, 8),
}


def apply_params(model, params) -> None:
    """Give a live CoreModel (and its parts) new parameters; cached array plans are dropped."""
    for obj in (model, getattr(model, "neurons", None), getattr(model, "device", None)):
        if obj is not None and hasattr(obj, "p"):
            obj.p = params
    if hasattr(model, "_plans"):
        model._plans.clear()


class Board:
    """Board DACs and ADC for the cores of one chip.

    Parameters
    ----------
    models : list
        The cores' analog models; each must expose its parameters as ``p``
        (:class:`analog_models.params.AnalogParams`).
    """

    def __init__(self, models: list):
        from analog_models.rails import SharedRails

        from .rail_starts import StartObserver

        self.models = list(models)
        #: The chip's shared read rails; told which cores start together by
        #: :meth:`observe_frame`.
        self.rails = SharedRails(self.models)
        self._starts = StartObserver(len(self.models))
        self._adc: dict[int, float] = {}
        self.dac_volts: dict[str, float] = {}
        self.n_reads = 0

    def dac(self, name: str, volts: float) -> None:
        """Set board DAC ``name`` (one of :data:`DACS`) to ``volts``."""
        if name not in DACS:
            raise ValueError(f"unknown board DAC {name!r}; choose from {', '.join(DACS)}")
        if not isinstance(volts, (int, float)) or not math.isfinite(volts) or volts <= 0:
            raise ValueError(f"board DAC {name!r} needs a positive finite voltage, got {volts!r}")
        field, scale, bits = DACS[name]
        value = float(volts) * scale
        if bits is not None:
            value /= 2 ** bits       # full scale -> volts per code
        for m in self.models:
            apply_params(m, m.p.replace(**{field: value}))
        self.dac_volts[name] = float(volts)

    def observe_frame(self, mosi: bytes, sync=None) -> None:
        """A well-formed SPI frame the host is about to send (see :mod:`cosim.rail_starts`).

        When it starts cores, ``sync()`` (if given) first brings the models up to date."""
        cores = self._starts.starts(bytes(mosi))
        if cores is not None:
            if sync is not None:
                sync()
            self.rails.start(cores)

    def adc_reading(self, core: int, uS: float) -> None:
        self._adc[core] = float(uS)
        self.n_reads += 1

    def adc_uS(self, core: int) -> float:
        """Conductance (µS) measured during the last READ pulse of ``core``."""
        if core not in self._adc:
            raise RuntimeError(f"core {core}: no READ pulse has been measured yet")
        return self._adc[core]

"""Output code -> integrated voltage -> dot product, from the analog constants the host knows."""

from __future__ import annotations

import numpy as np

from analog_models import normalisation
from analog_models.params import AnalogParams
from rtl.contract.config import decode_outputs

__all__ = ["Normaliser"]


class Normaliser:
    """Output code -> dot product, from the analog parameters the host knows.

    The voltage-mode neuron integrates, per input bit plane ``p``, ``2**p`` samples of the
    output line, whose voltage is the conductance-weighted average of the inputs
    (SPEC §4). One sample adds ``gain * share * (V_line - Vref)`` to the integrator
    (``gain = Csample/Cinteg``, ``share = C_line/(C_line+Csample)``), so the integrated
    voltage is about ``gain*c*Vread * sum_i x_i G_ij / sum_i G_ij`` (``c`` the plane gain
    of :mod:`analog_models.normalisation`). The binary search reads it in steps of the
    Vdecr DAC, which halves its level every cycle from the one VDECR code (``Vdecr`` in
    cycle 1, ``Vdecr * 2**-(c-1)`` in cycle ``c``). Multiplying back by the sum of
    conductances recovers ``sum_i x_i G_ij``.
    """

    def __init__(self, params: AnalogParams | None = None):
        self.p = params if params is not None else AnalogParams()

    def code_to_volts(self, codes, out_bits: int, vdecr: int, act: str = "NONE") -> np.ndarray:
        """Integrated voltage (relative to Vref) that an output code stands for.

        The non-restoring search with halving steps ends ``(mag + 1/2)`` steps of its
        last decrement from zero (:func:`rtl.contract.decode_outputs` gives the signed
        ``mag + 1/2``), i.e. the code's value times :meth:`lsb_volts`.
        """
        return decode_outputs(np.asarray(codes, dtype=np.int64), out_bits, act) \
            * self.lsb_volts(out_bits, vdecr)

    def lsb_volts(self, out_bits: int, vdecr: int) -> float:
        """Integrated voltage of one output LSB: the last decrement step (k >= 2), twice
        the first one for a sign-only conversion; ``full_scale / 2**(k-1)`` for every k."""
        return normalisation.lsb_volts(self.p, vdecr, out_bits)

    def full_scale(self, out_bits: int, vdecr: int) -> float:
        """The ADC's full scale: integrated voltages up to it convert to within half an
        LSB, larger ones read the full-scale code (``2 * gain * Vdecr`` for every k)."""
        return float(2 ** (out_bits - 1) * self.lsb_volts(out_bits, vdecr))

    def volts_per_dot(self, vread: int, direction: str, n_planes: int) -> float:
        """Integrated volts per unit of ``sum_i x_i G_ij / sum_i G_ij`` for a segment of
        ``n_planes`` input bit-planes (includes the per-sample charge share and, when the
        analog model has it, sample depletion: :func:`analog_models.normalisation.vint_scale`)."""
        return normalisation.vint_scale(self.p, int(n_planes), int(vread), backward=direction == "BWD")

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
    Vdecr DAC (``vdecr >> (c-1)`` in cycle ``c``). Multiplying back by the sum of
    conductances recovers ``sum_i x_i G_ij``.
    """

    def __init__(self, params: AnalogParams | None = None):
        self.p = params if params is not None else AnalogParams()

    def code_to_volts(self, codes, out_bits: int, vdecr: int, act: str = "NONE") -> np.ndarray:
        """Integrated voltage (relative to Vref) that an output code stands for.

        Uses the actual decrement steps (the DAC code is shifted right, not divided),
        so codes that are not powers of two decode exactly.
        """
        k = out_bits
        codes = np.asarray(codes, dtype=np.int64)
        if k == 1:
            half = 0.5 * self.p.gain * self.p.vdecr_volts(vdecr)
            lsb_units = decode_outputs(codes, 1, act)
            return lsb_units * 2 * half     # +-gain*vdecr: the sign bit alone
        steps = np.array([self.p.gain * self.p.vdecr_volts(vdecr >> (c - 1)) for c in range(1, k)])
        lsb_units = decode_outputs(codes, k, act)           # (mag + 0.5) * sign
        sign = np.sign(lsb_units)
        mag = (np.abs(lsb_units) - 0.5).astype(np.int64)
        # non-restoring search: sigma_0 = +1, sigma_c = +1 if magnitude bit c is 1
        bits = [(mag >> (k - 1 - c)) & 1 for c in range(1, k)]
        sig = [np.ones_like(mag)] + [2 * b - 1 for b in bits]
        mag_v = sum(sig[c - 1] * steps[c - 1] for c in range(1, k)) + sig[k - 1] * steps[k - 2] / 2
        out = sign * mag_v
        if act == "RELU":
            out = np.where(lsb_units > 0, out, 0.0)
        return out

    def lsb_volts(self, out_bits: int, vdecr: int) -> float:
        """Integrated voltage of one output LSB: the last decrement step (k >= 2)."""
        k = out_bits
        if k == 1:
            return 2 * self.p.gain * self.p.vdecr_volts(vdecr)
        return self.p.gain * self.p.vdecr_volts(vdecr >> (k - 2))

    def full_scale(self, out_bits: int, vdecr: int) -> float:
        """Largest integrated voltage a conversion resolves (the ADC full scale)."""
        k = out_bits
        if k == 1:
            return self.p.gain * self.p.vdecr_volts(vdecr)
        return float(sum(self.p.gain * self.p.vdecr_volts(vdecr >> (c - 1)) for c in range(1, k))
                     + self.p.gain * self.p.vdecr_volts(vdecr >> (k - 2)) / 2)

    def volts_per_dot(self, vread: int, direction: str, n_planes: int) -> float:
        """Integrated volts per unit of ``sum_i x_i G_ij / sum_i G_ij`` for a segment of
        ``n_planes`` input bit-planes (includes the per-sample charge share and, when the
        analog model has it, sample depletion: :func:`analog_models.normalisation.vint_scale`)."""
        return normalisation.vint_scale(self.p, int(n_planes), int(vread), backward=direction == "BWD")

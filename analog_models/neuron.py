"""The voltage-mode neuron, vectorised over 256 neurons and a batch.

One amplifier per neuron does four operations (paper, Methods; Extended Data Fig. 4):

* **sample**: the neuron's Csample (precharged to Vref) is connected to its output line
  (parasitic ``C_line``); charge sharing leaves both at
  ``(C_line v_line + Csample v_cs) / (C_line + Csample)``. Each sample therefore also
  *removes* charge from the floating line (``sample_depletion``): the 2^(n-1) samples of
  the n-th bit-plane see a geometrically decaying line voltage. A driven line (neuron
  test) is simply copied. kT/C noise of Csample is added per sample (``thermal``).
* **integrate**: the amplifier moves Csample's charge onto Cinteg: the integrator
  voltage grows by ``(Csample / Cinteg) v_cs`` and Csample returns to Vref. The
  amplifier output saturates at ``±integ_headroom`` (headroom clipping, ``adc``).
  A fixed per-neuron charge-injection offset accrues with each integration (applied at
  the comparison).
* **charge-decrement**: Csample is charged to ``Vref ∓ Vdecr`` (subtract when the
  latched comparison is positive) and integrated: the binary search of the ADC. The
  DAC-driven transfer's kT/C (0.08 mV at the integrator) is part of ``cmp_noise_sigma``.
* **compare**: the feedback is opened and the amplifier compares against Vref; the
  decision has a fixed per-neuron offset and input noise (``adc``).

Noise bookkeeping: kT/C noise is independent per charge transfer, so instead of one
draw per sample the variance is accumulated and realised in one draw at the next
comparison (a sum of independent Gaussians is Gaussian). Every comparison consumes
at most two standard-normal vectors from the core's noise stream (see core.py).
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .params import AnalogParams

#: dtype of the batch state: float32 halves the memory traffic of the vectorised path;
#: its 1e-7 resolution is far below any analog noise in the model.
DT = np.float32


class NeuronBank:
    """State of the 256 neurons of a core for a batch of ``B`` independent MVMs.

    Parameters
    ----------
    params : AnalogParams
    rng_fixed : numpy.random.Generator
        Draws the fixed per-neuron mismatch (comparator offset, charge injection).
    n : int
        Number of neurons (256 in a core).
    """

    def __init__(self, params: AnalogParams, rng_fixed: np.random.Generator, n: int = 256):
        self.p = params
        self.n = n
        self.offset = (params.cmp_offset_sigma * rng_fixed.standard_normal(n)).astype(DT)
        self.inj = (params.inj_offset_sigma * rng_fixed.standard_normal(n)).astype(DT)
        self.reset(1)

    def reset(self, batch: int) -> None:
        """Init: Csample at Vref, Cinteg discharged, latches cleared."""
        shape = (batch, self.n)
        self.v_int = np.zeros(shape, dtype=DT)
        self.v_cs = 0.0            # Csample at Vref (scalar 0 until it holds a charge)
        self.var_cs = 0.0          # kT/C variance currently on Csample (same for all)
        self.pend_var = 0.0        # accumulated kT/C variance on Cinteg, realised at compare
        self.latch = np.zeros(shape, dtype=bool)
        self.n_integ = 0           # integrations since reset (charge-injection offset)

    # ---- operations -------------------------------------------------------------------
    def sample(self, v_line: np.ndarray, c_line: float, driven: np.ndarray | None) -> np.ndarray:
        """Share charge with the neurons' lines; returns the lines' new voltages.

        ``driven`` (256,) bool marks lines held by a driver (their voltage is copied).
        """
        p = self.p
        k = c_line / (c_line + p.c_sample)
        # Charge sharing: both plates end at the capacitance-weighted mean.
        shared = v_line * DT(k)
        if self.v_cs.__class__ is not float:
            shared += self.v_cs * DT(1.0 - k)
        # Ideal sampling (no depletion): Csample acquires its share, the line keeps its charge.
        new_line = shared if p.sample_depletion else v_line
        if driven is not None and driven.any():
            shared = np.where(driven, v_line, shared)
            new_line = np.where(driven, v_line, new_line)
        self.v_cs = shared
        self.var_cs = p.sample_var() if p.thermal else 0.0
        return new_line

    def sample_run(self, v_line: np.ndarray, c_line: float, n: int) -> np.ndarray:
        """``n`` sample-integrate pairs on floating lines, Csample empty at the start (the
        2**q samples of one bit-plane); returns the lines' new voltages.

        In closed form: sample ``j`` shares ``k**j`` of the line's initial voltage (with
        depletion, else ``k`` every time), so the integrator gains ``gain * c * v_line``,
        ``c = k (1 - k**n) / (1 - k)``. Every increment has the sign of the line, so the
        headroom clip after each integration equals one clip of the sum.
        """
        p = self.p
        k = c_line / (c_line + p.c_sample)
        c = k * (1.0 - k**n) / (1.0 - k) if p.sample_depletion else n * k
        if (_kernels.KERNELS and self.v_int.dtype == DT and v_line.dtype == DT
                and v_line.shape == self.v_int.shape):
            # one compiled pass instead of three or four numpy ones, the same operations
            new_line = np.empty_like(v_line) if p.sample_depletion else v_line
            _kernels.sample_run(self.v_int, v_line, DT(p.gain * c), bool(p.adc), DT(p.integ_headroom),
                                bool(p.sample_depletion), DT(k**n), new_line)
        else:
            new_line = v_line * DT(k**n) if p.sample_depletion else v_line
            self.v_int += DT(p.gain * c) * v_line
            if p.adc:
                self._clip()
        self.pend_var = self.pend_var + n * p.gain * p.gain * (p.sample_var() if p.thermal else 0.0)
        if p.adc:
            self.n_integ += n
        self.v_cs = 0.0
        self.var_cs = 0.0
        return new_line

    def subset(self, neurons: np.ndarray) -> "NeuronBank":
        """A bank of only the given neurons (their fixed mismatch), same parameters."""
        sub = object.__new__(NeuronBank)
        sub.p = self.p
        sub.n = int(len(neurons))
        sub.offset = self.offset[neurons]
        sub.inj = self.inj[neurons]
        sub.reset(1)
        return sub

    def integrate(self) -> None:
        """Move Csample's charge onto Cinteg (with clipping and injection offset)."""
        p = self.p
        if self.v_cs.__class__ is not float:
            # Not in place: after a charge share Csample and the line are one array.
            self.v_int += DT(p.gain) * self.v_cs
        self.pend_var = self.pend_var + p.gain * p.gain * self.var_cs
        if p.adc:
            # The charge-injection offset of each integration is added to the comparison
            # (n_integ * inj) rather than to Cinteg: one pass less per integration; it
            # only ignores 0.3 mV per integration when checking the 110 mV headroom.
            self.n_integ += 1
            self._clip()
        self.v_cs = 0.0
        self.var_cs = 0.0

    def decrement(self, vdecr: float, mode: int) -> None:
        """Charge Csample to Vref -/+ ``vdecr`` (V, the DAC's level of this step,
        ``AnalogParams.vdecr_volts(code, step)``) for the next integration.

        ``mode`` 0: subtract where the latch holds 1 (positive), add elsewhere;
        1 force add; 2 force subtract.
        """
        if mode == 0:
            self.v_cs = np.where(self.latch, DT(-vdecr), DT(vdecr))
        elif mode == 1:
            self.v_cs = np.full(self.v_int.shape, vdecr, dtype=DT)
        elif mode == 2:
            self.v_cs = np.full(self.v_int.shape, -vdecr, dtype=DT)
        else:
            raise ValueError(f"decr_mode must be 0, 1 or 2, got {mode!r}")
        # Csample is charged from the low-impedance DAC: its kT/C (0.08 mV at the
        # integrator) is folded into cmp_noise_sigma rather than drawn per decrement.
        self.var_cs = 0.0

    def inject(self, bits: np.ndarray, vnoise: float) -> None:
        """One stochastic step: +Vnoise (bit 1) or -Vnoise (bit 0) integrated."""
        step = DT(self.p.gain * vnoise)
        self.v_int = self.v_int + np.where(bits, step, -step)
        if self.p.adc:
            self._clip()

    def compare(self, z1: np.ndarray | None, n2: np.ndarray | None) -> np.ndarray:
        """Comparator decisions (True = integrated charge positive).

        ``z1`` (standard normals) realises the accumulated sampling noise on Cinteg
        (permanent); ``n2`` is minus the comparator's own input noise in volts (this
        decision only).
        """
        p = self.p
        if self.pend_var:
            self.v_int += DT(np.sqrt(self.pend_var)) * z1
            self.pend_var = 0.0
        if p.adc:
            # v + offset + noise > 0  <=>  v > (-noise) - offset
            off = self.offset + DT(self.n_integ) * self.inj if self.n_integ else self.offset
            thr = -off if n2 is None else n2 - off
            return self.v_int > thr
        return self.v_int > 0

    def _clip(self) -> None:
        h = DT(self.p.integ_headroom)
        if self.v_int.size > 4096:
            np.clip(self.v_int, -h, h, out=self.v_int)     # one pass over a big batch
        else:
            # minimum/maximum: np.clip's dispatch costs tens of µs on a single vector.
            np.minimum(self.v_int, h, out=self.v_int)
            np.maximum(self.v_int, -h, out=self.v_int)

    def set_latch(self, bits: np.ndarray) -> None:
        self.latch = np.asarray(bits, dtype=bool)

"""Model-driven calibration of a layer's operating point and ADC offsets (SPEC §8a)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.lowlevel import N_LINES, _check_int
from firmware.mvm import MvmConfig
from firmware.validation import finite_number as _finite_number

__all__ = ["Calibration", "CalibrationOps"]


@dataclass
class Calibration:
    """Operating point and offsets found by :meth:`MidLevel.calibrate` (SPEC §8a)."""

    vread: int
    vdecr: int
    offset: np.ndarray         #: per output, subtracted from ``dot`` (µS·input units)
    gain: float                #: block gain, ``dot`` is divided by it after the offsets
    rmse: float                #: on the calibration data, after offset and gain correction
    grid: list                 #: (vread, vdecr, rmse) of every point tried
    clip_fraction: float       #: outputs read at the full-scale code in some segment
    saturation: float = 0.0    #: outputs the model puts beyond full scale in some segment

    def summary(self) -> dict:
        return {"vread": self.vread, "vdecr": self.vdecr, "gain": round(self.gain, 4),
                "rmse": round(self.rmse, 4), "clip_fraction": round(self.clip_fraction, 4),
                "saturation": round(self.saturation, 4), "points": len(self.grid)}


class CalibrationOps:
    """Calibration methods of :class:`firmware.midlevel.MidLevel`."""

    def ideal_dot(self, core: int, x, cfg: MvmConfig, rows, cols) -> np.ndarray:
        """The float product the MVM approximates, from the host's conductance knowledge."""
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        g = self.known(core)[r0:r0 + nr, c0:c0 + nc]
        if cfg.diff:
            g = g[0::2] - g[1::2]
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return x @ g.T if cfg.direction == "BWD" else x @ g

    def segment_signals(self, core: int, x, cfg: MvmConfig, *, rows=(0, N_LINES),
                        cols=(0, N_LINES)) -> list[tuple[int, int, np.ndarray]]:
        """What each conversion of an MVM sees, predicted from the host's conductance
        knowledge: ``(planes, out_bits, ratio)`` per segment, MSB first, ``ratio``
        (batch, output lines) the weighted average ``sum x_seg G / sum G`` of the
        segment's inputs (:meth:`rtl.contract.Segment.inputs`) on each output line (BLs
        backward, before a differential output's pairs are subtracted). Times
        :meth:`Normaliser.volts_per_dot` it is the integrated voltage the ADC converts."""
        cfg = cfg.validate()
        core = self.chip.check_core(core)
        x = np.atleast_2d(np.asarray(x))
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        gsum = self._gsum(core, cfg, r0, nr, c0, nc)
        kn = self.known(core)[r0:r0 + nr, c0:c0 + nc]
        out = []
        for seg, (_, planes, k) in zip(cfg.core_config().segments(), cfg.segments()):
            xs = seg.inputs(np.rint(x)).astype(float)
            if cfg.direction == "BWD":
                ratio = xs @ kn.T / gsum
            else:
                if cfg.diff:
                    xd = np.zeros((xs.shape[0], nr))
                    xd[:, 0::2], xd[:, 1::2] = xs, -xs
                    xs = xd
                ratio = xs @ kn / gsum
            out.append((planes, k, ratio))
        return out

    def operating_point(self, core: int, x, cfg: MvmConfig, *, rows=(0, N_LINES),
                        cols=(0, N_LINES), percentile: float = 99.5) -> tuple[int, int, float]:
        """Model-only operating point: (vread, vdecr, signal amplitude) for inputs ``x``.

        From the host's conductance knowledge, predict each conversion's weighted average
        (:meth:`segment_signals`); take the largest Vread that keeps the ``percentile``
        of the integrated signal inside 80% of the integrator headroom (and under the
        read-disturb limit), and the Vdecr whose full scale covers it in every segment
        (one VDECR serves both segments of a two-phase MVM). The amplitude returned is the
        ``percentile`` of the segment that sets Vdecr, in units of ``sum x G / sum G``.
        No MVM is run; :meth:`calibrate` refines this point on the chip.
        """
        cfg = cfg.validate()
        signals = self.segment_signals(core, x, cfg, rows=rows, cols=cols)
        return self._point(cfg, self._percentiles(signals, percentile))

    def _point(self, cfg: MvmConfig, sig) -> tuple[int, int, float]:
        """:meth:`operating_point` from the segments' signal percentiles."""
        p = self.norm.p
        per_v = max(self.norm.volts_per_dot(1, cfg.direction, planes) * amp
                    for planes, _, amp in sig) / p.vread_volts(1)
        vmax = min(p.vread_max, 0.8 * p.integ_headroom / max(per_v, 1e-12))
        vr = int(np.clip(p.vread_code(vmax), 1, 255))
        vd = int(np.clip(round(self._vdecr_for(vr, cfg, sig)), 1, 4095))
        amp = max(sig, key=lambda t: self.norm.volts_per_dot(vr, cfg.direction, t[0]) * t[2])[2]
        return vr, vd, amp

    @staticmethod
    def _percentiles(signals, percentile):
        """``(planes, out_bits, percentile of |ratio|)`` of each segment."""
        return [(planes, k, max(float(np.percentile(np.abs(r), percentile)), 1e-9))
                for planes, k, r in signals]

    def _vdecr_for(self, vread: int, cfg: MvmConfig, sig) -> float:
        """The (fractional) VDECR code whose full scale equals the largest segment signal."""
        v_sig = max(self.norm.volts_per_dot(vread, cfg.direction, planes) * amp
                    for planes, _, amp in sig)
        return v_sig / self.norm.full_scale(cfg.out_bits, 1)     # full scale is linear in the code

    def saturation(self, signals, cfg: MvmConfig, vread: int, vdecr: int) -> float:
        """Fraction of output lines (per vector) that :meth:`segment_signals` puts beyond
        the ADC's full scale in at least one segment at this operating point."""
        over = None
        for planes, k, ratio in signals:
            v = np.abs(ratio) * self.norm.volts_per_dot(vread, cfg.direction, planes)
            o = v >= self.norm.full_scale(k, vdecr)
            over = o if over is None else over | o
        return float(np.mean(over))

    def calibrate(self, core: int, x_calib, cfg: MvmConfig, *, rows=(0, N_LINES), cols=(0, N_LINES),
                  vread_codes=None, vdecr_factors=(0.7, 1.0, 1.4),
                  percentile: float = 99.5, record_offsets: bool = True,
                  fit_gain: bool = True, max_saturation: float = 0.01) -> Calibration:
        """Model-driven calibration of one layer's operating point (SPEC §8a).

        The model (host conductance knowledge) predicts the integrated voltages of the
        calibration inputs in every conversion segment; the starting point takes the
        largest Vread that keeps them inside the integrator headroom and the Vdecr whose
        full scale covers the ``percentile`` of them. A small grid around it is then
        measured on the chip; the point with the lowest RMSE against the model among
        those at which the model puts at most ``max_saturation`` of the outputs beyond
        full scale wins (the least saturating one if none does); per-output mean errors
        there are recorded as ADC offsets and cancelled in later MVMs of this block.
        With ``fit_gain`` a single gain of the block (the least-squares slope of measured
        against model, i.e. what IR drop and charge sharing leave of the normalisation)
        is recorded and divided out as well (our addition to the paper's offsets).

        Returns
        -------
        Calibration
        """
        cfg = cfg.validate()
        core = self.chip.check_core(core)
        x_calib = np.atleast_2d(np.asarray(x_calib))
        if x_calib.shape[0] < 2:
            raise ValueError("x_calib needs at least 2 calibration vectors")
        _finite_number("percentile", percentile, 50, 100)
        _finite_number("max_saturation", max_saturation, 0, 1)
        ideal = self.ideal_dot(core, x_calib, cfg, rows, cols)
        signals = self.segment_signals(core, x_calib, cfg, rows=rows, cols=cols)
        sig = self._percentiles(signals, percentile)
        vr0 = self._point(cfg, sig)[0]
        if vread_codes is None:
            vread_codes = sorted({vr0, max(1, int(vr0 * 0.7))})
        key = (core, tuple(rows), tuple(cols), cfg.direction)
        grid = []
        best = None
        for vr in vread_codes:
            _check_int("vread", vr, 1, 255)
            vd0 = self._vdecr_for(vr, cfg, sig)
            for f in vdecr_factors:
                vd = int(np.clip(round(vd0 * f), 1, 4095))
                c = cfg.replace(vread=vr, vdecr=vd)
                self.offsets.pop(key, None)
                res = self.mvm(core, x_calib, c, rows=rows, cols=cols, desc=None)
                gain = 1.0
                if fit_gain:
                    dm = res.dot - res.dot.mean(axis=0)
                    di = ideal - ideal.mean(axis=0)
                    den = float(np.sum(di * di))
                    gain = float(np.sum(dm * di) / den) if den > 0 else 1.0
                    if not np.isfinite(gain) or gain <= 0.05:
                        gain = 1.0
                err = res.dot - gain * ideal
                off = err.mean(axis=0) if record_offsets else np.zeros(err.shape[1])
                rmse = float(np.sqrt(np.mean(((res.dot - off) / gain - ideal) ** 2)))
                clip = self.full_scale_fraction(res, rows=rows, cols=cols)
                sat = self.saturation(signals, c, vr, vd)
                grid.append((vr, vd, rmse))
                # feasible points first (sat within budget), then the lowest RMSE
                rank = (sat > max_saturation, sat if sat > max_saturation else 0.0, rmse)
                if best is None or rank < best[0]:
                    best = (rank, vr, vd, rmse, off, clip, gain, sat)
        _, vr, vd, rmse, off, clip, gain, sat = best
        if record_offsets or fit_gain:
            self.offsets[key] = (off, gain)
        return Calibration(vr, vd, off, gain, rmse, grid, clip, sat)

    def full_scale_fraction(self, result, *, rows=(0, N_LINES), cols=(0, N_LINES)) -> float:
        """Fraction of output lines (per vector) an MVM read at the full-scale code in at
        least one segment (:meth:`segment_values`; a sign-only conversion has none). For
        few output bits it counts the top code's own range too."""
        hit = False
        for (_, _, k), value in zip(result.cfg.segments(), self.segment_values(result, rows=rows, cols=cols)):
            if k > 1:
                hit = hit | (np.abs(value) == (1 << (k - 1)) - 0.5)
        return float(np.mean(hit))

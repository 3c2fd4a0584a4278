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
    clip_fraction: float       #: fraction of outputs at the largest magnitude code

    def summary(self) -> dict:
        return {"vread": self.vread, "vdecr": self.vdecr, "gain": round(self.gain, 4),
                "rmse": round(self.rmse, 4),
                "clip_fraction": round(self.clip_fraction, 4), "points": len(self.grid)}



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

    def operating_point(self, core: int, x, cfg: MvmConfig, *, rows=(0, N_LINES),
                        cols=(0, N_LINES), percentile: float = 99.5) -> tuple[int, int, float]:
        """Model-only operating point: (vread, vdecr, signal amplitude) for inputs ``x``.

        From the host's conductance knowledge, predict each output line's weighted
        average ``sum x G / sum G`` for the inputs; take the largest Vread that keeps the
        ``percentile`` of the integrated signal inside 80% of the integrator headroom (and
        under the read-disturb limit), and the Vdecr whose full scale covers it. No MVM
        is run; :meth:`calibrate` refines this point on the chip.
        """
        cfg = cfg.validate()
        core = self.chip.check_core(core)
        x = np.atleast_2d(np.asarray(x, dtype=float))
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        gsum = self._gsum(core, cfg, r0, nr, c0, nc)
        kn = self.known(core)[r0:r0 + nr, c0:c0 + nc]
        if cfg.direction == "BWD":
            ratio = x @ kn.T / gsum
        else:
            xs = x
            if cfg.diff:
                xs = np.zeros((x.shape[0], nr))
                xs[:, 0::2], xs[:, 1::2] = x, -x
            ratio = xs @ kn / gsum
        seg_scale = (1 << cfg.lsb_bits) if cfg.is_two_phase else 1
        planes = cfg.segments()[0][1]
        amp = max(float(np.percentile(np.abs(ratio), percentile)) / seg_scale, 1e-9)
        p = self.norm.p
        per_v = self.norm.volts_per_dot(1, cfg.direction, planes) / p.vread_volts(1)
        vmax = min(p.vread_max, 0.8 * p.integ_headroom / max(per_v * amp, 1e-12))
        vr = int(np.clip(p.vread_code(vmax), 1, 255))
        v_sig = self.norm.volts_per_dot(vr, cfg.direction, planes) * amp
        vd = int(np.clip(round(v_sig / (2 * p.gain) / p.vdecr_lsb), 1, 4095))
        return vr, vd, amp

    def calibrate(self, core: int, x_calib, cfg: MvmConfig, *, rows=(0, N_LINES), cols=(0, N_LINES),
                  vread_codes=None, vdecr_factors=(0.7, 1.0, 1.4),
                  percentile: float = 99.5, record_offsets: bool = True,
                  fit_gain: bool = True) -> Calibration:
        """Model-driven calibration of one layer's operating point (SPEC §8a).

        The model (host conductance knowledge) predicts the integrated voltages of the
        calibration inputs; the starting point takes the largest Vread that keeps them
        inside the integrator headroom and the Vdecr whose full scale covers the
        ``percentile`` of them. A small grid around it is then measured on the chip and
        the point with the lowest RMSE against the model wins; per-output mean errors
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
        r0, nr, c0, nc = self._geometry(cfg, rows, cols)
        gsum = self._gsum(core, cfg, r0, nr, c0, nc)
        ideal = self.ideal_dot(core, x_calib, cfg, rows, cols)
        p = self.norm.p
        vr0, vd0, amp = self.operating_point(core, x_calib, cfg, rows=rows, cols=cols,
                                             percentile=percentile)
        planes = cfg.segments()[0][1]
        if vread_codes is None:
            vread_codes = sorted({vr0, max(1, int(vr0 * 0.7))})
        grid = []
        best = None
        for vr in vread_codes:
            _check_int("vread", vr, 1, 255)
            v_sig = self.norm.volts_per_dot(vr, cfg.direction, planes) * amp
            # full scale of a k-bit conversion is ~2 * gain * vdecr
            vd0 = v_sig / (2 * p.gain) / p.vdecr_lsb
            for f in vdecr_factors:
                vd = int(np.clip(round(vd0 * f), 1, 4095))
                c = cfg.replace(vread=vr, vdecr=vd)
                key = (core, tuple(rows), tuple(cols), cfg.direction)
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
                k = c.out_bits
                out_lines = slice(r0, r0 + nr) if cfg.direction == "BWD" else slice(c0, c0 + nc)
                mags = res.codes[:, 0, out_lines] & ((1 << (k - 1)) - 1) if k > 1 else np.zeros(1)
                clip = float(np.mean(mags == (1 << (k - 1)) - 1)) if k > 1 else 0.0
                grid.append((vr, vd, rmse))
                if best is None or rmse < best[2]:
                    best = (vr, vd, rmse, off, clip, gain)
        vr, vd, rmse, off, clip, gain = best
        key = (core, tuple(rows), tuple(cols), cfg.direction)
        if record_offsets or fit_gain:
            self.offsets[key] = (off, gain)
        return Calibration(vr, vd, off, gain, rmse, grid, clip)

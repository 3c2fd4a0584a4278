"""Gibbs sampling of the mapped RBM on the chip (through :mod:`.chip` only).

One Gibbs step on the same programmed cells, no transposed copy:

1. **visible -> hidden: backward (SL -> BL) MVM** on every core in parallel. The visible
   values are 3-bit magnitudes driven differentially on each column pair (sign-magnitude
   SL inputs ``+x`` / ``-x``, bias columns at 7), so one BL neuron per hidden unit and core
   integrates the signed partial sum. The controller's stochastic mode is on: after the
   input integration every neuron integrates ``noise_steps`` LFSR pulses of
   ``±(Cs/Cint) VNOISE`` (two counter-propagating LFSR chains, one bit per neuron per
   step), then converts. On one core the sign of that conversion is the sample; with the
   visible units spread over several cores the host adds the cores' calibrated noisy
   partial results and takes the sign: ``h = [sum of noisy partials > 0]``. The only
   randomness is the chip's (LFSR noise plus the analog noise of the model); the LFSR sum
   of ``N`` steps is binomial, so ``P(h = 1)`` is a probit of the pre-activation, matched
   to the logistic by choosing VNOISE so the total noise is 1.702 pre-activation units
   (``sigmoid(x) ~ Phi(x / 1.702)``).
2. **hidden -> visible: forward (BL -> SL) MVM** on the same cells, binary hidden states as
   1-bit BL inputs, bias rows at 1; the two SL neurons of a column pair convert and the
   host subtracts. ``visible_mode="3bit"``: deterministic conversion, the host applies the
   logistic and rounds to the 3-bit input of the next backward MVM (the authors' 3-bit
   visible units); ``"stochastic"``: LFSR noise on, ``v = [noisy > 0]``.
3. known pixels and the label are reset (clamped).

Calibration (the paper's model-driven calibration): Vread and Vdecr per direction from the
distribution of the normalised dot products on training data (99.9th percentile plus the
noise inside a fraction of the integrator headroom), then a per-output affine fit
``v_int = alpha * sum_i x_i G_meas + beta`` on calibration vectors (the paper's
``(out - intercept) / slope``), with the conductances read back after programming.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from analog_models.config import code_value
from analog_models.normalisation import plane_gain
from rtl.contract.constants import N_LINES
from rtl.contract.registers import Act as Activation
from rtl.contract.registers import Dir as Direction
from rtl.contract.registers import Mode

from . import chip as chipmod
from .mapping import Mapping
from .model import PROBIT_SCALE, VISIBLE_LEVELS, Corrupted, clamp, initial_visible, quantise_visible, sigmoid

log = logging.getLogger(__name__)

VISIBLE_MODES = ("3bit", "stochastic")


def _int_in(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


@dataclass
class OperatingPoint:
    """Conversion and noise settings; VREAD/VDECR/VNOISE are found by :meth:`ChipRBM.calibrate`
    unless given (DAC codes)."""

    hidden_out_bits: int = 6
    visible_out_bits: int = 6
    hidden_noise_steps: int = 16
    visible_noise_steps: int = 16
    vnoise_hidden: int | None = None     #: VNOISE DAC code (1 mV each, 8 bits)
    vnoise_visible: int | None = None
    target_noise: float = PROBIT_SCALE   #: total sampling noise, pre-activation units
    headroom_fraction: float = 0.8
    calib_vectors: int = 256
    wl_ns: int = 10
    #: forward input bits: a hidden state h drives every bit-plane (value h (2^k - 1)), so
    #: the SL neurons integrate 2^k - 1 samples of the same line: signal grows k-fold
    #: faster than the per-sample analog noise, within the integrator headroom
    forward_in_bits: int = 2

    def validate(self) -> "OperatingPoint":
        _int_in("hidden_out_bits", self.hidden_out_bits, 2, 10)
        _int_in("visible_out_bits", self.visible_out_bits, 2, 10)
        _int_in("hidden_noise_steps", self.hidden_noise_steps, 1, 255)
        _int_in("visible_noise_steps", self.visible_noise_steps, 1, 255)
        for name in ("vnoise_hidden", "vnoise_visible"):
            v = getattr(self, name)
            if v is not None:
                _int_in(f"{name} (VNOISE DAC code)", v, 0, 255)
        if not 0 < float(self.target_noise) < 100:
            raise ValueError(f"target_noise must be in (0, 100) pre-activation units, got {self.target_noise!r}")
        if not 0 < float(self.headroom_fraction) <= 1:
            raise ValueError(f"headroom_fraction must be in (0, 1], got {self.headroom_fraction!r}")
        _int_in("calib_vectors", self.calib_vectors, 8, 100000)
        _int_in("wl_ns", self.wl_ns, 1, 10)
        _int_in("forward_in_bits", self.forward_in_bits, 1, 4)
        return self


@dataclass
class DirectionCal:
    """Operating point and per-output calibration of one MVM direction."""

    vread: int
    vdecr: int
    vnoise: int
    noise_steps: int
    out_bits: int
    alpha: list          # per core (256,) V per µS·input-unit
    beta: list           # per core (256,) V
    intrinsic_v: float   # random analog noise per output (V), measured
    noise_total: float   # median total sampling noise, pre-activation units (design)

    def summary(self) -> dict:
        return {"vread_code": self.vread, "vdecr_code": self.vdecr, "vnoise_code": self.vnoise,
                "vnoise_mV": self.vnoise * 1.0, "noise_steps": self.noise_steps,
                "out_bits": self.out_bits, "intrinsic_noise_mV": 1e3 * self.intrinsic_v,
                "design_noise_preact": self.noise_total}


def _fit_affine(ideal: np.ndarray, v: np.ndarray):
    """Per column least squares ``v = alpha * ideal + beta``."""
    xm, vm = ideal.mean(0), v.mean(0)
    dx = ideal - xm
    var = (dx * dx).sum(0)
    alpha = np.where(var > 0, (dx * (v - vm)).sum(0) / np.where(var > 0, var, 1), 0.0)
    return alpha, vm - alpha * xm


class ChipRBM:
    """The mapped RBM on a chip backend.

    Parameters
    ----------
    mapping : Mapping
    backend : chip backend (see :mod:`.chip`) with at least ``mapping.n_cores`` cores
    op : OperatingPoint
    lfsr_seed : int
        Seeds the LFSR loads (one per core per batch); changing it changes only the noise bits.
    visible_mode : ``"3bit"`` or ``"stochastic"``
    """

    def __init__(self, mapping: Mapping, backend, op: OperatingPoint | None = None,
                 lfsr_seed: int = 1, visible_mode: str = "3bit"):
        self.op = (op or OperatingPoint()).validate()
        if visible_mode not in VISIBLE_MODES:
            raise ValueError(f"visible_mode must be one of {VISIBLE_MODES}, got {visible_mode!r}")
        if backend.n_cores < mapping.n_cores:
            raise ValueError(f"the mapping needs {mapping.n_cores} cores, backend has {backend.n_cores}")
        _int_in("lfsr_seed", lfsr_seed, 0, 2**31 - 1)
        from firmware.midlevel import Normaliser

        self.m = mapping
        self.backend = backend
        self.p = backend.params
        self.norm = Normaliser(self.p)
        self.visible_mode = visible_mode
        self.lfsr_seed = int(lfsr_seed)
        self._batches = 0
        self.g_meas: dict[int, np.ndarray] = {}
        self.cal: dict[str, DirectionCal] = {}
        self.program_report: list[dict] = []

    # ------------------------------------------------------------------ programming
    def program(self, method: str = "write-verify", progress: bool = True) -> list[dict]:
        if method not in ("write-verify", "backdoor"):
            raise ValueError(f"method must be 'write-verify' or 'backdoor', got {method!r}")
        from firmware.progress import progress as bar

        self.program_report = []
        for b in bar(self.m.blocks, desc="program cores", unit="core", enabled=progress, min_items=2):
            g = self.m.conductance(b)
            if method == "backdoor":
                self.backend.backdoor_load(b.core, g)
                rep = {"cells": int(g.size), "method": "backdoor"}
            else:
                rep = self.backend.program(b.core, g)
            rep["core"] = b.core
            self.program_report.append(rep)
            # the host works with what it reads back after the cells relaxed
            self.g_meas[b.core] = self.backend.read_conductance(b.core)
        return self.program_report

    # ------------------------------------------------------------------ plumbing
    def _seeds(self) -> list[tuple[int, int]]:
        ss = np.random.SeedSequence([self.lfsr_seed, self._batches])
        self._batches += 1
        words = ss.generate_state(2 * len(self.m.blocks), dtype=np.uint32) & 0xFFFF
        words[words == 0] = 1           # a zero seed would lock the LFSR
        return [(int(words[2 * i]), int(words[2 * i + 1])) for i in range(len(self.m.blocks))]

    def bwd_entries(self, x_codes: np.ndarray) -> list[np.ndarray]:
        """Signed SL input values of every core for 3-bit visible codes (B, n_visible):
        ``+x`` on the G+ column, ``-x`` on the G- column of each pair."""
        out = []
        for b in self.m.blocks:
            e = np.zeros((x_codes.shape[0], N_LINES), np.int64)
            k = len(b.visible)
            e[:, 0:2 * k:2] = x_codes[:, b.visible]
            e[:, 2 * k:2 * b.n_cols:2] = VISIBLE_LEVELS
            e[:, 1:2 * b.n_cols:2] = -e[:, 0:2 * b.n_cols:2]
            out.append(e)
        return out

    def fwd_entries(self, h: np.ndarray) -> list[np.ndarray]:
        """BL input values (binary hidden states, bias rows at 1)."""
        nh = self.m.n_hidden
        level = self._fwd_level
        out = []
        for b in self.m.blocks:
            e = np.zeros((h.shape[0], N_LINES), np.int64)
            e[:, :nh] = level * np.asarray(h, np.int64)
            e[:, nh:b.n_rows] = level
            out.append(e)
        return out

    @property
    def _fwd_level(self) -> int:
        return (1 << self.op.forward_in_bits) - 1

    def config(self, direction: str, *, vread: int, vdecr: int, out_bits: int,
               noise_steps: int = 0, vnoise: int = 0, neuron_test: bool = False):
        bwd = direction == "BWD"
        n_rows = max(b.n_rows for b in self.m.blocks)
        return chipmod.config(
            mode=int(Mode.NEURON_TEST if neuron_test else Mode.MVM),
            dir=int(Direction.BWD if bwd else Direction.FWD), act=int(Activation.NONE),
            in_bits=4 if bwd else self.op.forward_in_bits, in_signed=int(bwd), diff_in=0,
            n_rows=N_LINES if bwd else n_rows, out_bits=int(out_bits),
            vread=int(vread), vdecr=int(vdecr), wl_ns=int(self.op.wl_ns),
            stoch=int(noise_steps > 0), noise_steps=int(noise_steps), vnoise=int(vnoise))

    def run(self, direction: str, entries: list[np.ndarray], cfg) -> list[np.ndarray]:
        """One parallel MVM over the mapping's cores; returns integrator volts (B, 256) per core."""
        seeds = self._seeds()
        jobs = [(b.core, e, *s) for b, e, s in zip(self.m.blocks, entries, seeds)]
        codes = self.backend.mvm(jobs, cfg)
        return [self.norm.code_to_volts(c, cfg.out_bits, cfg.vdecr) for c in codes]

    def _ideal(self, direction: str, entries: list[np.ndarray]) -> list[np.ndarray]:
        """sum_i x_i G_meas per output line (µS x input units), line order."""
        nr = max(b.n_rows for b in self.m.blocks)
        out = []
        for b, e in zip(self.m.blocks, entries):
            g = self.g_meas[b.core]
            out.append(e.astype(float) @ g.T if direction == "BWD" else e[:, :nr].astype(float) @ g[:nr])
        return out

    def _denoms(self, direction: str) -> list[np.ndarray]:
        nr = max(b.n_rows for b in self.m.blocks)
        return [self.g_meas[b.core].sum(1) if direction == "BWD" else self.g_meas[b.core][:nr].sum(0)
                for b in self.m.blocks]

    def _outputs(self, direction: str, b) -> np.ndarray:
        return (np.arange(self.m.n_hidden) if direction == "BWD"
                else np.arange(2 * len(b.visible)))

    # ------------------------------------------------------------------ calibration
    def _preact_per_volt(self, direction: str, alpha: list) -> np.ndarray:
        """(units,) sqrt(sum over contributing neurons of (preact per volt)^2)."""
        k = self.m.wmax / (self.m.gmax - self.m.gmin)
        nh = self.m.n_hidden
        if direction == "BWD":
            acc = np.zeros(nh)
            for a in alpha:
                acc += (k / VISIBLE_LEVELS / np.where(a[:nh] != 0, np.abs(a[:nh]), np.inf)) ** 2
            return np.sqrt(acc)
        out = []
        for b, a in zip(self.m.blocks, alpha):
            av = a[:2 * len(b.visible)]
            r = k / self._fwd_level / np.where(av != 0, np.abs(av), np.inf)
            out.append(np.sqrt(r[0::2] ** 2 + r[1::2] ** 2))
        return np.concatenate(out)

    def _calibrate_direction(self, direction: str, entries: list[np.ndarray]) -> DirectionCal:
        p, op = self.p, self.op
        bwd = direction == "BWD"
        out_bits = op.hidden_out_bits if bwd else op.visible_out_bits
        steps = op.hidden_noise_steps if bwd else op.visible_noise_steps
        fixed_vnoise = op.vnoise_hidden if bwd else op.vnoise_visible
        n_planes = 3 if bwd else self.op.forward_in_bits
        c = p.gain * plane_gain(p, n_planes, p.c_bl if bwd else p.c_sl)
        ideal = self._ideal(direction, entries)
        denom = self._denoms(direction)
        ratios = np.concatenate([np.abs(i[:, self._outputs(direction, b)]) / d[self._outputs(direction, b)]
                                 for i, d, b in zip(ideal, denom, self.m.blocks)], axis=1)
        r999 = float(np.percentile(ratios, 99.9))
        # design noise per neuron (volts per unit of vread): the alpha of a neuron is
        # about c vread / D; the noise that gives target_noise in pre-activation units
        k = self.m.wmax / (self.m.gmax - self.m.gmin)
        a_design = [np.full(N_LINES, 0.0) for _ in self.m.blocks]
        for a, d in zip(a_design, denom):
            a[:] = c / np.where(d > 0, d, np.inf)
        ppv = np.median(self._preact_per_volt(direction, a_design))   # per (V / V_read)
        sig_per_vread = op.target_noise / ppv
        margin = p.cmp_offset_sigma * 3
        vread_v = (op.headroom_fraction * p.integ_headroom - margin) / (c * r999 + 3 * sig_per_vread)
        vread = int(np.clip(np.floor(min(vread_v, p.vread_max) / p.vread_lsb), 1, 255))
        vr = p.vread_volts(vread)
        full = c * vr * r999 + 3 * sig_per_vread * vr + margin
        vdecr = int(np.clip(round(full / (2 * p.gain) / p.vdecr_lsb), 1, 4095))
        # per-output affine fit with the noise off; twice, to measure the random part
        cfg0 = self.config(direction, vread=vread, vdecr=vdecr, out_bits=out_bits)
        v1 = self.run(direction, entries, cfg0)
        v2 = self.run(direction, entries, cfg0)
        alpha, beta, diffs = [], [], []
        for b, i, x1, x2 in zip(self.m.blocks, ideal, v1, v2):
            a, be = _fit_affine(i, 0.5 * (x1 + x2))
            alpha.append(a)
            beta.append(be)
            o = self._outputs(direction, b)
            diffs.append(((x1 - x2)[:, o] / np.sqrt(2)).ravel())
        intrinsic = float(np.std(np.concatenate(diffs)))
        ppv_meas = self._preact_per_volt(direction, alpha)
        sig_v_total = op.target_noise / float(np.median(ppv_meas))
        sig_lfsr = np.sqrt(max(sig_v_total ** 2 - intrinsic ** 2, 0.0))
        if fixed_vnoise is None:
            vnoise_v = sig_lfsr / (p.gain * np.sqrt(steps))
            vnoise = int(round(vnoise_v / p.vnoise_lsb))
            if vnoise > 255:
                raise ValueError(f"the sampling noise needs VNOISE = {vnoise_v * 1e3:.1f} mV, beyond the "
                                 f"8-bit DAC's {255 * p.vnoise_lsb * 1e3:.0f} mV: raise "
                                 f"{'hidden' if bwd else 'visible'}_noise_steps (now {steps})")
        else:
            vnoise = int(fixed_vnoise)
        total = float(np.median(ppv_meas) * np.hypot(p.gain * vnoise * p.vnoise_lsb * np.sqrt(steps), intrinsic))
        log.info("%s: vread %d, vdecr %d, vnoise %d x %d steps, intrinsic %.2f mV, noise %.2f preact",
                 direction, vread, vdecr, vnoise, steps, intrinsic * 1e3, total)
        return DirectionCal(vread, vdecr, vnoise, steps, out_bits, alpha, beta, intrinsic, total)

    def calibrate(self, v_calib: np.ndarray, h_calib: np.ndarray) -> dict:
        """Choose the operating points on training data (visible values in [0, 1] with labels,
        and binary hidden states from the software RBM on the same images)."""
        n = self.op.calib_vectors
        x = quantise_visible(np.asarray(v_calib)[:n])
        h = np.asarray(h_calib)[:n].astype(np.int64)
        if x.shape[1] != self.m.n_visible or h.shape[1] != self.m.n_hidden:
            raise ValueError(f"calibration data must have {self.m.n_visible} visible and "
                             f"{self.m.n_hidden} hidden units, got {x.shape[1]} and {h.shape[1]}")
        self.cal["BWD"] = self._calibrate_direction("BWD", self.bwd_entries(x))
        self.cal["FWD"] = self._calibrate_direction("FWD", self.fwd_entries(h))
        return {k: v.summary() for k, v in self.cal.items()}

    def assume_operating_point(self, direction: str, *, vread: int, vdecr: int, vnoise: int,
                               noise_steps: int, out_bits: int) -> DirectionCal:
        """Use given DAC codes with the analytic decode ``alpha = (Cs/Cint) c Vread / D``,
        ``beta = 0`` (no calibration MVMs; for short runs such as the cosimulation)."""
        if direction not in ("BWD", "FWD"):
            raise ValueError(f"direction must be 'BWD' or 'FWD', got {direction!r}")
        _int_in("vread", vread, 1, 255)
        _int_in("vdecr", vdecr, 1, 4095)
        _int_in("vnoise (VNOISE DAC code)", vnoise, 0, 255)
        _int_in("noise_steps", noise_steps, 1, 255)
        _int_in("out_bits", out_bits, 2, 10)
        bwd = direction == "BWD"
        c = self.p.gain * plane_gain(self.p, 3 if bwd else self.op.forward_in_bits,
                                     self.p.c_bl if bwd else self.p.c_sl)
        alpha = [c * self.p.vread_volts(vread) / np.where(d > 0, d, np.inf) for d in self._denoms(direction)]
        beta = [np.zeros(N_LINES) for _ in alpha]
        ppv = float(np.median(self._preact_per_volt(direction, alpha)))
        total = ppv * self.p.gain * vnoise * self.p.vnoise_lsb * np.sqrt(noise_steps)
        self.cal[direction] = DirectionCal(vread, vdecr, vnoise, noise_steps, out_bits, alpha, beta, 0.0, total)
        return self.cal[direction]

    def _cfg(self, direction: str, noise: bool):
        c = self.cal[direction]
        return self.config(direction, vread=c.vread, vdecr=c.vdecr, out_bits=c.out_bits,
                           noise_steps=c.noise_steps if noise else 0, vnoise=c.vnoise if noise else 0)

    # ------------------------------------------------------------------ the two half-steps
    def hidden_preact(self, x_codes: np.ndarray, noise: bool = True) -> np.ndarray:
        """Backward MVM -> (noisy) hidden pre-activations in weight units, (B, n_hidden)."""
        if "BWD" not in self.cal:
            raise RuntimeError("calibrate() first")
        v = self.run("BWD", self.bwd_entries(x_codes), self._cfg("BWD", noise))
        cal = self.cal["BWD"]
        k = self.m.wmax / (self.m.gmax - self.m.gmin) / VISIBLE_LEVELS
        nh = self.m.n_hidden
        acc = np.zeros((x_codes.shape[0], nh))
        for vi, a, be in zip(v, cal.alpha, cal.beta):
            acc += k * (vi[:, :nh] - be[:nh]) / np.where(a[:nh] != 0, a[:nh], np.inf)
        return acc

    def visible_preact(self, h: np.ndarray, noise: bool) -> np.ndarray:
        """Forward MVM -> visible pre-activations in weight units, (B, n_visible)."""
        if "FWD" not in self.cal:
            raise RuntimeError("calibrate() first")
        v = self.run("FWD", self.fwd_entries(h), self._cfg("FWD", noise))
        cal = self.cal["FWD"]
        k = self.m.wmax / (self.m.gmax - self.m.gmin) / self._fwd_level
        out = np.zeros((h.shape[0], self.m.n_visible))
        for b, vi, a, be in zip(self.m.blocks, v, cal.alpha, cal.beta):
            o = np.arange(2 * len(b.visible))
            dot = (vi[:, o] - be[o]) / np.where(a[o] != 0, a[o], np.inf)
            out[:, b.visible] = k * (dot[:, 0::2] - dot[:, 1::2])
        return out

    def sample_hidden(self, x_codes: np.ndarray) -> np.ndarray:
        return (self.hidden_preact(x_codes, noise=True) > 0).astype(np.int64)

    def sample_visible(self, h: np.ndarray) -> np.ndarray:
        if self.visible_mode == "stochastic":
            return (self.visible_preact(h, noise=True) > 0).astype(np.float32)
        return quantise_visible(sigmoid(self.visible_preact(h, noise=False))) / VISIBLE_LEVELS

    def recover(self, c: Corrupted, steps: int = 10, progress: bool = False,
                keep_hidden: bool = False) -> dict:
        """Gibbs recovery on the chip; ``hist[t]`` the pixels after step t (0 = start)."""
        from firmware.progress import progress as bar

        _int_in("steps", steps, 1, 1000)
        n = c.original.shape[1]
        if n + 10 != self.m.n_visible:
            raise ValueError(f"images must have {self.m.n_visible - 10} pixels, got {n}")
        v = initial_visible(c)
        hist, hidden = [v[:, :n].copy()], []
        for _ in bar(range(steps), desc=f"gibbs on chip ({c.kind})", enabled=progress, min_items=1, unit="step"):
            h = self.sample_hidden(quantise_visible(v))
            if keep_hidden:
                hidden.append(h)
            v = clamp(self.sample_visible(h).astype(np.float32), c)
            hist.append(v[:, :n].copy())
        return {"hist": hist, "hidden": hidden}

    def summary(self) -> dict:
        return {"visible_mode": self.visible_mode, "lfsr_seed": self.lfsr_seed,
                "operating_point": asdict(self.op),
                "directions": {k: v.summary() for k, v in self.cal.items()}}

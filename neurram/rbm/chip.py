"""The RBM's only access to the chip.

:class:`MidLevelBackend` adapts any :class:`firmware.midlevel.MidLevel` to the four calls
the sampler needs:

* ``program(core, targets)`` — write-verify a core's 256 x 256 conductances (or
  ``backdoor_load`` in simulation);
* ``read_conductance(core)`` — the host's knowledge of the cells (board-ADC reads after
  the cells relaxed);
* ``mvm(jobs, cfg)`` — one batched MVM on several cores at once; ``jobs`` are
  ``(core, inputs (B, 256), seed_a, seed_b)`` with the integer input of every line of
  the driven side (signed when ``cfg.in_signed``), the seeds loaded into the core's LFSR
  (``CMD.lfsr_load``) right before its batch, ``cfg`` an
  :class:`analog_models.CoreConfig` describing the controller registers;
* ``neuron_test(core, entries, cfg, seeds)`` — the same in neuron-test mode (simulation
  backends only: the mid level has no neuron-test call).

The same adapter runs on the batched multi-core backend (:func:`fast_backend`,
:class:`firmware.fastchip.FastChip`, what the full RBM uses), on the frame-level golden
chip and on the cocotb cosimulation (``MidLevel(Chip(transport))``), which is how the
cosimulation test compares their codes.
"""

from __future__ import annotations

import logging

import numpy as np

from analog_models import CoreConfig
from analog_models.params import AnalogParams
from rtl.contract.constants import N_LINES
from rtl.contract.registers import Act as Activation
from rtl.contract.registers import Dir as Direction
from rtl.contract.registers import Mode

log = logging.getLogger(__name__)


def config(**fields) -> CoreConfig:
    """A controller configuration (:class:`analog_models.CoreConfig` fields)."""
    return CoreConfig(**fields)


class MidLevelBackend:
    """The sampler's chip interface over a :class:`firmware.midlevel.MidLevel`.

    Parameters
    ----------
    mid : MidLevel (``FastChip`` or ``MidLevel(Chip(transport))``)
    params : AnalogParams
        What the host assumes for normalisation (the mid level's).
    passes : int
        Write-verify passes (1: one pass then relaxation, the chip's ~10 % of gmax error).
    shared_rails : bool
        Let the cores of a parallel MVM share their read rails (the driver-drop model of
        ``AnalogParams.n_parallel_cores``) on backends that expose their core models;
        the mid level itself models every core alone.
    """

    def __init__(self, mid, params: AnalogParams | None = None, *, passes: int = 1,
                 gmin: float = 1.0, gmax: float = 30.0, shared_rails: bool = True):
        from firmware.midlevel import MidLevel, WriteVerifyConfig

        if not isinstance(mid, MidLevel):
            raise TypeError(f"mid must be a firmware.midlevel.MidLevel, got {type(mid).__name__}")
        self.mid = mid
        self.params = params if params is not None else mid.norm.p
        self.n_cores = mid.n_cores
        self.wv = WriteVerifyConfig(passes=passes, gmin=gmin, gmax=gmax).validate()
        self.shared_rails = bool(shared_rails)
        self.mvm_count = 0

    # ------------------------------------------------------------------ programming
    def program(self, core: int, targets_uS: np.ndarray) -> dict:
        rep = self.mid.program_matrix(core, np.asarray(targets_uS, float), wv=self.wv)
        s = rep.summary()
        err = rep.final - rep.target
        s.update({"rms_error_uS": float(np.sqrt(np.mean(err ** 2))),
                  "rms_error_of_span": float(np.sqrt(np.mean(err ** 2)) / (self.wv.gmax - self.wv.gmin))})
        return s

    def backdoor_load(self, core: int, g_uS: np.ndarray) -> None:
        self.mid.backdoor_load_matrix(core, np.asarray(g_uS, float))

    def read_conductance(self, core: int) -> np.ndarray:
        """Every cell as the host knows it; unknown cells are read through the board ADC."""
        allc = np.arange(N_LINES)
        return np.array(self.mid.measure(core, allc, allc, only_unknown=True), float)

    # ------------------------------------------------------------------ MVM
    def _seed(self, core: int, a: int, b: int) -> None:
        seed = getattr(self.mid, "seed_lfsr", None) or self.mid.chip.seed_lfsr
        seed(core, a, b)

    def mvm(self, jobs, cfg) -> list[np.ndarray]:
        from firmware.midlevel import MvmConfig

        bwd = int(cfg.dir) == int(Direction.BWD)
        mc = MvmConfig(in_bits=int(cfg.in_bits), out_bits=int(cfg.out_bits), signed=bool(cfg.in_signed),
                       direction="BWD" if bwd else "FWD", diff=bool(cfg.diff_in) and not bwd,
                       two_phase=False, act=Activation(int(cfg.act)).name, vread=int(cfg.vread),
                       vdecr=int(cfg.vdecr), wl_ns=int(cfg.wl_ns),
                       noise_steps=int(cfg.noise_steps) if cfg.stoch else 0,
                       vnoise=int(cfg.vnoise) if cfg.stoch else 0).validate()
        n_rows = int(cfg.n_rows)
        mj = []
        for core, x, sa, sb in jobs:
            x = np.asarray(x)
            self._seed(core, int(sa), int(sb))
            if bwd:
                mj.append((core, x, mc, (0, N_LINES), (0, N_LINES)))
            else:
                step = 2 if mc.diff else 1
                mj.append((core, x[:, 0:n_rows:step], mc, (0, n_rows), (0, N_LINES)))
            self.mvm_count += x.shape[0]
        self._share_rails(len(jobs))
        res = self.mid.mvm_parallel(mj, desc=None) if len(mj) > 1 else \
            [self.mid.mvm(mj[0][0], mj[0][1], mc, rows=mj[0][3], cols=mj[0][4], desc=None)]
        return [r.codes[:, 0] for r in res]

    def _share_rails(self, n: int) -> None:
        models = getattr(self.mid, "models", None)
        if not self.shared_rails or models is None:
            return
        for m in models:
            if m.parallel_cores != n:
                m.parallel_cores = n

    def neuron_test(self, core: int, inputs: np.ndarray, cfg, seeds) -> np.ndarray:
        """Neuron-test MVM on a simulated core (its analog model, LFSR loaded with ``seeds``)."""
        from firmware.lowlevel import encode_inputs

        models = getattr(self.mid, "models", None)
        if models is None:
            raise NotImplementedError("neuron test needs a simulation backend with core models")
        c = config(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
                      "mode": int(Mode.NEURON_TEST), "seed_a": int(seeds[0]), "seed_b": int(seeds[1])})
        codes = encode_inputs(np.asarray(inputs), int(c.in_bits), bool(c.in_signed))
        return models[int(core)].mvm(codes, c)


def fast_backend(n_cores: int, params: AnalogParams | None = None, seed: int = 0,
                 **kw) -> MidLevelBackend:
    """The batched multi-core chip model (:class:`firmware.fastchip.FastChip`)."""
    from firmware.fastchip import FastChip

    return MidLevelBackend(FastChip(n_cores=n_cores, params=params, seed=seed), **kw)


def frame_backend(transport, params: AnalogParams | None = None, **kw) -> MidLevelBackend:
    """The frame-level path over a transport (golden model or cosimulation)."""
    from firmware.lowlevel import Chip
    from firmware.midlevel import MidLevel

    return MidLevelBackend(MidLevel(Chip(transport), params, progress=False), params, **kw)

"""The RBM's only access to the chip: a small backend interface and its implementation.

Everything the sampler needs from the hardware is four calls:

* :meth:`ChipBackend.program` — write-verify a core's 256 x 256 conductances;
* :meth:`ChipBackend.read_conductance` — board-ADC read of a core's cells;
* :meth:`ChipBackend.mvm` — one batched MVM (or neuron test) on several cores in
  parallel, with a controller configuration (:class:`analog_models.CoreConfig`) whose
  ``seed_a`` / ``seed_b`` are loaded into each core's LFSR right before the batch;
* :attr:`ChipBackend.params` — the analog constants the host normalises with.

:class:`ModelBackend` runs the analog model of every core vectorised
(:meth:`analog_models.CoreModel.mvm`, every non-ideality of ``params`` on), with the
cores made and seeded exactly as the golden model and the cosimulation make theirs
(:func:`cosim.golden.make_core_models`), so its output codes equal theirs bit for bit for
the same event sequence. A multi-core batched firmware backend can replace it by
implementing the same four members.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from analog_models import CoreConfig
from analog_models.device import write_verify
from analog_models.params import AnalogParams

log = logging.getLogger(__name__)


class ChipBackend:
    """Interface (documentation only: duck typing is enough)."""

    params: AnalogParams
    n_cores: int

    def program(self, core: int, targets_uS: np.ndarray) -> dict:  # pragma: no cover
        raise NotImplementedError

    def read_conductance(self, core: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def mvm(self, jobs: list[tuple[int, np.ndarray, int, int]], cfg) -> list[np.ndarray]:  # pragma: no cover
        raise NotImplementedError


class ModelBackend(ChipBackend):
    """Per-core :class:`analog_models.CoreModel`, batched.

    Parameters
    ----------
    n_cores : int
    params : AnalogParams, optional
        Every non-ideality on by default; ``gmax`` of the mapping is separate.
    seed : int
        Chip seed (fixed mismatch, device spread, analog noise streams), as in
        :class:`cosim.golden.GoldenChip`.
    """

    def __init__(self, n_cores: int, params: AnalogParams | None = None, seed: int = 0):
        from cosim.golden import make_core_models

        if not isinstance(n_cores, (int, np.integer)) or not 1 <= n_cores <= 48:
            raise ValueError(f"n_cores must be an integer in 1..48, got {n_cores!r}")
        self.params = params if params is not None else AnalogParams()
        self.n_cores = int(n_cores)
        self.cores = make_core_models(self.n_cores, self.params, seed)
        self.mvm_count = 0

    def _core(self, core: int):
        if not isinstance(core, (int, np.integer)) or not 0 <= core < self.n_cores:
            raise ValueError(f"core must be an integer in 0..{self.n_cores - 1}, got {core!r}")
        return self.cores[int(core)]

    def program(self, core: int, targets_uS: np.ndarray) -> dict:
        """Write-verify every cell (paper's settings), then let the cells relax."""
        m = self._core(core)
        t = np.clip(np.asarray(targets_uS, float), self.params.g_floor, self.params.g_ceil)
        r = write_verify(m.device, t)
        m._version += 1          # conductances changed: cached array plans are stale
        m.elapse()
        return {"cells": int(t.size), "mean_pulses": float(r["pulses"].mean()),
                "success_rate": float(r["success"].mean())}

    def backdoor_load(self, core: int, g_uS: np.ndarray) -> None:
        """Simulation only: set conductances without programming pulses."""
        self._core(core).G = np.asarray(g_uS, float)

    def read_conductance(self, core: int) -> np.ndarray:
        return np.asarray(self._core(core).device.read(), float)

    def mvm(self, jobs, cfg) -> list[np.ndarray]:
        """Run ``cfg`` on every ``(core, entries (B, 256), seed_a, seed_b)`` job at once.

        The cores share the read rails while they run together (driver drop).
        Returns the output codes of each job in the destination file's entry order.
        """
        cores = [int(j[0]) for j in jobs]
        if len(set(cores)) != len(cores):
            raise ValueError(f"each core runs one job at a time, got cores {cores}")
        out = []
        for core, x, sa, sb in jobs:
            m = self._core(core)
            if m.p.n_parallel_cores != len(jobs):
                m.parallel_cores = len(jobs)
            out.append(m.mvm(x, replace(cfg, seed_a=int(sa), seed_b=int(sb))))
            self.mvm_count += np.asarray(x).shape[0]
        return out


def config(**fields) -> CoreConfig:
    """A controller configuration (:class:`analog_models.CoreConfig` fields)."""
    return CoreConfig(**fields)

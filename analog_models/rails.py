"""Shared read rails: the drop that cores running at once cause on each other.

Every core's BL/SL drivers take the Vref+Vread and Vref-Vread levels from rails fed by
one set of bias sources (the board DACs and their buffers; one Vread for the whole chip,
Methods "multi-core parallel MVM"). During a WL pulse each running core draws its read
current through

* its own driver and core-local distribution, ``AnalogParams.r_driver`` (per core, the
  single-core model of :func:`analog_models.array.settle`), and
* the path it shares with the other cores: the source impedance of the bias buffers,
  package and bond wires (:attr:`RailNetwork.r_source`, common to every core), and the
  on-chip rail that runs from a pad past the cores of one branch
  (:attr:`RailNetwork.r_segment` per core pitch, :attr:`RailNetwork.cores_per_branch`
  cores per branch, core ``i`` at position ``i % cores_per_branch + 1`` of branch
  ``i // cores_per_branch``).

The drop on core ``c``'s rail is then ``r_driver * I_c + sum_j R_cj * I_j`` over the
running cores ``j``, where ``R_cj`` is the resistance the paths of ``c`` and ``j`` have in
common (``r_source``, plus ``r_segment`` per shared segment when both sit on the same
branch). So it grows with the number of cores running, with their weights, and differs
from core to core with the distance from the pad (one shared Vread cannot suit them all).

Currents of the other cores: each core's model settles its own pulses and knows its own
rail current exactly (its inputs and conductances); the other cores' currents *at the
same instant* are taken as this core's current scaled by the ratio of their conductance
loads (total conductance of the array, fixed for the whole parallel run), i.e. the other
cores run the same input activity as this one, with their own weights. This keeps every
core's result a function of its own events plus the group fixed at the start, so the
golden model (which runs the cores of a parallel start one after the other) and the
cosimulation (which runs them interleaved) compute identical values. The single-core
case is unchanged: a core running alone sees ``r_driver`` only, as before.

Parameter values (see docs/analog_models.md, table "Parameters"):

* ``r_source = 0.5 Ω``: what the rail looks like from the cores during a 1-10 ns pulse.
  The buffers' closed-loop output resistance is far lower at DC, but at the pulse's
  frequency content (~100 MHz) the impedance is set by the package and bond-wire
  inductance, ~1-2 nH per pin, a few pins in parallel: 2π·100 MHz·1 nH ≈ 0.6 Ω.
* ``r_segment = 0.2 Ω`` per core pitch: a thick top-metal rail (~15 mΩ/sq in a 130 nm
  process), ~50 µm wide, over a ~0.7 mm core pitch is ~14 squares.
* ``cores_per_branch = 8``: the 48 cores as six branches of eight, one pad each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rtl.contract.constants import N_CORES as N_CHIP_CORES


@dataclass(frozen=True)
class RailNetwork:
    """Resistances of the shared part of the read rails (Ω)."""

    r_source: float = 0.5
    r_segment: float = 0.2
    cores_per_branch: int = 8

    def __post_init__(self):
        for name in ("r_source", "r_segment"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{name} must be a non-negative number of ohms, got {v!r}")
        if (not isinstance(self.cores_per_branch, int) or isinstance(self.cores_per_branch, bool)
                or not 1 <= self.cores_per_branch <= N_CHIP_CORES):
            raise ValueError(f"cores_per_branch must be an int in 1..{N_CHIP_CORES}, "
                             f"got {self.cores_per_branch!r}")

    def position(self, core: int) -> tuple[int, int]:
        """(branch, position along it, 1 = next to the pad) of ``core``."""
        return core // self.cores_per_branch, core % self.cores_per_branch + 1

    def mutual(self, a: int, b: int) -> float:
        """Resistance (Ω) the paths of cores ``a`` and ``b`` to the source have in common."""
        (ba, pa), (bb, pb) = self.position(a), self.position(b)
        shared_segments = min(pa, pb) if ba == bb else 0
        return self.r_source + self.r_segment * shared_segments


class SharedRails:
    """The rails of one chip: which cores run together, and what each then sees.

    Parameters
    ----------
    models : list
        The cores' analog models (``CoreModel``); each gets a :class:`RailTap` as
        ``model.rails``.
    network : RailNetwork, optional
    """

    def __init__(self, models: list, network: RailNetwork | None = None):
        if network is not None and not isinstance(network, RailNetwork):
            raise TypeError(f"network must be a RailNetwork, not {network!r}")
        self.network = network or RailNetwork()
        self.models = list(models)
        self.group: tuple[int, ...] = ()
        self._extra: dict[int, float] = {}
        for i, m in enumerate(self.models):
            m.rails = RailTap(self, i)

    def start(self, cores: Iterable[int]) -> None:
        """Cores ``cores`` start running together (a parallel start, or one core alone).

        Their conductance loads are taken now and held for the run.
        """
        group = tuple(sorted({int(c) for c in cores}))
        bad = [c for c in group if not 0 <= c < len(self.models)]
        if bad:
            raise ValueError(f"cores {bad} are not on this chip ({len(self.models)} cores)")
        self.group = group
        self._extra = {}
        if len(group) < 2:
            return
        loads = {c: float(self.models[c].G.sum()) for c in group}
        for c in group:
            if loads[c] <= 0:
                self._extra[c] = 0.0
                continue
            self._extra[c] = sum(self.network.mutual(c, j) * loads[j] / loads[c]
                                 for j in group if j != c)

    def extra_resistance(self, core: int) -> float:
        """Ω added to ``core``'s own rail resistance by the other cores running with it."""
        return self._extra.get(core, 0.0)


class RailTap:
    """One core's view of the shared rails (``CoreModel.rails``)."""

    def __init__(self, rails: SharedRails, core: int):
        self.rails = rails
        self.core = core

    def resistance(self, p) -> float:
        """Total rail resistance (Ω) the core's drivers see now, for params ``p``."""
        extra = self.rails.extra_resistance(self.core)
        if extra:
            return p.r_driver + extra
        return p.r_driver * p.n_parallel_cores

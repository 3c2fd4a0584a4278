"""Access to a component's internal signals for assertions.

Amaranth 0.5 has no hierarchical references and no public handle on the signals an
``elaborate`` creates, nor on the FSMs of a :class:`~amaranth.hdl.Module`. This is the one
wrapper around that limitation: it elaborates the component itself while recording every
``Signal`` the component's module creates (by name), and returns the FSMs the module
generated (``Module._generated``, private; ``FSM.ongoing`` on them is public).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from types import ModuleType

from amaranth.hdl import Module, Signal


class Probes:
    """Signals created while a component elaborated: ``probes["name"]`` (unique names),
    ``probes.all("name")`` (every signal of that name, in creation order)."""

    def __init__(self):
        self._by_name: dict[str, list] = defaultdict(list)
        self.fsms: dict = {}

    def _add(self, sig):
        name = sig.name if isinstance(sig, Signal) else sig.as_value().name
        self._by_name[name].append(sig)

    def __getitem__(self, name):
        sigs = self._by_name.get(name, [])
        if len(sigs) != 1:
            raise KeyError(f"{len(sigs)} signals named {name!r} (expected one)")
        return sigs[0]

    def all(self, name):
        return list(self._by_name.get(name, []))


@contextlib.contextmanager
def recording(module: ModuleType, probes: Probes):
    """Record every ``Signal(...)`` that code of ``module`` creates inside the block."""
    original = module.Signal

    def recorded(*args, src_loc_at=0, **kwargs):
        # One more frame between the caller and Signal: keeps the inferred names.
        sig = original(*args, src_loc_at=src_loc_at + 1, **kwargs)
        probes._add(sig)
        return sig

    module.Signal = recorded
    try:
        yield probes
    finally:
        module.Signal = original


def elaborate(component, module: ModuleType, platform=None) -> tuple[Module, Probes]:
    """Elaborate ``component`` (defined in ``module``) and return its Module and probes.

    The returned Module is added to the harness as a submodule in place of the component.
    """
    probes = Probes()
    with recording(module, probes):
        m = component.elaborate(platform)
    if not isinstance(m, Module):
        raise TypeError(f"{component!r} did not elaborate to a Module")
    probes.fsms = dict(m._generated)
    # The component object itself is never handed to Amaranth (its Module is): mark it
    # used, or Amaranth warns that an elaboratable was created and never used.
    component._MustUse__used = True
    return m, probes

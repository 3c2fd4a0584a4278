"""Mutants: one rule of a design changed while it is elaborated.

A mutant is a context manager; the proofs in this package list theirs (``Proof.mutants``).
Most blocks keep their rules in local signals of ``elaborate``, so the usual mutant changes
the width of one named signal (a classic width bug: a counter too short, a one-hot vector
missing its top line); others patch a module-level constant the block reads.
"""

from __future__ import annotations

import contextlib
from types import ModuleType

from amaranth.hdl import Signal


@contextlib.contextmanager
def resized(module: ModuleType, name: str, width: int):
    """Signals named ``name`` created by ``module`` get ``width`` bits (init truncated)."""
    original = module.Signal
    hits = []

    def wrapper(*args, src_loc_at=0, **kwargs):
        sig = original(*args, src_loc_at=src_loc_at + 1, **kwargs)
        if isinstance(sig, Signal) and sig.name == name:
            hits.append(sig)
            init = int(kwargs.get("init", 0) or 0) & ((1 << width) - 1)
            sig = original(width, name=name, init=init)
        return sig

    module.Signal = wrapper
    try:
        yield
    finally:
        module.Signal = original
    if not hits:
        raise LookupError(f"no signal {name!r} was created in {module.__name__}")


@contextlib.contextmanager
def patched(obj, attr: str, value):
    """``obj.attr = value`` inside the block."""
    saved = getattr(obj, attr)
    setattr(obj, attr, value)
    try:
        yield
    finally:
        setattr(obj, attr, saved)

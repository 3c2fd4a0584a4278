"""Immediate reads and writes of simulator signals, below cocotb's public value API.

Why not ``handle.value``: in cocotb 2.1 a read through the public API builds a
``LogicArray`` (or ``Logic``) object per access and a write through ``handle.value = ...``
is scheduled for the next ReadWrite phase. The harness reads a few narrow counters and one
wide ring buffer at every wake-up and must write the comparator answer and the event-log
read pointer *now*, in the time step of the event (docs/cosim.md, "where a transaction's
time goes"); cocotb has no public immediate access. These functions are the one place
that uses the GPI handle underneath a cocotb handle (``handle._handle``, the object cocotb
itself calls), so a cocotb upgrade that renames it is fixed here.
"""

from __future__ import annotations

__all__ = ["read_binstr", "read_int", "write_binstr_now", "write_int_now"]


def _gpi(handle):
    return handle._handle


def read_int(handle) -> int:
    """The signal's value as a non-negative int (X/Z bits read as 0)."""
    return int(_gpi(handle).get_signal_val_long())


def read_binstr(handle) -> str:
    """The signal's value as a '0'/'1' string, MSB first."""
    return _gpi(handle).get_signal_val_binstr()


def write_int_now(handle, value: int) -> None:
    """Deposit ``value`` at once (no scheduling)."""
    _gpi(handle).set_signal_val_int(0, int(value))


def write_binstr_now(handle, bits: str) -> None:
    """Deposit a '0'/'1' string (MSB first) at once."""
    _gpi(handle).set_signal_val_binstr(0, bits)

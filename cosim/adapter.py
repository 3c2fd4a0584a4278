"""The analog adapter: the RTL's analog bus answered by the analog models.

One :class:`AnalogAdapter` per core. It wakes Python only when ``ev_seq`` changes (one
wake-up per analog event, plus one on the fall of each WL pulse to measure its width in
simulation time), decodes the bus into an :class:`rtl.analog_bus.AnalogEvent` reading
**only** the fields ``FIELDS_BY_KIND`` lists for that kind, hands it to the core's analog
model (``CoreModel.handle``) and, for a COMPARE, drives the 256 comparator outputs back.
It never looks at the register files: if the RTL sequenced an MVM wrongly, the analog
model integrates the wrong charges and the result comes out wrong.
"""

from __future__ import annotations

import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from rtl.analog_bus import FIELDS_BY_KIND, N_LINES, AnalogEvent, EventKind, ProgOp

_SCALAR_FIELDS = ("mode", "vread", "vdecr", "decr_mode", "vnoise", "prog_op", "prog_amp")
_BOOL_FIELDS = ("bl_sel", "sl_sel", "power_down")


def binstr(handle) -> str:
    """The signal's value as a '0'/'1' string, MSB first (no LogicArray round trip)."""
    h = getattr(handle, "_handle", None)
    if h is not None and hasattr(h, "get_signal_val_binstr"):
        return h.get_signal_val_binstr()
    return str(handle.value)


def bits_lsb_first(s: str) -> np.ndarray:
    """'0'/'1' string (MSB first) -> uint8 array, bit 0 first. X/Z read as 0."""
    a = np.frombuffer(s.encode("ascii"), dtype=np.uint8)[::-1]
    return (a == ord("1")).astype(np.uint8)


def levels(s: str) -> np.ndarray:
    """Flattened ``ArrayLayout(3, 256)`` -> per-line level codes (line i at bits 3i+2:3i)."""
    b = bits_lsb_first(s).reshape(N_LINES, 3)
    return (b[:, 0] | (b[:, 1] << 1) | (b[:, 2] << 2)).astype(np.uint8)


def pack_bits(bits: np.ndarray) -> int:
    """bool/uint8 array (index 0 = bit 0) -> int."""
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes(),
                          "little")


def analog_prefix(dut_or_ports, core: int, n_cores: int) -> str:
    """Port-name prefix of core ``core``'s analog bus (``analog__`` or ``analog__<i>__``)."""
    names = dut_or_ports if isinstance(dut_or_ports, (set, list, tuple)) else None
    indexed = f"analog__{core}__ev_seq"
    if names is not None:
        return f"analog__{core}__" if indexed in names else "analog__"
    return f"analog__{core}__" if hasattr(dut_or_ports, indexed) else "analog__"


class AnalogAdapter:
    """Decode one core's analog bus into events for ``model`` and drive ``cmp`` back.

    Parameters
    ----------
    dut : cocotb handle of ``tb_top``
    prefix : str
        Port-name prefix of this core's analog bus.
    model : object with ``handle(AnalogEvent)``
        The core's analog model (``analog_models.CoreModel``).
    wakes : cosim.spi.WakeCounter
        Shared wake-up counter.
    board : cosim.board.Board, optional
        Receives the ADC reading answered to a READ pulse's ``PROG_END``.
    core : int
    record : bool
        Keep every decoded event in :attr:`events` (scoreboarding against the golden model).
    """

    def __init__(self, dut, prefix: str, model, wakes, board=None, core: int = 0, record: bool = False):
        self.dut = dut
        self.prefix = prefix
        self.model = model
        self.wakes = wakes
        self.board = board
        self.core = core
        self.record = record
        self.events: list[AnalogEvent] = []
        self.n_events = 0
        self.errors: list[str] = []
        self.wl_widths_ns: list[float] = []
        self._sig = {}
        for name in ("ev_seq", "ev_kind", "wl_pulse", "prog_pulse", "cmp", "bl_drv", "sl_drv", "wl_en",
                     "noise", *_SCALAR_FIELDS, *_BOOL_FIELDS):
            self._sig[name] = getattr(dut, prefix + name)
        self._seq = None
        self._prog_t0 = None
        self._prog_op = None
        self._task = None

    def _read(self, name: str):
        h = self._sig[name]
        if name in ("bl_drv", "sl_drv"):
            return levels(binstr(h))
        if name in ("wl_en", "noise"):
            return bits_lsb_first(binstr(h)).astype(bool)
        s = binstr(h)
        v = int(s.replace("x", "0").replace("X", "0").replace("z", "0").replace("Z", "0"), 2)
        return bool(v) if name in _BOOL_FIELDS else v

    def decode(self, kind: EventKind) -> AnalogEvent:
        ev = AnalogEvent(kind)
        for name in FIELDS_BY_KIND.get(kind, ()):
            if name == "width_ns":
                continue
            setattr(ev, name, self._read(name))
        return ev

    def _seq_now(self) -> int | None:
        s = binstr(self._sig["ev_seq"]).lower()
        return None if ("x" in s or "z" in s) else int(s, 2)

    def resync(self) -> None:
        """Forget the event count (after a chip reset the counter restarts)."""
        self._seq = self._seq_now() or 0

    def start(self):
        import cocotb

        self.resync()
        self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self):
        seq_h = self._sig["ev_seq"]
        while True:
            seq = self._seq_now()
            if seq is None or seq == self._seq:
                # The usual path. (After a WL-pulse width measurement the next event
                # may already be on the bus: it coincides with the fall of a 10 ns
                # pulse, so the loop checks before waiting.)
                await seq_h.value_change
                self.wakes.n += 1
                continue
            step = (seq - self._seq) % 256
            self._seq = seq
            kind = int(binstr(self._sig["ev_kind"]), 2)
            if kind == EventKind.NONE:
                continue   # counter cleared by a reset: not an event
            if step != 1:
                # Two events in one wake-up would break the contract (one increment per
                # event, events >= 1 cycle apart): record it, never guess.
                self.errors.append(f"core {self.core}: ev_seq stepped by {step} to {seq}")
            await self._event(EventKind(kind))

    async def _event(self, kind: EventKind):
        ev = self.decode(kind)
        now_ps = get_sim_time("ps")
        if kind == EventKind.WL_PULSE:
            wl = self._sig["wl_pulse"]
            if str(wl.value) != "1":
                await RisingEdge(wl)
                self.wakes.n += 1
                now_ps = get_sim_time("ps")
            await FallingEdge(wl)
            self.wakes.n += 1
            ev.width_ns = (get_sim_time("ps") - now_ps) / 1000.0
            self.wl_widths_ns.append(ev.width_ns)
        elif kind == EventKind.PROG_BEGIN:
            self._prog_t0 = now_ps
            self._prog_op = ev.prog_op
        elif kind == EventKind.PROG_END:
            ev.width_ns = 0.0 if self._prog_t0 is None else (now_ps - self._prog_t0) / 1000.0
        result = self.model.handle(ev)
        self.n_events += 1
        if self.record:
            self.events.append(ev)
        if kind == EventKind.COMPARE:
            self._sig["cmp"].value = pack_bits(np.asarray(result, dtype=bool))
        elif kind == EventKind.PROG_END:
            if self._prog_op == ProgOp.READ and self.board is not None and result is not None:
                self.board.adc_reading(self.core, float(result))
            self._prog_t0 = None

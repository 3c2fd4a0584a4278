"""The analog adapter: the RTL's analog bus answered by the analog models.

One :class:`AnalogAdapter` per core. Every analog event reaches the core's analog model
(``CoreModel.handle``) as an :class:`rtl.analog_bus.AnalogEvent`, in order, built from
**only** the fields ``FIELDS_BY_KIND`` lists for its kind, with the values the bus held
in the event's own cycle; for a COMPARE the adapter drives the 256 comparator outputs
back. It never looks at the register files: if the RTL sequenced an MVM wrongly, the
analog model integrates the wrong charges and the result comes out wrong.

Python wakes once per event that carries new wide fields or needs an answer (WL_PULSE, a
SAMPLE with new driver levels, NOISE, COMPARE, PROG_BEGIN, PROG_END), not per clock cycle
and not per event: the testbench's event log (``cosim/hdl/tb_event_log.v``) records the
narrow events (RESET, INTEG, DECR, LATCH, WR, POWER) with their fields, and the SAMPLEs
whose driver levels repeat those of the last woken event that had levels (it keeps a
copy of those), and the adapter hands them to the model, in order, at its next wake-up
(or at :meth:`AnalogAdapter.flush`). The log also measures each WL pulse's width in
simulation time; a WL_PULSE event is decoded when it happens and handed to the model,
with its width, once the pulse has fallen (at the next wake-up, before anything that
followed it).
"""

from __future__ import annotations

import struct

import numpy as np
from cocotb.utils import get_sim_time

from rtl.contract import event_log as log_layout
from rtl.contract.constants import N_LINES
from rtl.contract.events import FIELDS_BY_KIND, AnalogEvent, EventKind
from rtl.contract.registers import ProgOp

from .gpi import read_binstr, read_int, write_binstr_now, write_int_now

EVENT_LOG_DEPTH = log_layout.DEPTH

_SCALAR_FIELDS = ("mode", "vread", "vdecr", "decr_step", "decr_mode", "vnoise", "prog_op", "prog_amp")
_BOOL_FIELDS = ("bl_sel", "sl_sel", "power_down")
_ARRAY_FIELDS = ("bl_drv", "sl_drv", "wl_en", "noise", "snap_bl", "snap_sl")
if log_layout.ENTRY_BITS != 64:   # one struct "Q" per entry below
    raise RuntimeError(f"event log entries are 64 bits, not {log_layout.ENTRY_BITS}")
_LOG_STRUCT = struct.Struct(f"<{EVENT_LOG_DEPTH}Q")
_KINDS = {int(k): k for k in EventKind}


def _entry_field(name: str) -> tuple[int, int]:
    lsb, width = log_layout.FIELD_POS[name]
    return lsb, (1 << width) - 1


# (shift, mask) of every entry field (rtl/contract/event_log.py, the Verilog's layout).
_SEQ, _KIND, _MODE, _VDECR, _DECR_STEP, _DECR_MODE, _BL_SEL, _SL_SEL, _POWER_DOWN, _VREAD = (
    _entry_field(n) for n in ("ev_seq", "ev_kind", "mode", "vdecr", "decr_step", "decr_mode",
                              "bl_sel", "sl_sel", "power_down", "vread"))


def binstr(handle) -> str:
    """The signal's value as a '0'/'1' string, MSB first (no LogicArray round trip)."""
    return read_binstr(handle)


def bits_lsb_first(s: str) -> np.ndarray:
    """'0'/'1' string (MSB first) -> uint8 array, bit 0 first. X/Z read as 0."""
    a = np.frombuffer(s.encode("ascii"), dtype=np.uint8)[::-1]
    return (a == ord("1")).astype(np.uint8)


def levels(s: str) -> np.ndarray:
    """Flattened ``ArrayLayout(3, 256)`` -> per-line level codes (line i at bits 3i+2:3i)."""
    b = bits_lsb_first(s).reshape(N_LINES, 3)
    return (b[:, 0] | (b[:, 1] << 1) | (b[:, 2] << 2)).astype(np.uint8)


_BINSTR_CHARS = np.frombuffer(b"01", dtype=np.uint8)


def to_binstr(bits: np.ndarray) -> str:
    """bool array (index 0 = bit 0) -> '0'/'1' string, MSB first (a VPI binary value)."""
    return _BINSTR_CHARS[np.asarray(bits, dtype=np.uint8)[::-1]].tobytes().decode("ascii")


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
        t = "tb_" + prefix
        self._wake, self._log_wr = getattr(dut, t + "wake"), getattr(dut, t + "log_wr")
        # The log itself is a variable of the log instance (public there).
        log = getattr(dut, prefix + "event_log")
        self._log = log.log
        # Driver levels of the last woken event that had them (for logged SAMPLEs).
        self._sig["snap_bl"], self._sig["snap_sl"] = log.snap_bl, log.snap_sl
        self._log_rd = getattr(dut, t + "log_rd")
        self._wl_width, self._wl_falls = getattr(dut, t + "wl_width_ps"), getattr(dut, t + "wl_falls")
        self._decoded: dict[str, np.ndarray] = {}   # bus value (binstr) -> decoded array
        self._rd = 0                 # log entries consumed (mod 256)
        self._pending_wl = None      # (decoded WL_PULSE event, wl_falls when it began)
        self._wake_seen = 0          # the log's wake counter as last handled
        self.ring_full_wakes = 0     # wake-ups because the log was full (not by kind)
        self._seq = None
        self._prog_t0 = None
        self._prog_op = None
        self._task = None

    def _read(self, name: str):
        h = self._sig[name]
        if name in _ARRAY_FIELDS:
            # Driver levels and enables repeat from event to event (every SAMPLE of an
            # MVM sees the same levels): decode each distinct value once. The arrays are
            # shared, hence read-only.
            s = binstr(h)
            arr = self._decoded.get(s)
            if arr is None:
                arr = (levels(s) if name in ("bl_drv", "sl_drv", "snap_bl", "snap_sl")
                       else bits_lsb_first(s).astype(bool))
                arr.flags.writeable = False
                if len(self._decoded) >= 256:
                    self._decoded.clear()
                self._decoded[s] = arr
            return arr
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
        """Forget the event count (after a chip reset the counter restarts); events
        logged before it are handed to the model first."""
        self.flush()
        self._seq = self._seq_now() or 0

    def start(self):
        """Follow the bus from now on. Events logged before (e.g. by an earlier test in
        the same simulation, with its own models) are skipped."""
        import cocotb

        self._rd = int(self._log_wr.value)
        self._log_rd.value = self._rd
        self._wake_seen = int(self._wake.value)
        self._seq = self._seq_now() or 0
        self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ---- the event log --------------------------------------------------------------------
    def _wl_fallen(self) -> bool:
        return (read_int(self._wl_falls) - self._pending_wl[1]) & 0xFF != 0

    def _finish_wl(self) -> None:
        ev, _ = self._pending_wl
        self._pending_wl = None
        ev.width_ns = read_int(self._wl_width) / 1000.0
        self.wl_widths_ns.append(ev.width_ns)
        self._dispatch(ev)

    def flush(self) -> bool:
        """Hand every event that already happened to the model (a finished WL pulse, then
        the logged events). Returns False if a WL pulse is still high (its event, and
        everything after it, wait for its fall)."""
        if self._pending_wl is not None:
            if not self._wl_fallen():
                return False
            self._finish_wl()
        wr = read_int(self._log_wr)
        n = (wr - self._rd) & 0xFF
        if not n:
            return True
        # The whole ring in one read, split into its 64-bit entries (entry 0 lowest).
        entries = _LOG_STRUCT.unpack(int(read_binstr(self._log), 2)
                                     .to_bytes(_LOG_STRUCT.size, "little"))
        snap = None
        for i in range(self._rd, self._rd + n):
            e = entries[i % EVENT_LOG_DEPTH]
            seq, kind = (e >> _SEQ[0]) & _SEQ[1], _KINDS[(e >> _KIND[0]) & _KIND[1]]
            self._check_step(seq)
            ev = AnalogEvent(kind)
            fields = FIELDS_BY_KIND[kind]
            if "mode" in fields:
                ev.mode = (e >> _MODE[0]) & _MODE[1]
            if "vdecr" in fields:
                ev.vdecr = (e >> _VDECR[0]) & _VDECR[1]
                ev.decr_step = (e >> _DECR_STEP[0]) & _DECR_STEP[1]
                ev.decr_mode = (e >> _DECR_MODE[0]) & _DECR_MODE[1]
            if "bl_sel" in fields:
                ev.bl_sel = bool((e >> _BL_SEL[0]) & _BL_SEL[1])
                ev.sl_sel = bool((e >> _SL_SEL[0]) & _SL_SEL[1])
            if "power_down" in fields:
                ev.power_down = bool((e >> _POWER_DOWN[0]) & _POWER_DOWN[1])
            if kind == EventKind.SAMPLE:
                # Logged only with the levels of the last woken event that had levels,
                # which the log module still holds (any later such event woke Python,
                # and every wake drains the log first).
                ev.vread = (e >> _VREAD[0]) & _VREAD[1]
                if snap is None:
                    snap = self._read("snap_bl"), self._read("snap_sl")
                ev.bl_drv, ev.sl_drv = snap
            self._dispatch(ev)
        self._rd = wr
        # Straight to the simulator (the handle's value setter checks and converts; this
        # is a plain 8-bit deposit, and writes are applied at once in this harness).
        write_int_now(self._log_rd, wr)
        return True

    def _check_step(self, seq: int) -> None:
        step = (seq - self._seq) % 256
        self._seq = seq
        if step != 1:
            # Two events in one cycle would break the contract (one increment per event,
            # events >= 1 cycle apart): record it, never guess.
            self.errors.append(f"core {self.core}: ev_seq stepped by {step} to {seq}")

    async def _run(self):
        wake_h = self._wake
        while True:
            w = read_int(wake_h)
            if w == self._wake_seen:
                await wake_h.value_change
                self.wakes.n += 1
                continue
            if (w - self._wake_seen) & 0xFF != 1:
                self.errors.append(f"core {self.core}: {(w - self._wake_seen) & 0xFF} events "
                                   "woke the adapter at once")
            self._wake_seen = w
            if (read_int(self._log_wr) - self._rd) & 0xFF >= EVENT_LOG_DEPTH - 1:
                self.ring_full_wakes += 1   # the log was full: this event woke us instead
            # The waking event is on the bus now: everything before it is in the log.
            if self._pending_wl is not None and not self._wl_fallen():
                # A WL pulse lasts at most one clock period and the next event comes at
                # least one cycle after it: a pulse still high breaks the bus contract.
                self.errors.append(f"core {self.core}: an event came before the WL pulse fell")
                self._finish_wl()
            self.flush()
            seq = self._seq_now()
            kind = read_int(self._sig["ev_kind"])
            if kind == EventKind.NONE:
                self._seq = seq or 0   # counter cleared by a reset: not an event
                continue
            self._check_step(seq)
            self._event(_KINDS[kind])

    def _event(self, kind: EventKind) -> None:
        ev = self.decode(kind)
        if kind == EventKind.WL_PULSE:
            # Handed to the model once the pulse has fallen (its width is measured then).
            self._pending_wl = (ev, read_int(self._wl_falls))
            return
        if kind == EventKind.PROG_BEGIN:
            self._prog_t0 = get_sim_time("ps")
            self._prog_op = ev.prog_op
        elif kind == EventKind.PROG_END:
            now_ps = get_sim_time("ps")
            ev.width_ns = 0.0 if self._prog_t0 is None else (now_ps - self._prog_t0) / 1000.0
        self._dispatch(ev)

    def _dispatch(self, ev: AnalogEvent) -> None:
        kind = ev.kind
        result = self.model.handle(ev)
        self.n_events += 1
        if self.record:
            self.events.append(ev)
        if kind == EventKind.COMPARE:
            write_binstr_now(self._sig["cmp"], to_binstr(result))
        elif kind == EventKind.PROG_END:
            if self._prog_op == ProgOp.READ and self.board is not None and result is not None:
                self.board.adc_reading(self.core, float(result))
            self._prog_t0 = None

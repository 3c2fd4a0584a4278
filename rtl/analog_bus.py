"""The analog bus: everything the digital core drives into the analog domain, and back.

This module is the single Python description of the contract documented in
``docs/analog_bus.md``. It is imported by the RTL (the port signature), by
``analog_models`` (the event set it answers), by the cocotb adapter (which decodes the
bus into :class:`AnalogEvent` objects) and by the golden model (which produces the same
events from the controller's sequencing model). Keeping one definition is what lets the
cosimulation and the golden model be compared bit for bit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

N_LINES = 256
"""BLs, SLs, WLs and neurons per core."""

LEVEL_BITS = 3
VREAD_BITS = 8
VDECR_BITS = 12
VNOISE_BITS = 8
PROG_AMP_BITS = 8
EV_SEQ_BITS = 8


class Level(enum.IntEnum):
    """Driver level select of one BL or SL (a transmission gate per level)."""

    FLOAT = 0    #: all gates open: the line floats (an MVM output line)
    VREF = 1     #: precharge / zero input
    VREF_P = 2   #: Vref + Vread (positive input)
    VREF_N = 3   #: Vref - Vread (negative input)
    GND = 4      #: ground (programming: the unselected terminal)
    VPROG = 5    #: programming amplitude PROG.amp (SET / RESET / READ of one cell)


class EventKind(enum.IntEnum):
    """What the most recent increment of ``ev_seq`` announced (``ev_kind``)."""

    NONE = 0
    RESET = 1       #: init: lines at Vref, Csample precharged to Vref, Cinteg discharged, latch cleared
    WL_PULSE = 2    #: WL pulse began (``wl_pulse`` rose); it ends when ``wl_pulse`` falls
    SAMPLE = 3      #: output-line charge shared onto Csample (through BL_sel / SL_sel)
    INTEG = 4       #: Csample charge integrated onto Cinteg
    DECR = 5        #: Csample charged to Vref -/+ Vdecr (per the neuron's latch or decr_mode)
    NOISE = 6       #: one stochastic noise injection step with ``noise`` bits
    COMPARE = 7     #: amplifier as comparator; ``cmp`` must be valid 2 cycles later
    LATCH = 8       #: each neuron latches its comparator output (chooses the next DECR sign)
    WR = 9          #: neuron outputs written to the register file (digital; informative)
    PROG_BEGIN = 10  #: programming pulse began (levels, WL, op and amplitude valid)
    PROG_END = 11   #: programming pulse ended
    POWER = 12      #: ``power_down`` changed


class DecrMode(enum.IntEnum):
    LATCH = 0       #: subtract when the latched comparison is 1 (positive), add otherwise
    FORCE_ADD = 1
    FORCE_SUB = 2


class Mode(enum.IntEnum):
    IDLE = 0
    PROGRAM = 1
    NEURON_TEST = 2
    MVM = 3


class Direction(enum.IntEnum):
    FWD = 0   #: BL -> SL
    BWD = 1   #: SL -> BL
    REC = 2   #: BL -> BL (neuron reads its SL, writes through its BL switch)


class Activation(enum.IntEnum):
    NONE = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3


class ProgOp(enum.IntEnum):
    SET = 0
    RESET = 1
    READ = 2


def neuron_bl(k: int) -> int:
    """BL of neuron ``k`` (neuron of corelet (i, j) has index 16*i + j)."""
    return k


def neuron_sl(k: int) -> int:
    """SL of neuron ``k``: corelet (i, j) reaches SL 16*j + i."""
    return 16 * (k % 16) + k // 16


class AnalogBusSignature(wiring.Signature):
    """Port group from a core (``Out`` members) to the analog domain (``In`` member ``cmp``).

    Members (directions as seen from the digital core)
    -------------------------------------------------
    bl_drv, sl_drv : Out(ArrayLayout(3, 256))
        :class:`Level` per line; entry ``i`` occupies bits ``[3i+2:3i]`` of the flat port.
    wl_en : Out(256)
        Per-row WL enable (row select AND the delay-line pulse / programming pulse).
    wl_pulse : Out(1)
        The delay-line pulse itself (true 1-10 ns width in simulation time).
    n_reset, n_sample, n_integ, n_decr, n_compare, n_latch, n_noise, n_wr : Out(1)
        Neuron strobes shared by the core's 256 neurons.
    bl_sel, sl_sel : Out(1)
        Neuron line switches (which line the neurons sample from / drive).
    vread, vdecr, decr_mode, vnoise : Out
        Shared DAC codes and the decrement polarity mode (:class:`DecrMode`).
    noise : Out(256)
        Per-neuron LFSR noise bits (neuron-indexed).
    prog_pulse, prog_op, prog_amp : Out
        Programming pulse, its :class:`ProgOp` and amplitude code.
    mode : Out(2)
        The controller's :class:`Mode` while busy.
    power_down : Out(1)
        Power-gate control: the core's analog circuits are off.
    ev_seq, ev_kind : Out
        Event counter (incremented once per event) and the :class:`EventKind` of the last
        event; a testbench waits on ``ev_seq`` changes, never on the clock.
    cmp : In(256)
        Comparator outputs, neuron-indexed, driven by the analog side.
    """

    def __init__(self):
        super().__init__({
            "bl_drv": Out(data.ArrayLayout(LEVEL_BITS, N_LINES)),
            "sl_drv": Out(data.ArrayLayout(LEVEL_BITS, N_LINES)),
            "wl_en": Out(N_LINES),
            "wl_pulse": Out(1),
            "n_reset": Out(1),
            "n_sample": Out(1),
            "n_integ": Out(1),
            "n_decr": Out(1),
            "n_compare": Out(1),
            "n_latch": Out(1),
            "n_noise": Out(1),
            "n_wr": Out(1),
            "bl_sel": Out(1),
            "sl_sel": Out(1),
            "vread": Out(VREAD_BITS),
            "vdecr": Out(VDECR_BITS),
            "decr_mode": Out(2),
            "vnoise": Out(VNOISE_BITS),
            "noise": Out(N_LINES),
            "prog_pulse": Out(1),
            "prog_op": Out(2),
            "prog_amp": Out(PROG_AMP_BITS),
            "mode": Out(2),
            "power_down": Out(1),
            "ev_seq": Out(EV_SEQ_BITS),
            "ev_kind": Out(4),
            "cmp": In(N_LINES),
        })


# Which bus fields are meaningful for each event kind. The adapter reads only these, the
# golden model fills only these, and event equality compares only these.
FIELDS_BY_KIND: dict[EventKind, tuple[str, ...]] = {
    EventKind.RESET: ("mode",),
    EventKind.WL_PULSE: ("mode", "bl_drv", "sl_drv", "wl_en", "vread", "width_ns"),
    EventKind.SAMPLE: ("mode", "bl_sel", "sl_sel", "bl_drv", "sl_drv", "vread"),
    EventKind.INTEG: (),
    EventKind.DECR: ("vdecr", "decr_mode"),
    EventKind.NOISE: ("noise", "vnoise"),
    EventKind.COMPARE: (),
    EventKind.LATCH: (),
    EventKind.WR: ("bl_sel", "sl_sel"),
    EventKind.PROG_BEGIN: ("bl_drv", "sl_drv", "wl_en", "prog_op", "prog_amp"),
    EventKind.PROG_END: ("width_ns",),
    EventKind.POWER: ("power_down",),
}


def _zeros(dtype) -> np.ndarray:
    z = np.zeros(N_LINES, dtype=dtype)
    z.flags.writeable = False
    return z


# One shared, read-only default per array field: a bus field an event kind does not carry
# reads as all zeros, and an event is built per analog event (allocating four arrays each
# time cost more than decoding the event). Fields are replaced, never written in place.
_ZEROS = {np.dtype(np.uint8): _zeros(np.uint8), np.dtype(bool): _zeros(bool)}


def _arr(dtype):
    zero = _ZEROS[np.dtype(dtype)]
    return field(default_factory=lambda: zero)


@dataclass
class AnalogEvent:
    """One analog-bus event, as decoded by the cosim adapter or produced by the golden model.

    Array fields are numpy arrays of length 256 indexed by line (``bl_drv``, ``sl_drv``,
    ``wl_en``) or by neuron (``noise``). ``width_ns`` is the measured WL pulse width for
    ``WL_PULSE`` and the programming pulse width for ``PROG_END``.
    """

    kind: EventKind
    mode: int = 0
    bl_drv: np.ndarray = _arr(np.uint8)
    sl_drv: np.ndarray = _arr(np.uint8)
    wl_en: np.ndarray = _arr(bool)
    width_ns: float = 0.0
    bl_sel: bool = False
    sl_sel: bool = False
    vread: int = 0
    vdecr: int = 0
    decr_mode: int = 0
    vnoise: int = 0
    noise: np.ndarray = _arr(bool)
    prog_op: int = 0
    prog_amp: int = 0
    power_down: bool = False

    def key(self) -> tuple:
        """Comparable identity: the kind and its meaningful fields only."""
        out = [int(self.kind)]
        for name in FIELDS_BY_KIND.get(EventKind(self.kind), ()):
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = value.astype(np.int64).tobytes()
            elif isinstance(value, float):
                value = round(value, 3)
            else:
                value = int(value)
            out.append((name, value))
        return tuple(out)

    def __eq__(self, other):
        return isinstance(other, AnalogEvent) and self.key() == other.key()

    def __repr__(self):
        parts = []
        for name, value in self.key()[1:]:
            if isinstance(value, bytes):
                arr = np.frombuffer(value, dtype=np.int64)
                nz = np.flatnonzero(arr)
                value = f"<{len(nz)} nonzero, first {nz[:4].tolist()}>"
            parts.append(f"{name}={value}")
        return f"AnalogEvent({EventKind(self.kind).name}{', ' if parts else ''}{', '.join(parts)})"

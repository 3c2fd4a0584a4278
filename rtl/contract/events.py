"""Analog-bus events: what the digital core announces to the analog side (docs/analog_bus.md).

One Python description of the events, shared by the RTL's port signature
(``rtl.analog_bus``), the analog models (the events they answer), the cosim adapter
(which decodes the bus into :class:`AnalogEvent` objects) and the controller's golden
model (which produces the same events), so that the cosimulation and the golden model can
be compared bit for bit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .constants import N_LINES
from .registers import CORE

LEVEL_BITS = 3
VREAD_BITS = CORE.reg("VREAD").field("code").width
VDECR_BITS = CORE.reg("VDECR").field("code").width
VNOISE_BITS = CORE.reg("NOISE").field("vnoise").width
PROG_AMP_BITS = CORE.reg("PROG").field("amp").width
MODE_BITS = CORE.reg("CTRL").field("mode").width
PROG_OP_BITS = CORE.reg("PROG").field("op").width
EV_SEQ_BITS = 8
EV_KIND_BITS = 4
DECR_MODE_BITS = 2
#: Width of a DECR event's step index ``c - 1`` (output cycle ``c`` = 1 .. out_bits-1):
#: the width of the output-cycle counter, i.e. of BITS.out_bits.
DECR_STEP_BITS = CORE.reg("BITS").field("out_bits").width


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
    DECR = 5        #: Csample charged to Vref -/+ Vdecr * 2**-decr_step (per the latch or decr_mode)
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


# Which bus fields are meaningful for each event kind. The adapter reads only these, the
# golden model fills only these, and event equality compares only these.
FIELDS_BY_KIND: dict[EventKind, tuple[str, ...]] = {
    EventKind.RESET: ("mode",),
    EventKind.WL_PULSE: ("mode", "bl_drv", "sl_drv", "wl_en", "vread", "width_ns"),
    EventKind.SAMPLE: ("mode", "bl_sel", "sl_sel", "bl_drv", "sl_drv", "vread"),
    EventKind.INTEG: (),
    EventKind.DECR: ("vdecr", "decr_step", "decr_mode"),
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
    ``WL_PULSE`` and the programming pulse width for ``PROG_END``. A ``DECR`` carries the
    VDECR code itself and the step index ``decr_step`` (``c - 1`` in output cycle ``c``);
    the shared DAC halves its level in the analog domain: the level is
    ``Vdecr(vdecr) * 2**-decr_step`` (the analog models' ``AnalogParams.vdecr_volts``).
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
    decr_step: int = 0
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

"""The internal register bus from the frame decoder to each core (docs/architecture.md §3).

One :class:`RegBusSignature` per core; the frame decoder is the initiator (``Out``), the
core the target (``In``). Register writes (``we``) are issued only when a frame commits;
register-file bursts are staged entry by entry (``rf_we``) into the shadow slots and made
live by ``rf_commit`` (or dropped by ``rf_abort``) when the frame ends.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

ADDR_BITS = 8
DATA_BITS = 16
RF_INDEX_BITS = 8
RF_DATA_BITS = 10


class RegBusSignature(wiring.Signature):
    """Register bus, directions seen from the initiator (the frame decoder).

    Members
    -------
    addr : Out(8)
        Register word address (the register index of ``rtl/regmap.rdl``).
    wdata : Out(16)
        Register write data.
    we : Out(1)
        Register write strobe, one cycle.
    re : Out(1)
        Register read strobe; ``rdata`` is valid the next cycle.
    rdata : In(16)
        Register read data.
    rf_sel : Out(1)
        Register file: 0 = BL file, 1 = SL file.
    rf_index : Out(8)
        Register-file entry.
    rf_wdata : Out(10)
        Data staged by ``rf_we``.
    rf_we : Out(1)
        Stage ``rf_wdata`` into the shadow slot of entry ``rf_index`` (sets its pending bit).
    rf_commit : Out(1)
        Make every pending entry of both files live, in one cycle.
    rf_abort : Out(1)
        Drop every pending entry of both files.
    rf_re : Out(1)
        Register-file read strobe; ``rf_rdata`` is valid the next cycle.
    rf_rdata : In(10)
        Live slot of the entry read.
    """

    def __init__(self):
        super().__init__({
            "addr": Out(ADDR_BITS),
            "wdata": Out(DATA_BITS),
            "we": Out(1),
            "re": Out(1),
            "rdata": In(DATA_BITS),
            "rf_sel": Out(1),
            "rf_index": Out(RF_INDEX_BITS),
            "rf_wdata": Out(RF_DATA_BITS),
            "rf_we": Out(1),
            "rf_commit": Out(1),
            "rf_abort": Out(1),
            "rf_re": Out(1),
            "rf_rdata": In(RF_DATA_BITS),
        })

"""A BL or SL register file: 256 entries x 10 bits with staged (shadow) host writes.

Each entry has a live slot (what the line drivers see, on ``q``), a shadow slot and a
pending bit (docs/architecture.md §2). The host's burst writes are staged into the shadow
slots; ``commit`` makes every pending entry live in one cycle (shadow -> live copy of the
pending entries, the same observable effect as flipping a live/shadow select) and
``abort`` drops them, so a frame cut short changes nothing. The hardware ports (the 8-bit
random-access decoder of programming mode and the neurons' write-back) write the live
slots directly.

:class:`RegisterFile` is the RTL; :class:`RegisterFileModel` the golden model.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

N_ENTRIES = 256
ENTRY_BITS = 10


class RegisterFile(wiring.Component):
    """256 x 10-bit register file with live + shadow slots.

    Members
    -------
    index : In(8)
        Entry addressed by ``stage_we`` and ``re``.
    wdata : In(10)
        Data staged by ``stage_we``.
    stage_we : In(1)
        Write ``wdata`` into the shadow slot of ``index`` and set its pending bit.
    commit : In(1)
        Copy the shadow slot of every pending entry to its live slot; clear all pending bits.
    abort : In(1)
        Clear all pending bits (the shadow data is dropped).
    re : In(1)
        Read strobe; ``rdata`` holds the live slot of ``index`` from the next cycle on.
    rdata : Out(10)
        Read data (registered, held until the next ``re``).
    q : Out(ArrayLayout(10, 256))
        Every live slot in parallel (entry ``i`` at bits ``[10i+9:10i]``), for the drivers.
    dec_load : In(1)
        Random-access decoder load: live entry ``dec_addr`` <- 1, every other entry <- 0.
    dec_addr : In(8)
        Entry selected by the decoder.
    wr_mask : In(256)
        Entries written by ``wr_clear`` / ``wr_en`` (neuron write-back).
    wr_clear : In(1)
        Zero the masked live entries (before a new result).
    wr_en : In(1)
        Set bit ``wr_bit`` of every masked live entry ``i`` to ``wr_data[i]``.
    wr_bit : In(4)
        Bit index 0..9 written by ``wr_en``.
    wr_data : In(256)
        Per-entry bit written by ``wr_en``.

    Several strobes in one cycle act in the order ``commit``, ``wr_en``, ``wr_clear``,
    ``dec_load``, each on the result of the previous (so the decoder load wins, a clear
    zeroes the masked entries, a write-back bit overrides the committed value of that
    bit). ``stage_we`` in the same cycle as ``commit`` / ``abort`` stays pending.
    ``wr_bit`` >= 10 writes nothing.
    """

    def __init__(self):
        super().__init__({
            "index": In(8),
            "wdata": In(ENTRY_BITS),
            "stage_we": In(1),
            "commit": In(1),
            "abort": In(1),
            "re": In(1),
            "rdata": Out(ENTRY_BITS),
            "q": Out(data.ArrayLayout(ENTRY_BITS, N_ENTRIES)),
            "dec_load": In(1),
            "dec_addr": In(8),
            "wr_mask": In(N_ENTRIES),
            "wr_clear": In(1),
            "wr_en": In(1),
            "wr_bit": In(4),
            "wr_data": In(N_ENTRIES),
        })

    def elaborate(self, platform):
        m = Module()
        # Entry-major wide vectors (entry i at bits [10i+9:10i]): q is the live vector
        # itself, and every update is a handful of wide operations under one enable, so
        # idle cycles cost almost nothing in Verilator and in the Python simulator.
        live = Signal(ENTRY_BITS * N_ENTRIES)
        shadow = Signal(ENTRY_BITS * N_ENTRIES)
        pending = Signal(ENTRY_BITS * N_ENTRIES)   # all 10 bits of a pending entry set

        def expand(bits):
            """Bit i of ``bits`` to bits [10i+9:10i]."""
            return Cat(*[bits[i].replicate(ENTRY_BITS) for i in range(N_ENTRIES)])

        # Entry selection through a 256-bit one-hot, widened by replication: no lhs
        # word_select (a 256-way switch, slow to build in the simulator) and no 2560-bit
        # variable shift (each output bit depends on every input bit, which makes
        # Amaranth's netlist checks quadratic).
        index_hot = Signal(N_ENTRIES)
        dec_hot = Signal(N_ENTRIES)
        m.d.comb += [index_hot.eq(Const(1, 1) << self.index),
                     dec_hot.eq(Const(1, 1) << self.dec_addr)]
        entry_sel = Signal(ENTRY_BITS * N_ENTRIES)
        m.d.comb += entry_sel.eq(expand(index_hot))

        with m.If(self.stage_we):
            m.d.sync += [
                shadow.eq((shadow & ~entry_sel) | (self.wdata.replicate(N_ENTRIES) & entry_sel)),
                pending.eq(Mux(self.commit | self.abort, 0, pending) | entry_sel),
            ]
        with m.Elif(self.commit | self.abort):
            m.d.sync += pending.eq(0)

        # Sequential semantics within one cycle: commit, then write-back, then clear,
        # then the decoder load (each acting on the result of the previous).
        # (named intermediates keep the expression trees small)
        wide = ENTRY_BITS * N_ENTRIES
        committed, wr_sel, wr_val, written, clear_sel, cleared = (
            Signal(wide, name=n) for n in ("committed", "wr_sel", "wr_val", "written",
                                           "clear_sel", "cleared"))
        wr_ok = Signal()
        bit_hot = Signal(ENTRY_BITS)
        m.d.comb += bit_hot.eq(Const(1, 1) << self.wr_bit)
        m.d.comb += [
            committed.eq(Mux(self.commit, (live & ~pending) | (shadow & pending), live)),
            wr_ok.eq(self.wr_en & (self.wr_bit < ENTRY_BITS)),
            # bit wr_bit of each masked entry (no wide variable shift: a 2560-bit shifter
            # makes every output bit depend on every input bit)
            wr_sel.eq(expand(self.wr_mask) & bit_hot.replicate(N_ENTRIES)),
            wr_val.eq(expand(self.wr_mask & self.wr_data) & bit_hot.replicate(N_ENTRIES)),
            written.eq(Mux(wr_ok, (committed & ~wr_sel) | wr_val, committed)),
            clear_sel.eq(expand(self.wr_mask)),
            cleared.eq(Mux(self.wr_clear, written & ~clear_sel, written)),
        ]
        with m.If(self.dec_load):
            m.d.sync += live.eq(Cat(*[Cat(dec_hot[i], Const(0, ENTRY_BITS - 1))
                                      for i in range(N_ENTRIES)]))
        with m.Elif(self.commit | self.wr_en | self.wr_clear):
            m.d.sync += live.eq(cleared)

        m.d.comb += self.q.as_value().eq(live)
        with m.If(self.re):
            m.d.sync += self.rdata.eq(live.word_select(self.index, ENTRY_BITS))
        return m


class RegisterFileModel:
    """Golden model of :class:`RegisterFile`; :meth:`cycle` is exactly one clock edge."""

    def __init__(self):
        self.live = np.zeros(N_ENTRIES, dtype=np.int64)
        self.shadow = np.zeros(N_ENTRIES, dtype=np.int64)
        self.pending = np.zeros(N_ENTRIES, dtype=bool)
        self.rdata = 0

    @property
    def q(self) -> np.ndarray:
        return self.live.copy()

    def cycle(self, *, index=0, wdata=0, stage_we=False, commit=False, abort=False, re=False,
              dec_load=False, dec_addr=0, wr_mask=None, wr_clear=False, wr_en=False,
              wr_bit=0, wr_data=None):
        mask = np.zeros(N_ENTRIES, bool) if wr_mask is None else np.asarray(wr_mask, bool)
        bits = np.zeros(N_ENTRIES, bool) if wr_data is None else np.asarray(wr_data, bool)
        if not 0 <= wdata < (1 << ENTRY_BITS):
            raise ValueError(f"wdata {wdata!r} out of range")
        if re:
            self.rdata = int(self.live[index])
        live = self.live.copy()
        if commit:
            live[self.pending] = self.shadow[self.pending]
        if wr_en and wr_bit < ENTRY_BITS:
            b = 1 << wr_bit
            live[mask] = (live[mask] & ~b) | np.where(bits[mask], b, 0)
        if wr_clear:
            live[mask] = 0
        if dec_load:
            live[:] = 0
            live[dec_addr] = 1
        self.live = live
        if commit or abort:
            self.pending[:] = False
        if stage_we:
            self.shadow[index] = wdata
            self.pending[index] = True

    # Convenience one-operation cycles (the frame model's target uses these).
    def stage(self, index: int, value: int):
        self.cycle(index=index, wdata=value, stage_we=True)

    def commit(self):
        self.cycle(commit=True)

    def abort(self):
        self.cycle(abort=True)

    def read(self, index: int) -> int:
        return int(self.live[index])

    def dec_load(self, addr: int):
        self.cycle(dec_load=True, dec_addr=addr)

    def write_bit(self, mask, bit: int, bits):
        self.cycle(wr_en=True, wr_mask=mask, wr_bit=bit, wr_data=bits)

    def clear(self, mask):
        self.cycle(wr_clear=True, wr_mask=mask)

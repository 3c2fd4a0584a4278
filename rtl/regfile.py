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
from amaranth.lib.memory import Memory
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

    Priority on a live entry within one cycle: ``dec_load`` > ``wr_clear`` > ``wr_en`` >
    ``commit`` (the hardware ports own the file while the core runs; a masked write-back
    works on the entry's previous live value, and a commit of that entry in the same
    cycle is lost). ``stage_we`` in the same cycle as ``commit`` / ``abort`` stays
    pending. ``wr_bit`` >= 10 leaves the masked entries unchanged.
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
        # Storage is entry-major (entry i at bits [10i+9:10i] of q). Every update is a guarded list of slice assignments
        # (Amaranth turns them into one assignment list per vector), which keeps the
        # netlist linear in the number of bits, costs nothing on idle cycles in the
        # simulator, and becomes plain if-statements in Verilog. No 2560-bit variable
        # shift and no lhs word_select (a 256-way switch): both are quadratic to build.
        W = ENTRY_BITS
        # Storage in chunks of CHUNK entries: one signal per chunk keeps the simulator's
        # per-cycle work small (few signals), and Amaranth's per-signal assignment lists
        # short (their netlist check is quadratic in the assignments per signal).
        CHUNK = 16
        n_chunks = N_ENTRIES // CHUNK
        live = [Signal(W * CHUNK, name=f"live_{c}") for c in range(n_chunks)]
        pending = Signal(N_ENTRIES)

        # The shadow slots are a memory (one row per chunk, one write lane per entry): a
        # staged write touches one lane, and an idle cycle costs the simulator nothing
        # (flops would be copied on every clock edge). Each row has a read port of its
        # own, which only a commit uses.
        m.submodules.shadow = shadow_mem = Memory(shape=W * CHUNK, depth=n_chunks, init=[])
        stage = shadow_mem.write_port(granularity=W)
        lane_bits = CHUNK.bit_length() - 1
        m.d.comb += [
            stage.addr.eq(self.index[lane_bits:]),
            stage.data.eq(self.wdata.replicate(CHUNK)),
            stage.en.eq(Mux(self.stage_we, Const(1, CHUNK) << self.index[:lane_bits], 0)),
        ]
        shadow = []
        for c in range(n_chunks):
            rp = shadow_mem.read_port(domain="comb")
            m.d.comb += rp.addr.eq(c)
            shadow.append(rp.data)

        def entry(vec, i):
            j = i % CHUNK
            return vec[i // CHUNK][W * j:W * (j + 1)]

        index_hot = Signal(N_ENTRIES)
        dec_hot = Signal(N_ENTRIES)
        bit_hot = Signal(W)
        m.d.comb += [
            index_hot.eq(Const(1, 1) << self.index),
            dec_hot.eq(Const(1, 1) << self.dec_addr),
            bit_hot.eq(Const(1, 1) << self.wr_bit),
        ]

        with m.If(self.stage_we):
            m.d.sync += pending.eq(Mux(self.commit | self.abort, 0, pending) | index_hot)
        with m.Elif(self.commit | self.abort):
            m.d.sync += pending.eq(0)

        # Later assignments override earlier ones, which gives the documented priority
        # per entry: decoder load > clear > write-back > commit.
        with m.If(self.commit):
            for i in range(N_ENTRIES):
                with m.If(pending[i]):
                    m.d.sync += entry(live, i).eq(entry(shadow, i))
        with m.If(self.wr_en):
            for i in range(N_ENTRIES):
                with m.If(self.wr_mask[i]):
                    m.d.sync += entry(live, i).eq(
                        (entry(live, i) & ~bit_hot) | Mux(self.wr_data[i], bit_hot, 0))
        with m.If(self.wr_clear):
            for i in range(N_ENTRIES):
                with m.If(self.wr_mask[i]):
                    m.d.sync += entry(live, i).eq(0)
        with m.If(self.dec_load):
            for i in range(N_ENTRIES):
                m.d.sync += entry(live, i).eq(dec_hot[i])

        live_flat = Signal(W * N_ENTRIES)
        m.d.comb += [live_flat.eq(Cat(*live)), self.q.as_value().eq(live_flat)]
        with m.If(self.re):
            m.d.sync += self.rdata.eq(live_flat.word_select(self.index, W))
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
        old = self.live
        live = old.copy()
        if commit:
            live[self.pending] = self.shadow[self.pending]
        if wr_en and wr_bit < ENTRY_BITS:
            # from the old live value: write-back overrides a commit of the same entry
            b = 1 << wr_bit
            live[mask] = (old[mask] & ~b) | np.where(bits[mask], b, 0)
        elif wr_en:
            live[mask] = old[mask]
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

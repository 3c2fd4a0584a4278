"""Register block generated at elaboration time from a register map (``rtl/regmap.rdl``).

:class:`RegBlock` implements one address map of :mod:`rtl.regmap` (``neurram_core`` in
each core, ``neurram_chip`` in the frame decoder); :class:`RegisterModel` is its golden
model with the same semantics.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import regmap
from .bus import ADDR_BITS, DATA_BITS


def _hw_signature(amap: regmap.AddrMap) -> wiring.Signature:
    regs = {}
    for r in amap.registers:
        members = {}
        for f in r.fields:
            if f.kind in ("out", "pulse"):
                members[f.name] = Out(f.width, init=f.reset if f.kind == "out" else 0)
            elif f.kind == "in":
                members[f.name] = In(f.width)
        if members:
            regs[r.name.lower()] = Out(wiring.Signature(members))
    return wiring.Signature(regs)


class RegBlock(wiring.Component):
    """Register block of one address map.

    Parameters
    ----------
    addrmap : regmap.AddrMap or str
        The map, or its name (``"neurram_core"`` / ``"neurram_chip"``).

    Members
    -------
    addr : In(8)
        Register index.
    wdata : In(16)
        Write data.
    we : In(1)
        Write strobe: stores the writable, non-pulse fields of register ``addr`` and fires
        its singlepulse fields whose ``wdata`` bit is 1. Read-only bits ignore the write.
    re : In(1)
        Read strobe; ``rdata`` holds the word of register ``addr`` from the next cycle on.
        Unmapped addresses read 0; singlepulse fields read 0.
    rdata : Out(16)
        Read data (registered, held until the next ``re``).
    wr_ro : Out(1)
        Combinational: ``we`` is asserted for an unmapped register or one without any
        writable field (the frame decoder reports such a write as SPI error 7; it also
        checks this statically before committing a frame).
    hw : Out(Signature)
        The hardware side, one member per register that has non-constant fields, named
        by the lowercase register name, with one member per field named by the field:

        * ``regs.hw.<reg>.<field>`` ``Out(width)`` for a software-writable field (its
          current value, reset value from the RDL), e.g. ``regs.hw.ctrl.mode``;
        * ``Out(1)`` one-cycle pulse, the cycle after the write, for a singlepulse field,
          e.g. ``regs.hw.cmd.start``;
        * ``In(width)`` for a hardware-driven read-only field, e.g. ``regs.hw.status.busy``.

        Constant fields (``ID.id``, ``CHIP_ID.id``) have no member.
    """

    def __init__(self, addrmap: regmap.AddrMap | str):
        if isinstance(addrmap, str):
            addrmap = regmap.load(addrmap)
        if not isinstance(addrmap, regmap.AddrMap):
            raise TypeError(f"addrmap must be a regmap.AddrMap or its name, not {addrmap!r}")
        self.addrmap = addrmap
        super().__init__({
            "addr": In(ADDR_BITS),
            "wdata": In(DATA_BITS),
            "we": In(1),
            "re": In(1),
            "rdata": Out(DATA_BITS),
            "wr_ro": Out(1),
            "hw": Out(_hw_signature(addrmap)),
        })

    def elaborate(self, platform):
        m = Module()
        amap = self.addrmap
        word_of = {}
        writable_hits = []
        for r in amap.registers:
            hit = Signal(name=f"hit_{r.name.lower()}")
            m.d.comb += hit.eq(self.addr == r.addr)
            if r.sw_writable:
                writable_hits.append(hit)
            parts = []
            for f in r.fields:
                value = None
                if f.kind == "out":
                    store = Signal(f.width, init=f.reset, name=f"{r.name.lower()}_{f.name}")
                    with m.If(self.we & hit):
                        m.d.sync += store.eq(self.wdata[f.lsb:f.lsb + f.width])
                    m.d.comb += getattr(getattr(self.hw, r.name.lower()), f.name).eq(store)
                    value = store
                elif f.kind == "pulse":
                    pulse = getattr(getattr(self.hw, r.name.lower()), f.name)
                    m.d.sync += pulse.eq(self.we & hit & self.wdata[f.lsb])
                elif f.kind == "in":
                    value = getattr(getattr(self.hw, r.name.lower()), f.name)
                else:
                    value = f.reset
                parts.append((f, value))
            word = 0
            for f, value in parts:
                if value is None:
                    continue
                if isinstance(value, int):
                    word = word | (value << f.lsb)
                else:
                    word = value.as_unsigned().shift_left(f.lsb) | word
            word_of[r.addr] = word
        wr_ok = 0
        for hit in writable_hits:
            wr_ok = hit | wr_ok
        m.d.comb += self.wr_ro.eq(self.we & ~wr_ok)
        with m.If(self.re):
            with m.Switch(self.addr):
                for addr, word in word_of.items():
                    with m.Case(addr):
                        m.d.sync += self.rdata.eq(word)
                with m.Default():
                    m.d.sync += self.rdata.eq(0)
        return m


class RegisterModel:
    """Golden model of :class:`RegBlock` (same address map, same semantics).

    ``write`` returns False (and changes nothing) for an unmapped or read-only register;
    the singlepulse fields fired by the last write are in ``pulses`` (``{(reg, field)}``,
    lowercase names). Hardware-driven fields are set with :meth:`set_hw`.
    """

    def __init__(self, addrmap: regmap.AddrMap | str):
        if isinstance(addrmap, str):
            addrmap = regmap.load(addrmap)
        if not isinstance(addrmap, regmap.AddrMap):
            raise TypeError(f"addrmap must be a regmap.AddrMap or its name, not {addrmap!r}")
        self.addrmap = addrmap
        self.values: dict[tuple[str, str], int] = {}
        self.pulses: set[tuple[str, str]] = set()
        self.reset()

    def reset(self):
        self.values = {(r.name.lower(), f.name): (0 if f.singlepulse else f.reset)
                       for r in self.addrmap.registers for f in r.fields}
        self.pulses = set()

    def write(self, addr: int, data: int) -> bool:
        self.pulses = set()
        r = self.addrmap.by_addr(addr)
        if r is None or not r.sw_writable:
            return False
        for f in r.fields:
            if f.kind == "out":
                self.values[(r.name.lower(), f.name)] = f.get(data)
            elif f.kind == "pulse" and f.get(data):
                self.pulses.add((r.name.lower(), f.name))
        return True

    def read(self, addr: int) -> int:
        r = self.addrmap.by_addr(addr)
        if r is None:
            return 0
        word = 0
        for f in r.fields:
            if f.kind != "pulse":
                word |= self.values[(r.name.lower(), f.name)] << f.lsb
        return word

    def get(self, reg: str, field: str) -> int:
        return self.values[(reg.lower(), field.lower())]

    def set_hw(self, reg: str, field: str, value: int):
        r = self.addrmap.reg(reg)
        f = r.field(field.lower())
        if f.kind != "in":
            raise ValueError(f"{reg}.{field} is not a hardware-driven field")
        if not 0 <= value < (1 << f.width):
            raise ValueError(f"value {value!r} does not fit {reg}.{field}")
        self.values[(r.name.lower(), f.name)] = value

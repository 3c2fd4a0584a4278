"""The register map model, compiled from ``rtl/regmap.rdl`` with systemrdl-compiler.

The RDL is the single source of truth. This module turns each of its two address maps
(``neurram_core`` and ``neurram_chip``) into a small plain-Python model
(:class:`AddrMap` / :class:`Register` / :class:`Field`) that the RTL register block
(:mod:`rtl.regblock`), the frame decoder and the golden models use, and generates
``firmware/registers.py`` and ``docs/registers.md`` from it::

    python -m rtl.regmap            # rewrite both generated files
    python -m rtl.regmap --check    # exit 1 if either differs from a fresh generation

Addressing: SystemRDL addresses are byte addresses and every register is 16 bits, so
register index ``i`` sits at RDL byte address ``2*i``. :attr:`Register.addr` is the
index, which is the 8-bit address byte of an SPI register frame.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

RDL_PATH = Path(__file__).with_name("regmap.rdl")
REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_OUT = REPO_ROOT / "firmware" / "registers.py"
DOCS_OUT = REPO_ROOT / "docs" / "registers.md"

REG_BITS = 16
ADDRMAPS = ("neurram_core", "neurram_chip")

# Frame-level constants of docs/architecture.md §2, exported to firmware/registers.py.
OPCODES = {"REG_WRITE": 0x01, "REG_READ": 0x02, "RF_WRITE": 0x03, "RF_READ": 0x04}
CORE_BROADCAST = 0xFF
CORE_CHIP = 0xFE
RF_FILES = {"BL": 0, "SL": 1}
RF_ENTRIES = 256
RF_MAX_WIDTH = 10


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: int
    desc: str = ""


@dataclass(frozen=True)
class Field:
    """One field of a register.

    ``sw`` is ``"rw"`` or ``"r"``; ``hw`` is ``"r"`` (the hardware reads a
    software-written value), ``"w"`` (the hardware drives a read-only status) or ``"na"``
    (a constant). ``singlepulse`` fields are write-1 one-cycle pulses that read back 0.
    """

    name: str
    lsb: int
    width: int
    sw: str
    hw: str
    reset: int
    singlepulse: bool = False
    enum_name: str | None = None
    enum: tuple[EnumValue, ...] = ()
    desc: str = ""

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """Mask of the field in the register word."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def sw_writable(self) -> bool:
        return "w" in self.sw

    @property
    def kind(self) -> str:
        """How the register block implements it: ``out``, ``pulse``, ``in`` or ``const``."""
        if self.singlepulse:
            return "pulse"
        if self.sw_writable:
            return "out"
        if self.hw == "w":
            return "in"
        return "const"

    def get(self, word: int) -> int:
        return (word >> self.lsb) & ((1 << self.width) - 1)

    def put(self, word: int, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"value {value!r} does not fit field {self.name!r} ({self.width} bits)")
        return (word & ~self.mask) | (value << self.lsb)


@dataclass(frozen=True)
class Register:
    name: str
    addr: int
    fields: tuple[Field, ...]
    title: str = ""

    @property
    def reset(self) -> int:
        word = 0
        for f in self.fields:
            word |= f.reset << f.lsb
        return word

    @property
    def sw_writable(self) -> bool:
        return any(f.sw_writable for f in self.fields)

    @property
    def sw_write_mask(self) -> int:
        """Bits kept by a software write (singlepulse bits are not stored)."""
        m = 0
        for f in self.fields:
            if f.sw_writable and not f.singlepulse:
                m |= f.mask
        return m

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name!r} has no field {name!r}")


@dataclass(frozen=True)
class AddrMap:
    name: str
    registers: tuple[Register, ...]
    title: str = ""
    desc: str = ""
    _by_addr: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._by_addr.update({r.addr: r for r in self.registers})

    def by_addr(self, addr: int) -> Register | None:
        return self._by_addr.get(addr)

    def reg(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name.upper():
                return r
        raise KeyError(f"address map {self.name!r} has no register {name!r}")

    def mapped(self, addr: int) -> bool:
        return addr in self._by_addr

    def writable(self, addr: int) -> bool:
        r = self._by_addr.get(addr)
        return r is not None and r.sw_writable

    def enums(self) -> dict[str, tuple[EnumValue, ...]]:
        out = {}
        for r in self.registers:
            for f in r.fields:
                if f.enum_name:
                    out[f.enum_name] = f.enum
        return out


def _access(value) -> str:
    # systemrdl AccessType names: rw, r, w, na, rw1, w1
    return value.name


@functools.cache
def _compile() -> dict[str, AddrMap]:
    from systemrdl import RDLCompiler

    compiler = RDLCompiler()
    compiler.compile_file(str(RDL_PATH))
    maps = {}
    for top in ADDRMAPS:
        root = compiler.elaborate(top_def_name=top)
        regs = []
        for rnode in root.top.registers():
            if rnode.get_property("regwidth") != REG_BITS:
                raise ValueError(f"{rnode.inst_name}: registers must be {REG_BITS} bits")
            byte_addr = rnode.absolute_address
            if byte_addr % 2:
                raise ValueError(f"{rnode.inst_name}: byte address {byte_addr:#x} is not 16-bit aligned")
            fields = []
            for fnode in rnode.fields():
                enc = fnode.get_property("encode")
                enum_vals = ()
                enum_name = None
                if enc is not None:
                    enum_name = enc.type_name
                    enum_vals = tuple(EnumValue(m.name, m.value, m.rdl_desc or "") for m in enc)
                reset = fnode.get_property("reset")
                fields.append(Field(
                    name=fnode.inst_name.lower(),
                    lsb=fnode.lsb,
                    width=fnode.width,
                    sw=_access(fnode.get_property("sw")),
                    hw=_access(fnode.get_property("hw")),
                    reset=int(reset or 0),
                    singlepulse=bool(fnode.get_property("singlepulse")),
                    enum_name=enum_name,
                    enum=enum_vals,
                    desc=fnode.get_property("desc") or "",
                ))
            regs.append(Register(
                name=rnode.inst_name.upper(),
                addr=byte_addr // 2,
                fields=tuple(fields),
                title=rnode.get_property("name") or "",
            ))
        maps[top] = AddrMap(
            name=top,
            registers=tuple(regs),
            title=root.top.get_property("name") or "",
            desc=root.top.get_property("desc") or "",
        )
    return maps


def load(name: str) -> AddrMap:
    """The :class:`AddrMap` ``neurram_core`` or ``neurram_chip``."""
    if name not in ADDRMAPS:
        raise ValueError(f"unknown address map {name!r}; choose from {ADDRMAPS}")
    return _compile()[name]


def core_map() -> AddrMap:
    return load("neurram_core")


def chip_map() -> AddrMap:
    return load("neurram_chip")


# ---------------------------------------------------------------------------------------
# Generators

def _enum_class_name(enum_name: str) -> str:
    base = enum_name[:-2] if enum_name.endswith("_e") else enum_name
    return "".join(part.capitalize() for part in base.split("_"))


def _py_str(text: str) -> str:
    return repr(" ".join(text.split()))


def render_firmware() -> str:
    """Text of ``firmware/registers.py``."""
    core, chip = core_map(), chip_map()
    out = []
    w = out.append
    w('"""Register map constants for the host firmware.')
    w("")
    w("GENERATED by `python -m rtl.regmap` from rtl/regmap.rdl -- do not edit by hand;")
    w("tests/rtl_bus/test_regmap.py fails when this file drifts from the RDL.")
    w("")
    w("Each register is a class with ``ADDR`` (the register index, i.e. the SPI address byte),")
    w("``RESET`` (reset value of the word) and one :class:`Field` per field, e.g.")
    w("``CTRL.MODE.put(word, Mode.MVM)`` or ``STATUS.BUSY.get(word)``.")
    w('"""')
    w("")
    w("from __future__ import annotations")
    w("")
    w("import enum")
    w("from dataclasses import dataclass")
    w("")
    w("# SPI frame constants (docs/architecture.md §2, docs/spi.md)")
    for k, v in OPCODES.items():
        w(f"OP_{k} = {v:#04x}")
    w(f"CORE_BROADCAST = {CORE_BROADCAST:#04x}")
    w(f"CORE_CHIP = {CORE_CHIP:#04x}")
    for k, v in RF_FILES.items():
        w(f"FILE_{k} = {v}")
    w(f"RF_ENTRIES = {RF_ENTRIES}")
    w(f"RF_MAX_WIDTH = {RF_MAX_WIDTH}")
    w(f"REG_BITS = {REG_BITS}")
    w("")
    w("")
    w("@dataclass(frozen=True)")
    w("class Field:")
    w('    """A register field: bits ``[lsb + width - 1 : lsb]`` of the 16-bit word."""')
    w("")
    w("    name: str")
    w("    lsb: int")
    w("    width: int")
    w("    sw: str")
    w("    reset: int")
    w("    singlepulse: bool = False")
    w("")
    w("    @property")
    w("    def mask(self) -> int:")
    w("        return ((1 << self.width) - 1) << self.lsb")
    w("")
    w("    def get(self, word: int) -> int:")
    w("        return (word >> self.lsb) & ((1 << self.width) - 1)")
    w("")
    w("    def put(self, word: int, value: int) -> int:")
    w("        value = int(value)")
    w("        if not 0 <= value < (1 << self.width):")
    w("            raise ValueError(f\"value {value!r} does not fit field {self.name!r} ({self.width} bits)\")")
    w("        return (word & ~self.mask) | (value << self.lsb)")
    w("")
    w("")
    enums = {}
    enums.update(core.enums())
    enums.update(chip.enums())
    for ename, vals in enums.items():
        w(f"class {_enum_class_name(ename)}(enum.IntEnum):")
        w(f'    """Enum ``{ename}`` of rtl/regmap.rdl."""')
        w("")
        for v in vals:
            w(f"    {v.name} = {v.value}  #: {' '.join(v.desc.split())}")
        w("")
        w("")
    for amap, prefix in ((core, "CORE"), (chip, "CHIP")):
        w(f"# ---- {amap.name}: {amap.title} ----")
        w("")
        for r in amap.registers:
            w(f"class {r.name}:")
            w(f'    """{r.title} (``{amap.name}`` register {r.addr:#04x})."""')
            w("")
            w(f"    ADDR = {r.addr:#04x}")
            w(f"    RESET = {r.reset:#06x}")
            w(f"    WRITABLE = {r.sw_writable}")
            for f in r.fields:
                w(f"    {f.name.upper()} = Field({f.name!r}, lsb={f.lsb}, width={f.width}, sw={f.sw!r}, "
                  f"reset={f.reset:#x}, singlepulse={f.singlepulse})")
            w("")
            w("")
        names = ", ".join(r.name for r in amap.registers)
        w(f"{prefix}_REGS = ({names},)")
        w("")
        w("")
    w("def decode(reg, word: int) -> dict[str, int]:")
    w('    """Split a register word into ``{field name: value}``."""')
    w("    return {v.name: v.get(word) for v in vars(reg).values() if isinstance(v, Field)}")
    w("")
    w("")
    w("def encode(reg, word: int | None = None, **fields: int) -> int:")
    w('    """Build a register word from field values, starting from ``word`` (default RESET)."""')
    w("    word = reg.RESET if word is None else word")
    w("    for name, value in fields.items():")
    w("        f = getattr(reg, name.upper(), None)")
    w("        if not isinstance(f, Field):")
    w("            raise KeyError(f\"{reg.__name__} has no field {name!r}\")")
    w("        word = f.put(word, value)")
    w("    return word")
    return "\n".join(out) + "\n"


def render_docs() -> str:
    """Text of ``docs/registers.md``."""
    out = []
    w = out.append
    w("# Register map")
    w("")
    w("GENERATED by `python -m rtl.regmap` from `rtl/regmap.rdl` -- do not edit by hand.")
    w("")
    w("16-bit registers. **addr** is the register index: the address byte of an SPI")
    w("REG_WRITE / REG_READ frame (the RDL byte address divided by 2). Access: `rw` written")
    w("by software and used by the hardware; `rw, pulse` a write of 1 gives a one-cycle")
    w("command pulse and reads back 0; `ro` driven by the hardware; `const` fixed value.")
    w("Writing a register without any writable field is SPI error 7 (WRITE_RO); an")
    w("unmapped address is SPI error 2 (ADDR_RANGE). Read-only bits of a writable")
    w("register ignore writes.")
    w("")
    for amap in (core_map(), chip_map()):
        w(f"## `{amap.name}` — {amap.title}")
        w("")
        w(" ".join(amap.desc.split()))
        w("")
        w("| addr | register | reset | bits | field | access | reset | description |")
        w("|---|---|---|---|---|---|---|---|")
        for r in amap.registers:
            for i, f in enumerate(r.fields):
                bits = f"[{f.msb}:{f.lsb}]" if f.width > 1 else f"[{f.lsb}]"
                access = {"out": "rw", "pulse": "rw, pulse", "in": "ro", "const": "const"}[f.kind]
                desc = " ".join(f.desc.split())
                if f.enum:
                    desc += ": " + ", ".join(f"{v.value} {v.name}" for v in f.enum)
                head = (f"{r.addr:#04x} | {r.name} | {r.reset:#06x}" if i == 0 else " | | ")
                w(f"| {head} | {bits} | `{f.name}` | {access} | {f.reset:#x} | {desc} |")
        w("")
        enums = amap.enums()
        if enums:
            w("### Enumerations")
            w("")
            for ename, vals in enums.items():
                w(f"**`{ename}`** (`{_enum_class_name(ename)}` in firmware/registers.py)")
                w("")
                w("| value | name | meaning |")
                w("|---|---|---|")
                for v in vals:
                    w(f"| {v.value} | {v.name} | {' '.join(v.desc.split())} |")
                w("")
    return "\n".join(out).rstrip() + "\n"


def generated_files() -> dict[Path, str]:
    return {FIRMWARE_OUT: render_firmware(), DOCS_OUT: render_docs()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl.regmap", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    args = parser.parse_args(argv)
    drift = []
    for path, text in generated_files().items():
        old = path.read_text() if path.exists() else None
        if old != text:
            drift.append(path)
            if not args.check:
                path.write_text(text)
    for path in drift:
        print(f"{'differs' if args.check else 'wrote'}: {path.relative_to(REPO_ROOT)}")
    return 1 if (args.check and drift) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The register map compiler: ``rtl/regmap.rdl`` -> :mod:`rtl.contract.registers` and docs.

The RDL is the single source of truth. This module compiles its two address maps
(``neurram_core`` and ``neurram_chip``) with systemrdl-compiler into the contract's
classes (:class:`~rtl.contract.regmap.AddrMap` / ``Register`` / ``Field``) and
generates ``rtl/contract/registers.py`` (the map every layer imports, without the RDL
compiler) and ``docs/registers.md`` from them::

    python -m rtl.regmap            # rewrite both generated files
    python -m rtl.regmap --check    # exit 1 if either differs from a fresh generation

:func:`core_map` / :func:`chip_map` / :func:`load` return the generated maps (what the
RTL register block and the golden models use); :func:`compiled` the fresh compilation.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from .contract import registers as _generated
from .contract.constants import (CORE_BROADCAST, CORE_CHIP, OPCODES, RF_ENTRIES, RF_FILES,
                                 RF_MAX_WIDTH)
from .contract.regmap import REG_BITS, AddrMap, Field, Register, enum_class_name

__all__ = ["ADDRMAPS", "AddrMap", "CORE_BROADCAST", "CORE_CHIP", "EnumValue", "Field", "OPCODES",
           "REG_BITS", "RF_ENTRIES", "RF_FILES", "RF_MAX_WIDTH", "Register", "chip_map",
           "compiled", "core_map", "generated_files", "load", "main"]

RDL_PATH = Path(__file__).with_name("regmap.rdl")
REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT_OUT = REPO_ROOT / "rtl" / "contract" / "registers.py"
DOCS_OUT = REPO_ROOT / "docs" / "registers.md"

ADDRMAPS = ("neurram_core", "neurram_chip")


@dataclass(frozen=True)
class EnumValue:
    """One member of an RDL enum, as compiled (the generated module makes IntEnums of them)."""

    name: str
    value: int
    desc: str = ""


def _access(value) -> str:
    # systemrdl AccessType names: rw, r, w, na, rw1, w1
    return value.name


@functools.cache
def _compile() -> tuple[dict[str, AddrMap], dict[str, tuple[EnumValue, ...]]]:
    """Address maps and enums of the RDL (enum name -> members, in RDL order)."""
    from systemrdl import RDLCompiler

    compiler = RDLCompiler()
    compiler.compile_file(str(RDL_PATH))
    maps = {}
    enums: dict[str, tuple[EnumValue, ...]] = {}
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
                enum_name = None
                if enc is not None:
                    enum_name = enc.type_name
                    enums[enum_name] = tuple(EnumValue(m.name, m.value, " ".join((m.rdl_desc or "").split()))
                                             for m in enc)
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
                    desc=" ".join((fnode.get_property("desc") or "").split()),
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
            desc=" ".join((root.top.get_property("desc") or "").split()),
        )
    return maps, enums


def compiled(name: str) -> AddrMap:
    """A fresh compilation of the address map ``name`` from the RDL (slow: the compiler)."""
    if name not in ADDRMAPS:
        raise ValueError(f"unknown address map {name!r}; choose from {ADDRMAPS}")
    return _compile()[0][name]


def load(name: str) -> AddrMap:
    """The :class:`AddrMap` ``neurram_core`` or ``neurram_chip`` (the generated contract)."""
    if name not in ADDRMAPS:
        raise ValueError(f"unknown address map {name!r}; choose from {ADDRMAPS}")
    return _generated.CORE if name == "neurram_core" else _generated.CHIP


def core_map() -> AddrMap:
    return _generated.CORE


def chip_map() -> AddrMap:
    return _generated.CHIP


# ---------------------------------------------------------------------------------------
# Generators

def render_contract() -> str:
    """Text of ``rtl/contract/registers.py``."""
    maps, enums = _compile()
    out = []
    w = out.append
    w('"""The register map of the NeuRRAM chip: enums, registers and the two address maps.')
    w("")
    w("GENERATED by `python -m rtl.regmap` from rtl/regmap.rdl -- do not edit by hand;")
    w("tests/rtl/test_regmap.py fails when this file drifts from the RDL.")
    w("")
    w("Each register is a :class:`~rtl.contract.regmap.Register` named as in the RDL, e.g.")
    w("``CTRL.MODE.put(word, Mode.MVM)``, ``CTRL.encode(mode=Mode.MVM)`` or")
    w("``STATUS.decode(word)``; :data:`CORE` and :data:`CHIP` are the address maps.")
    w('"""')
    w("")
    w("# fmt: off")
    w("from __future__ import annotations")
    w("")
    w("import enum")
    w("")
    w("from .regmap import AddrMap, Field, Register")
    w("")
    w("")
    for ename, vals in enums.items():
        w(f"class {enum_class_name(ename)}(enum.IntEnum):")
        w(f'    """Enum ``{ename}`` of rtl/regmap.rdl."""')
        w("")
        for v in vals:
            w(f"    {v.name} = {v.value}  #: {v.desc}")
        w("")
        w("")
    w("ENUMS: dict[str, type[enum.IntEnum]] = {")
    for ename in enums:
        w(f"    {ename!r}: {enum_class_name(ename)},")
    w("}")
    w("")
    w("#: The RDL description of every enum member: ``DESCRIPTIONS[enum name][value]``.")
    w("DESCRIPTIONS: dict[str, dict[int, str]] = {")
    for ename, vals in enums.items():
        w(f"    {ename!r}: {{")
        for v in vals:
            w(f"        {v.value}: {v.desc!r},")
        w("    },")
    w("}")
    w("")
    for top, var in (("neurram_core", "CORE"), ("neurram_chip", "CHIP")):
        amap = maps[top]
        w("")
        w(f"# ---- {amap.name}: {amap.title}")
        for r in amap.registers:
            w("")
            w(f"{r.name} = Register({r.name!r}, {r.addr:#04x}, title={r.title!r}, fields=(")
            for f in r.fields:
                extra = ""
                if f.singlepulse:
                    extra += ", singlepulse=True"
                if f.enum_name:
                    extra += f", enum_name={f.enum_name!r}"
                w(f"    Field({f.name!r}, lsb={f.lsb}, width={f.width}, sw={f.sw!r}, hw={f.hw!r}, "
                  f"reset={f.reset:#x}{extra},")
                w(f"          desc={f.desc!r}),")
            w("))")
        w("")
        names = ", ".join(r.name for r in amap.registers)
        w(f"{var}_REGS = ({names},)")
        w(f"{var} = AddrMap({amap.name!r}, {var}_REGS, title={amap.title!r},")
        w(f"             desc={amap.desc!r}, enum_types=ENUMS)")
        w("")
    return "\n".join(out) + "\n"


def render_docs() -> str:
    """Text of ``docs/registers.md``."""
    maps, all_enums = _compile()
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
    for amap in (maps["neurram_core"], maps["neurram_chip"]):
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
                if f.enum_name:
                    desc += ": " + ", ".join(f"{v.value} {v.name}" for v in all_enums[f.enum_name])
                head = (f"{r.addr:#04x} | {r.name} | {r.reset:#06x}" if i == 0 else " | | ")
                w(f"| {head} | {bits} | `{f.name}` | {access} | {f.reset:#x} | {desc} |")
        w("")
        enums = {f.enum_name: all_enums[f.enum_name] for r in amap.registers for f in r.fields
                 if f.enum_name}
        if enums:
            w("### Enumerations")
            w("")
            for ename, vals in enums.items():
                w(f"**`{ename}`** (`{enum_class_name(ename)}` in rtl/contract/registers.py)")
                w("")
                w("| value | name | meaning |")
                w("|---|---|---|")
                for v in vals:
                    w(f"| {v.value} | {v.name} | {' '.join(v.desc.split())} |")
                w("")
    return "\n".join(out).rstrip() + "\n"


def generated_files() -> dict[Path, str]:
    return {CONTRACT_OUT: render_contract(), DOCS_OUT: render_docs()}


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

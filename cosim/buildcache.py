"""Verilator builds of the cosimulation, one cached build per configuration.

A design's Verilog is wrapped in ``tb_top`` (:mod:`cosim.tbgen`) and compiled with the
project's main loop (``cosim/hdl/sim_main.cpp``) into
``<cosim root>/<name>-<hash>/tb_top``, keyed on the Verilog text, the harness HDL, the
build flags and the Verilator version. A second key on the *inputs* (the RTL Python
sources, the harness files) lets an unchanged tree skip even the Verilog generation.

Why the build does not go through ``cocotb_tools.runner.Verilator.build``: that method
always makes every internal signal public read-write (slow to build and to
run on Amaranth output), always compiles cocotb's generic ``verilator.cpp`` main loop,
and has no way to pass ``make`` variables. None of that can be changed through its public
arguments, so the two commands (``verilator``, ``make``) are run here; the *test* step
uses the public ``Runner.test`` on the result (:mod:`cosim.runner`).

Public API
----------
``build_core(n_cores=1, waves=False) -> Build``  (cached; ``Build.dir`` is the build dir)
``build_design(name, verilog, waves=False) -> Build``  (any Verilog text, e.g. a toy design)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rtl.generate import TILE_NAME as CORE_TILE

from .environment import (HDL_DIR, PACKAGE_DIR, REPO, VERILATED_MAKE_VARS, cosim_root,
                          verilator_env, verilator_version)
from .tbgen import (CLK_HALF_NS, TB_TOP, Port, find_top, make_tb_top, make_vlt, module_bodies,
                    parse_ports)

log = logging.getLogger(__name__)

# Flags that make Verilator's model fast and its build reasonably short. --timing is
# required by the delay-line macro's 1-10 ns delays (the WL pulse).
VERILATOR_FLAGS = [
    "--timing", "--threads", "1", "-O3", "--x-assign", "fast", "--x-initial", "fast",
    "--timescale", "1ns/1ps", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "20000",
]
#: Added for a chip with a hierarchical core block. Its root holds, per core instance, the
#: copies of the block's wide ports (the analog buses); split into functions of at most
#: this many statements, they compile in parallel and without the C++ compiler's
#: super-linear cost on one huge function.
HIER_FLAGS = ["--hierarchical", "--output-split-cfuncs", "1000"]
# Line and toggle coverage of the RTL (make coverage); the testbench's own modules are
# excluded from the report, not from the build.
COVERAGE_FLAGS = ["--coverage-line", "--coverage-toggle"]
MAKE_FLAGS = list(VERILATED_MAKE_VARS) + [
    # -Os is verilated.mk's default; -O2 on the model runs noticeably faster.
    # -O0 on the "slow" (construction / initial) code, which runs once.
    "OPT_FAST=-O2", "OPT_SLOW=-O0", "OPT_GLOBAL=-O2",
]
# The Verilator runtime objects (verilated.o, verilated_vpi.o, verilated_timing.o, ...) do
# not depend on the design: they are compiled once per flag set and copied into every
# new build directory (set NEURRAM_COSIM_NO_RUNTIME_CACHE=1 for a fully cold build).
RUNTIME_CACHE = "runtime"
#: The compiled core tile (hierarchical block) does not depend on the core count: its
#: objects are kept under ``<cosim root>/tiles/<hash of the tile's generated C++>`` and
#: copied into every build that verilates the same tile (a 48-core build after a 4-core
#: one compiles only its root). Keyed on the generated sources themselves, so a changed
#: tile can never pick up stale objects.
TILE_CACHE = "tiles"
#: C++ optimisation of the root model of a hierarchical build (``$NEURRAM_ROOT_OPT``, e.g.
#: ``-O1``): the root of a 48-core chip is most of its C++ and runs only the frame
#: decoder, the clock gates and the testbench; the tile keeps ``OPT_FAST`` of MAKE_FLAGS.
ROOT_OPT_ENV = "NEURRAM_ROOT_OPT"
SIM_MAIN = HDL_DIR / "sim_main.cpp"
LZ4_DIR = HDL_DIR / "lz4"


class BuildError(RuntimeError):
    """A Verilator or C++ compile step failed; the message names the build log."""


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
    verilate_s: float = 0.0   # of build_s: the verilator step (the rest is the C++ compile)
    tile_s: float = 0.0       # of build_s: the core tile's C++ (hierarchical builds)
    tile_cached: bool = False  # the tile's objects came from the tile cache
    root_opt: str = ""        # $NEURRAM_ROOT_OPT of the root's C++ (hierarchical builds)

    @property
    def ports(self) -> dict[str, Port]:
        return {p.name: p for p in self.tb_ports}

    @property
    def log(self) -> Path:
        return self.dir / "build.log"


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _harness_hdl() -> list[Path]:
    return sorted(HDL_DIR.glob("*.v"))


def harness_files() -> list[Path]:
    """Everything of the testbench that goes into a build (HDL, the C++ main loop and the
    LZ4 shim of traced builds)."""
    return _harness_hdl() + [SIM_MAIN] + sorted(LZ4_DIR.glob("*.[ch]"))


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
                 build_s=d.get("build_s", 0.0), verilate_s=d.get("verilate_s", 0.0),
                 tile_s=d.get("tile_s", 0.0), tile_cached=d.get("tile_cached", False),
                 root_opt=d.get("root_opt", ""))


def build_lz4(bdir: Path, logf) -> Path:
    """Compile the LZ4 shim (``cosim/hdl/lz4``) into ``bdir/lz4/liblz4.a`` for a traced
    build: Verilator's FST writer links ``-llz4`` and includes ``lz4.h``, which pip cannot
    install (see ``cosim/hdl/lz4/lz4_literals.c``). Returns the library's directory."""
    out = bdir / "lz4"
    out.mkdir(parents=True, exist_ok=True)
    obj = out / "lz4_literals.o"
    _run([os.environ.get("CC", "cc"), "-O2", "-fPIC", "-I", str(LZ4_DIR), "-c",
          str(LZ4_DIR / "lz4_literals.c"), "-o", str(obj)], bdir, logf)
    _run([os.environ.get("AR", "ar"), "rcs", str(out / "liblz4.a"), str(obj)], bdir, logf)
    return out


def build_jobs() -> int:
    """Parallel C++ compiles of one build (``$NEURRAM_BUILD_JOBS``, default: CPUs)."""
    return max(1, int(os.environ.get("NEURRAM_BUILD_JOBS", "0") or 0) or os.cpu_count() or 1)


def verilator_command(bdir: Path, sources: list[Path], waves: bool,
                      hierarchical: bool = False, coverage: bool = False) -> list[str]:
    from cocotb_tools import config

    libs = config.libs_dir
    cmd = ["verilator", "-cc", "--exe", "-Mdir", str(bdir), "--top-module", TB_TOP, "--vpi",
           "--prefix", "Vtop", "-o", TB_TOP,
           "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
           "-CFLAGS", f"-DNEURRAM_CLK_HALF_PS={CLK_HALF_NS * 1000}"]
    if waves:
        cmd += ["--trace-fst", "-CFLAGS", f"-I{LZ4_DIR}", "-LDFLAGS", f"-L{bdir / 'lz4'}"]
    if hierarchical:
        cmd += HIER_FLAGS + ["--build-jobs", str(build_jobs())]
    if coverage:
        cmd += COVERAGE_FLAGS
    return cmd + VERILATOR_FLAGS + [str(SIM_MAIN)] + [str(s) for s in sources]


def make_command(bdir: Path, waves: bool, target: str | None = None,
                 extra: tuple[str, ...] = ()) -> list[str]:
    return (["make", "-j", str(build_jobs()), "-C", str(bdir), "-f", "Vtop.mk",
             f"VM_TRACE={int(waves)}"] + MAKE_FLAGS + list(extra) + ([target] if target else []))


def split_tile(verilog: str) -> tuple[str, str]:
    """(the Verilog without the core tile's modules, the tile's modules), each with the
    text's leading directives (the timescale)."""
    starts = [m.start() for m in re.finditer(r"^module\s", verilog, re.M)]
    if not starts:
        return verilog, ""
    head, rest, tile = verilog[:starts[0]], [], []
    for a, b in zip(starts, starts[1:] + [len(verilog)]):
        chunk = verilog[a:b]
        name = re.match(r"module\s+\\?([\w$.]+)", chunk).group(1)
        (tile if name == CORE_TILE or name.startswith(CORE_TILE + ".") else rest).append(chunk)
    return head + "".join(rest), head + "".join(tile)


def _tile_source(tile_text: str) -> Path:
    """The tile's Verilog at a path that depends only on its text: Verilator writes the
    source path into the generated C++ (and the block's interface hash), so the same
    tile verilated in any build gives identical C++ and can share compiled objects."""
    path = cosim_root() / TILE_CACHE / "src" / _sha(tile_text) / f"{CORE_TILE}.v"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".v.{os.getpid()}.tmp")
        tmp.write_text(tile_text)
        tmp.replace(path)
    return path


def _root_opt() -> str:
    return os.environ.get(ROOT_OPT_ENV, "")


def _tile_dir(bdir: Path) -> Path:
    return bdir / f"V{CORE_TILE}"


def _tile_lib(bdir: Path) -> Path:
    return _tile_dir(bdir) / f"lib{CORE_TILE}.a"


def _tile_cache_dir(bdir: Path) -> Path:
    """The cache entry of the tile this build verilated: a hash of its generated model
    sources (build paths taken out), the make flags and the Verilator version.

    Not of the block's DPI glue (``<tile>.cpp`` and the wrapper ``<tile>.sv``): they
    carry an interface hash that Verilator derives per build directory, whatever the
    sources (and ``--protect-key``), so the glue is compiled in every build (seconds)
    and only the model's objects are shared."""
    tdir = _tile_dir(bdir)
    h = hashlib.sha256()
    for f in sorted(tdir.iterdir()):
        if f.suffix in (".cpp", ".h", ".mk") and f.stem != CORE_TILE:
            h.update(f.name.encode())
            h.update(f.read_bytes().replace(str(bdir).encode(), b"<build>"))
    h.update(" ".join(MAKE_FLAGS).encode() + verilator_version().encode())
    return cosim_root() / TILE_CACHE / h.hexdigest()[:16]


def _tile_objects(tdir: Path) -> list[Path]:
    # Precompiled headers, then the model's objects: the order make's timestamps must
    # have (each newer than what it is built from). Not the glue's object nor the
    # library, which make then rebuilds.
    return sorted(tdir.glob("*.gch")) + sorted(tdir.glob(f"V{CORE_TILE}*.o"))


def tile_seed(bdir: Path) -> bool:
    """Copy a cached compile of this build's tile into it (newer than its sources, so
    make skips the tile); True on a hit."""
    cdir = _tile_cache_dir(bdir)
    if not (cdir / "ok").exists():
        return False
    now = time.time()
    for f in _tile_objects(cdir):
        dst = _tile_dir(bdir) / f.name
        shutil.copyfile(f, dst)
        stamp = now + 1 + (f.suffix == ".o")
        os.utime(dst, (stamp, stamp))
    return True


def _publish(cdir: Path, files) -> None:
    """Copy ``files`` into the cache directory ``cdir`` unless it is complete: into a
    temporary directory first, renamed when whole, so a reader never sees half of it."""
    if (cdir / "ok").exists():
        return
    tmp = cdir.with_name(cdir.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, tmp / f.name)
    (tmp / "ok").write_text("")
    try:
        tmp.rename(cdir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)   # another process saved it first


def tile_save(bdir: Path) -> None:
    _publish(_tile_cache_dir(bdir), _tile_objects(_tile_dir(bdir)))


def _run(cmd: list[str], cwd: Path, logf) -> None:
    logf.write("$ " + " ".join(cmd) + "\n")
    logf.flush()
    proc = subprocess.run(cmd, cwd=cwd, env=verilator_env(), stdout=logf,
                          stderr=subprocess.STDOUT, check=False)
    if proc.returncode:
        raise BuildError(f"{cmd[0]} failed (exit {proc.returncode}); see {logf.name}")


def hier_blocks(verilog: str) -> tuple[str, ...]:
    """Modules verilated as hierarchical blocks: the core tile of a multi-core chip."""
    return (CORE_TILE,) if CORE_TILE in module_bodies(verilog) else ()


def build_design(name: str, verilog: str, waves: bool | None = None, n_cores: int | None = None,
                 build_dir: Path | None = None, force: bool = False,
                 coverage: bool = False) -> Build:
    """Build ``verilog`` (text holding the DUT and its submodules) inside ``tb_top``.

    Cached on the hash of the Verilog, the harness HDL, the flags and the Verilator version;
    ``build_dir`` forces a fresh directory, ``force`` rebuilds the cached one from scratch
    (both used to measure a cold build). ``coverage`` adds Verilator's line and toggle
    coverage (each run writes ``coverage.dat``, or ``$NEURRAM_COVERAGE_FILE``, at its end).
    """
    t0 = time.perf_counter()
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    dut_top = find_top(verilog)
    dut_ports = parse_ports(verilog, dut_top)
    tb_text, tb_ports = make_tb_top(dut_top, dut_ports)
    blocks = hier_blocks(verilog)
    vlt = make_vlt(tb_ports, blocks)
    harness = [p.read_text() for p in harness_files()]
    key = _sha(verilog, tb_text, vlt, *harness, " ".join(VERILATOR_FLAGS), " ".join(MAKE_FLAGS),
               str(waves), verilator_version(), *([" ".join(HIER_FLAGS)] if blocks else []),
               *([" ".join(COVERAGE_FLAGS)] if coverage else []),
               *([f"root {_root_opt()}"] if blocks and _root_opt() else []))
    root = cosim_root()
    tag = ("-waves" if waves else "") + ("-cov" if coverage else "")
    bdir = Path(build_dir) if build_dir else root / f"{name}{tag}-{key}"
    with _locked(root / "locks" / f"{bdir.name}.lock"):
        cached = _load_build(bdir) if build_dir is None and not force else None
        if cached is not None:
            cached.elapsed_s = time.perf_counter() - t0
            return cached
        if bdir.exists():
            shutil.rmtree(bdir)
        src = bdir / "src"
        src.mkdir(parents=True)
        tile_src = []
        if blocks:
            verilog, tile_text = split_tile(verilog)
            tile_src = [_tile_source(tile_text)]
        (src / "dut.v").write_text(verilog)
        (src / f"{TB_TOP}.v").write_text(tb_text)
        (src / "tb.vlt").write_text(vlt)
        sources = ([src / "tb.vlt"] + _harness_hdl() + tile_src
                   + [src / "dut.v", src / f"{TB_TOP}.v"])
        log.info("building %s in %s", name, bdir)
        tb0 = time.perf_counter()
        with open(bdir / "build.log", "w") as logf:
            if waves:
                build_lz4(bdir, logf)
            _run(verilator_command(bdir, sources, waves, hierarchical=bool(blocks), coverage=coverage),
                 bdir, logf)
            verilate_s = time.perf_counter() - tb0
            cache_runtime = os.environ.get("NEURRAM_COSIM_NO_RUNTIME_CACHE", "0") in ("", "0")
            tile_cached = False
            if cache_runtime:
                runtime_seed(bdir)
            if blocks:
                tile_cached = cache_runtime and tile_seed(bdir)
                # The tile first, at the make flags' optimisation; then the root, at
                # $NEURRAM_ROOT_OPT if set.
                _run(make_command(bdir, waves, target=str(_tile_lib(bdir).relative_to(bdir))),
                     bdir, logf)
                tile_s = time.perf_counter() - tb0 - verilate_s
                root_opt = _root_opt()
                _run(make_command(bdir, waves, extra=(f"OPT_FAST={root_opt}",) if root_opt else ()),
                     bdir, logf)
                tile_save(bdir)
            else:
                tile_s = 0.0
                _run(make_command(bdir, waves), bdir, logf)
            if cache_runtime:
                runtime_save(bdir)
        build_s = time.perf_counter() - tb0
        (bdir / "build.json").write_text(json.dumps({
            "name": name, "n_cores": n_cores, "waves": waves, "dut_top": dut_top,
            "tb_ports": [[p.name, p.direction, p.width] for p in tb_ports], "build_s": build_s,
            "verilate_s": verilate_s, "tile_s": tile_s, "tile_cached": tile_cached,
            "root_opt": _root_opt() if blocks else "",
        }))
    b = _load_build(bdir)
    b.built_now = True
    b.elapsed_s = time.perf_counter() - t0
    log.info("built %s in %.1f s (verilator %.1f s, tile C++ %.1f s%s)", name, build_s,
             verilate_s, tile_s, ", cached" if tile_cached else "")
    return b


def _runtime_dir(bdir: Path) -> Path:
    classes = (bdir / "Vtop_classes.mk").read_text()
    flags = [ln for ln in classes.splitlines() if "verilated" in ln or (
        ln.startswith("VM_") and not ln.startswith(("VM_CLASSES", "VM_SUPPORT", "VM_USER")))]
    key = _sha("\n".join(flags), " ".join(MAKE_FLAGS), verilator_version())
    return cosim_root() / RUNTIME_CACHE / key


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
    objects = sorted(bdir.glob("verilated*.o"))
    _publish(_runtime_dir(bdir), objects + [d for d in (f.with_suffix(".d") for f in objects)
                                            if d.exists()])


# --------------------------------------------------------------------------------------
# The chip
# --------------------------------------------------------------------------------------

def _input_files() -> list[Path]:
    """Everything the chip's Verilog and the harness are generated from."""
    files = []
    for pat in ("rtl/**/*.py", "rtl/**/*.rdl", "rtl/**/*.v"):
        files += REPO.glob(pat)
    files += harness_files()
    files += [PACKAGE_DIR / f for f in ("buildcache.py", "tbgen.py", "environment.py")]
    return sorted(f for f in set(files) if "__pycache__" not in f.parts)


def _input_key(n_cores: int, waves: bool, coverage: bool = False) -> str:
    h = hashlib.sha256()
    for f in _input_files():
        h.update(str(f.relative_to(REPO)).encode())
        h.update(f.read_bytes())
    h.update(f"{n_cores}|{waves}|{verilator_version()}|{_root_opt()}".encode())
    if coverage:
        h.update(b"|coverage")
    return h.hexdigest()[:16]


def core_verilog(n_cores: int) -> str:
    """The chip's Verilog text (all modules, delay-line macro model included)."""
    from rtl.generate import MACRO_DIR, verilog_for

    text = verilog_for(n_cores).read_text()
    defined = set(module_bodies(text))
    for macro in sorted(MACRO_DIR.glob("*.v")):
        mtext = macro.read_text()
        if not set(module_bodies(mtext)) <= defined:
            text += "\n" + mtext
    return text


def build_core(n_cores: int = 1, waves: bool | None = None, fresh_dir: Path | None = None,
               force: bool = False, coverage: bool = False) -> Build:
    """Build (or reuse) the chip with ``n_cores`` cores inside the testbench top.

    ``fresh_dir``: build into that (empty) directory instead of the cache; ``force``:
    rebuild the cached build from scratch; ``coverage``: with Verilator line and toggle
    coverage (:func:`build_design`)."""
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    t0 = time.perf_counter()
    index = cosim_root() / "index" / _input_key(n_cores, waves, coverage)
    if fresh_dir is None and not force and index.exists():
        b = _load_build(Path(index.read_text().strip()))
        if b is not None:
            b.elapsed_s = time.perf_counter() - t0
            return b
    b = build_design(f"core{n_cores}", core_verilog(n_cores), waves=waves, n_cores=n_cores,
                     build_dir=fresh_dir, force=force, coverage=coverage)
    if fresh_dir is None:
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(str(b.dir))
    b.elapsed_s = time.perf_counter() - t0
    return b

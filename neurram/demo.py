"""``neurram demo`` (``make demo``): the README's main job.

1. Generate the Verilog of one core and of the 48-core chip and print its summary
   (``rtl.generate``).
2. Run ``neurram mvm --backend cosim``: program a 64 x 64 weight matrix into a
   cosimulated core (write-verify through the chip for small matrices, else the
   simulation-only backdoor load -- the report says which), calibrate, send a few input
   vectors over SPI, read the outputs, and print the RMSE against the float product and
   whether every output code equals the golden model's.

If a part is missing (no Verilog generator, no simulator) the demo says so and goes on
with what exists; it never prints a result it did not compute.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path


def _verilog(out: Path) -> bool:
    print("== 1. Verilog ==========================================================")
    try:
        import rtl.generate as gen
    except ImportError as e:
        print(f"   rtl.generate is not available ({e}); skipping the Verilog summary.")
        return False
    try:
        # the one-core top only: the 48-core chip takes minutes (`make verilog` builds both)
        rc = gen.main(["--out", str(out), "--cores", "1"])
    except SystemExit as e:
        rc = e.code
    except Exception as e:   # report, do not hide, and go on with the MVM
        print(f"   Verilog generation failed: {type(e).__name__}: {e}")
        return False
    return not rc


def _mvm(backend: str, rows: int, cols: int, vectors: int, seed: int, out: Path) -> int:
    from neurram import mvm_cli

    # the golden fallback programs the same way the cosim run would (auto threshold of
    # the cosim backend), so that both print comparable numbers
    program = "auto" if backend == "cosim" else (
        "write-verify" if 2 * rows * cols <= mvm_cli.AUTO_WV_CELLS["cosim"] else "backdoor")
    args = ["--backend", backend, "--rows", str(rows), "--cols", str(cols),
            "--vectors", str(vectors), "--seed", str(seed), "--program", program, "--quiet",
            "--json", str(out / f"demo_mvm_{backend}.json"),
            "--plot", str(out / f"demo_mvm_{backend}.png")]
    return mvm_cli.main(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="neurram demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("build"), help="output directory (default build/)")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--cols", type=int, default=64)
    p.add_argument("--vectors", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-verilog", action="store_true")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    ok_v = True if a.skip_verilog else _verilog(a.out / "verilog")
    print("== 2. Cosimulated MVM ===================================================")
    try:
        import cosim.session  # noqa: F401  (the cocotb harness)
        rc = _mvm("cosim", a.rows, a.cols, a.vectors, a.seed, a.out)
    except Exception as e:
        traceback.print_exc(limit=3)
        print(f"   The cosimulation could not run ({type(e).__name__}: {e}).")
        print("   Running the same transactions on the golden model instead; this is NOT a "
              "cosimulation result:")
        rc = _mvm("model", a.rows, a.cols, a.vectors, a.seed, a.out)
        rc = rc or 1
    return 0 if (rc == 0 and ok_v) else 1


if __name__ == "__main__":
    sys.exit(main())

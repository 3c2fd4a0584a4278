"""``python -m formal [--mutants] [--only NAME ...] [--report PATH]``: run the proofs.

Prints one line per proof (and per mutant with ``--mutants``) and writes a markdown table
(default ``build/formal/summary.md``). Exit status 1 when a proof does not pass or a mutant
does not break its proof.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .sby import BUILD, run
from .suite import all_proofs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m formal", description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", action="store_true", help="also check that every mutant fails")
    ap.add_argument("--only", nargs="*", default=None, help="proof names to run")
    ap.add_argument("--report", type=Path, default=BUILD / "summary.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    proofs = [p for p in all_proofs() if args.only is None or p.name in args.only]
    if not proofs:
        print("no proof selected", file=sys.stderr)
        return 2
    rows, ok = [], True
    t0 = time.monotonic()
    for p in proofs:
        for mutant in [None] + (sorted(p.mutants) if args.mutants else []):
            r = run(p, mutant)
            good = r.passed if mutant is None else not r.passed
            ok &= good
            depth = f"{p.mode} {p.depth}"
            print(f"{'ok ' if good else 'BAD'} {r.proof:45s} {r.status:8s} {depth:10s} "
                  f"{r.seconds:7.1f} s", flush=True)
            rows.append((r, p, mutant, good))
    total = time.monotonic() - t0
    lines = ["# Formal proofs", "", f"Total {total:.0f} s.", "",
             "| proof | mutant | mode, depth | result | time (s) | property |",
             "|---|---|---|---|---|---|"]
    for r, p, mutant, good in rows:
        what = p.what if mutant is None else "(must fail)"
        mark = r.status if good else f"**{r.status}** (unexpected)"
        lines.append(f"| {p.name} | {mutant or ''} | {p.mode} {p.depth} | {mark} | "
                     f"{r.seconds:.1f} | {what} |")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    print(f"total {total:.1f} s; report {args.report}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

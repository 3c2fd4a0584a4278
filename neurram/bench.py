"""``neurram bench``: every speed figure of the project, measured in one run.

Each section is a ``run(**kwargs) -> dict`` of flat keys owned by the package it measures
(``cosim.bench``, ``analog_models.bench``, ...), with that package's ``GOALS`` beside it;
this module only runs the sections the user asked for, prints one table and writes JSON.
Ratios are taken inside a section, in the same run, so that a drifting host cancels out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

# section name -> (module, keyword arguments taken from the command line)
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cosim": ("cosim.bench", ("mvms", "seed", "cold")),
    "analog": ("analog_models.bench", ()),
    "sweep": ("neurram.sweeps.bench", ()),
    "net": ("neurram.nets.bench", ("seed",)),
    "fast": ("neurram.fast", ()),
    "chip": ("cosim.chip_bench", ("chip_mvms", "seed", "cold")),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="neurram bench", description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the results here (e.g. build/bench.json)")
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS),
                    help="run only this section (repeatable; default: all)")
    ap.add_argument("--mvms", type=int, default=50, help="MVM transactions to time (default 50)")
    ap.add_argument("--chip-mvms", type=int, default=3,
                    help="parallel MVMs on all 48 cores to time in the chip section (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="seed of inputs and analog models")
    ap.add_argument("--no-cold", dest="cold", action="store_false",
                    help="skip the cold build measurements")
    args = ap.parse_args(argv)

    res: dict = {}
    goals: dict = {}
    for name in args.only or SECTIONS:
        module_name, arg_names = SECTIONS[name]
        module = importlib.import_module(module_name)
        res.update(module.run(**{k: getattr(args, k) for k in arg_names}))
        goals.update(getattr(module, "GOALS", {}))

    width = max(len(k) for k in res)
    print(f"{'metric':<{width}}  {'value':>14}  goal")
    for k, v in res.items():
        goal = goals.get(k)
        gtxt = f"{goal[0]} {goal[1]}" if goal else ""
        vtxt = f"{v:14.4g}" if isinstance(v, float) else f"{v!s:>14}"
        print(f"{k:<{width}}  {vtxt}  {gtxt}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

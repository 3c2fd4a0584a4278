"""``neurram`` console script: one entry point, each subcommand owned by its package.

Subcommands forward their remaining arguments to a module's ``main(argv)`` so that each
part of the project keeps its own argument parser next to its code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "verilog": ("rtl.generate", "generate Verilog for one core and the 48-core chip"),
    "fidelity": ("analog_models.fidelity", "reproduce the paper's measured figures (JSON + PNG)"),
    "mvm": ("neurram.mvm_cli", "program a weight matrix and run MVM transactions"),
    "bench": ("neurram.bench", "speed benchmark (cosim, golden model, analog model)"),
    "sweep": ("neurram.sweeps.cli", "sweeps and Monte Carlo over simulated chips on Dask"),
    "demo": ("neurram.demo", "the README's main job: Verilog summary and a cosimulated MVM"),
    "net": ("neurram.nets.cli", "networks on the chip: train, deploy, calibrate, eval, finetune, report"),
    "rbm": ("neurram.rbm.cli", "RBM image recovery on the chip model (train, recover, report)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="neurram", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, helptext) in SUBCOMMANDS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(SUBCOMMANDS)}")
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())

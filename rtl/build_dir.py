"""Where generated files go: one build directory, outside the source tree.

``$NEURRAM_BUILD_DIR`` if set, else ``./build`` of the working directory, so that an
installed (non-editable) package never writes next to its sources.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["build_dir"]


def build_dir() -> Path:
    """The build directory (not created)."""
    return Path(os.environ.get("NEURRAM_BUILD_DIR") or Path.cwd() / "build").resolve()

"""Argument checks shared by the firmware modules."""

from __future__ import annotations

import math

import numpy as np

def finite_number(name, v, lo=None, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v!r}")
    return float(v)

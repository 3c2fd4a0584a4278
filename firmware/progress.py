"""Progress bars of long host operations: one helper, one policy.

A bar appears only for a loop long enough to be worth watching (``min_items``, default
:data:`MIN_CELLS` for per-cell loops, :data:`MIN_VECTORS` for per-vector MVM loops, whose
items cost more SPI frames each) and redraws at most every :data:`MIN_INTERVAL_S`.
Bars never stay on screen after the loop (``leave=False``).
"""

from __future__ import annotations

from tqdm.auto import tqdm

MIN_CELLS = 500        #: per-cell loops (programming, reads) shorter than this show no bar
MIN_VECTORS = 200      #: per-vector MVM loops (vectors x cores) shorter than this show no bar
MIN_INTERVAL_S = 2.0   #: redraw interval


def progress(iterable, *, desc: str | None, enabled: bool = True, min_items: int = MIN_CELLS,
             work: int | None = None, unit: str = "it"):
    """``iterable`` wrapped in a tqdm bar when ``enabled``, ``desc`` is set and the loop has
    at least ``min_items`` items (or ``work`` units, when given)."""
    size = work if work is not None else (len(iterable) if hasattr(iterable, "__len__") else min_items)
    show = enabled and desc is not None and size >= min_items
    return tqdm(iterable, desc=desc, unit=unit, disable=not show, leave=False,
                mininterval=MIN_INTERVAL_S)

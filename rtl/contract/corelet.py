"""The corelet map: which BL and SL each of a core's 256 neurons serves (SPEC §3).

The 256 x 256 array is tiled into 16 x 16 corelets; the neuron of corelet ``(i, j)`` has
index ``16*i + j``, sits on BL ``16*i + j`` and reaches SL ``16*j + i`` through its SL
switch. The register files are entry-indexed, the comparator and noise buses
neuron-indexed, so every write-back through the SL switch goes through this map.
"""

from __future__ import annotations

import numpy as np

from .constants import N_LINES

CORELET = 16    #: neurons per corelet side


def neuron_bl(k):
    """BL of neuron ``k`` (neuron of corelet (i, j) has index 16*i + j)."""
    return k


def neuron_sl(k):
    """SL of neuron ``k``: corelet (i, j) reaches SL 16*j + i (int or integer array)."""
    k = k if isinstance(k, int) else np.asarray(k)
    return CORELET * (k % CORELET) + k // CORELET


def neuron_of_sl(j):
    """Neuron on SL ``j``: the inverse of :func:`neuron_sl` (the map is an involution)."""
    return neuron_sl(j)


#: ``NEURON_SL[k]``: SL entry written by neuron ``k``.
NEURON_SL = np.array([neuron_sl(k) for k in range(N_LINES)], dtype=np.int64)
NEURON_SL.flags.writeable = False
#: ``SL_NEURON[j]``: neuron on SL ``j``.
SL_NEURON = np.argsort(NEURON_SL)
SL_NEURON.flags.writeable = False

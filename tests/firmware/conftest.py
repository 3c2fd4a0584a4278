"""Fixtures: a chip on the golden model (the firmware's fast backend)."""

import pytest

from firmware.lowlevel import Chip
from firmware.midlevel import MidLevel


def golden_mid(n_cores=1, ideal=True, seed=0):
    from analog_models.params import AnalogParams
    from cosim.transport import GoldenTransport

    p = AnalogParams.ideal() if ideal else AnalogParams()
    t = GoldenTransport(n_cores=n_cores, params=p, seed=seed)
    return MidLevel(Chip(t), p, progress=False)


@pytest.fixture
def mid_ideal():
    return golden_mid(1, ideal=True)


@pytest.fixture
def mid_real():
    return golden_mid(1, ideal=False, seed=3)


"""Fixtures: a chip on the golden model (the firmware's fast backend)."""

import pytest

from firmware.lowlevel import Chip
from firmware.midlevel import MidLevel


def golden_mid(n_cores=1, ideal=True, seed=0):
    import os

    from analog_models.params import AnalogParams

    p = AnalogParams.ideal() if ideal else AnalogParams()
    if os.environ.get("FW_FAKE_MODEL"):   # developer switch: register fake + analog model
        from tests.firmware.fakechip import ModelTransport
        t = ModelTransport(n_cores=n_cores, params=p, seed=seed)
    else:
        from cosim.transport import GoldenTransport
        t = GoldenTransport(n_cores=n_cores, params=p, seed=seed)
    return MidLevel(Chip(t), p, progress=False)


@pytest.fixture
def mid_ideal():
    return golden_mid(1, ideal=True)


@pytest.fixture
def mid_real():
    return golden_mid(1, ideal=False, seed=3)


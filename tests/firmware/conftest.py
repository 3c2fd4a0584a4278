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


#: Known contract bug (reported to the lead): in PROGRAM mode the controller drives every
#: unselected SL to GND (docs/analog_bus.md "Unselected lines are GND"), so a SET or READ
#: with BL[row] at VPROG reaches every cell of the row (the WL of the row is on): one SET
#: programs 256 cells and the board ADC reads the row's total current. Unselected SLs
#: must float for SET/READ. Tests that need single-cell programming are xfail until fixed.
ROW_WIDE_PROG = pytest.mark.xfail(
    reason="controller drives unselected SLs to GND in PROGRAM mode: SET/READ hit the whole row",
    strict=False)

"""Fixtures of the cosimulation regression: one cached Verilator build per configuration."""

from __future__ import annotations

import pytest

from cosim import runner


@pytest.fixture(scope="session")
def buschip_build():
    from cosim.tb.buschip import buschip_verilog

    return runner.build_design("buschip", buschip_verilog(), n_cores=1)

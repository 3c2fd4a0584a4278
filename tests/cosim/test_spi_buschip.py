"""SPI frames, register access and every bad-frame case on the bus chip
(SPI slave + frame decoder + core registers + files), checked against FrameModel."""

from __future__ import annotations

import pytest

from cosim import runner

# The real chip's tests cover this path in `make test`; these run in `make regress`.
pytestmark = [pytest.mark.cosim, pytest.mark.slow]


def test_spi_regs_and_bursts(buschip_build):
    runner.run_cocotb("cosim.tb.spi_tests", buschip_build, testcase=["reg_read_write", "rf_bursts"])


def test_spi_malformed(buschip_build):
    runner.run_cocotb("cosim.tb.spi_tests", buschip_build, testcase=["malformed_frames", "sclk_too_fast"])


@pytest.mark.slow
def test_spi_random_bad_frames(buschip_build):
    runner.run_cocotb("cosim.tb.spi_tests", buschip_build, testcase="random_bad_frames")

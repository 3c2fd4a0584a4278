"""The cosim harness itself, on a toy Amaranth SPI device (no chip needed)."""

from __future__ import annotations

import pytest

from cosim import runner
from cosim.tb.toy import toy_verilog

# The real chip's tests cover this path in `make test`; these run in `make regress`.
pytestmark = [pytest.mark.cosim, pytest.mark.slow]


@pytest.fixture(scope="module")
def toy_build():
    return runner.build_design("toy", toy_verilog())


def test_toy_cached(toy_build):
    again = runner.build_design("toy", toy_verilog())
    assert again.dir == toy_build.dir and not again.built_now
    assert again.elapsed_s < 5


def test_toy_vlt_only_top_ports(toy_build):
    vlt = (toy_build.dir / "src" / "tb.vlt").read_text()
    assert "-module \"tb_top\"" in vlt and "dut" not in vlt


def test_toy_echo(toy_build):
    runner.run_cocotb("cosim.tb.toy_tests", toy_build, testcase=["echo_frames", "cut_frame", "raw_speed", "clock_stop"])

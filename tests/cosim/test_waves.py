"""WAVES=1: a traced build writes an FST waveform that a reader can open and that shows
what the simulation did (the toy SPI device: genuine SPI at the pins)."""

from __future__ import annotations

import numpy as np
import pytest

from cosim import runner
from cosim.tb.toy import toy_verilog

pytestmark = pytest.mark.cosim


def test_fst_waveform(tmp_path):
    pywellen = pytest.importorskip("pywellen")
    build = runner.build_design("toy", toy_verilog(), waves=True)
    runner.run_cocotb("cosim.tb.toy_tests", build, testcase=["echo_frames"], waves=True,
                      test_dir=tmp_path)
    dump = tmp_path / "dump.fst"
    assert dump.exists(), sorted(p.name for p in tmp_path.iterdir())
    wave = pywellen.Waveform(str(dump))
    assert wave.file_format == "FST"
    signals = {v.full_name: v for v in wave.all_vars()}
    clk = np.array(list(signals["tb_top.clk"].tv))
    sclk = np.array(list(signals["tb_top.spi_sclk"].tv))
    cs_n = np.array(list(signals["tb_top.spi_cs_n"].tv))
    # clk toggles every 5 ns (1 ps timescale); SCLK runs at clk/4 while CS_N is low.
    assert set(np.diff(clk[:200, 0])) == {5000}
    rises = sclk[sclk[:, 1] == 1, 0]
    assert min(np.diff(rises)) == 40_000
    # echo_frames sends frames of 1, 3, 4, 5, 9 and 40 bytes: one SCLK rise per bit, and
    # one CS_N fall per frame.
    assert len(rises) == 8 * (1 + 3 + 4 + 5 + 9 + 40)
    assert int(np.sum(cs_n[1:, 1] == 0)) == 6

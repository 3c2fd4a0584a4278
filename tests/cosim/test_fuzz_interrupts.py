"""Directed interrupts and interlocks at the pins (cosim/tb/interrupt_tests.py) on the
one-core build: aborts timed into the controller's one- and two-cycle states (each recovery
checked against the golden model), bursts into a busy core refused."""

from __future__ import annotations

import pytest

from cosim import runner
from cosim.coverage import functional_holes

pytestmark = pytest.mark.cosim


def test_abort_short_states(tmp_path):
    fcov_file = tmp_path / "fcov.yml"
    runner.run_cocotb("cosim.tb.interrupt_tests", runner.build_core(1),
                      testcase="abort_short_states",
                      extra_env={"NEURRAM_FCOV_FILE": str(fcov_file)})
    merged, _ = functional_holes([fcov_file])
    hit = {b for b, n in merged["neurram.op.interrupt"].items() if n}
    for state in ("NOISE", "PROG_END", "RESET", "COMPARE", "LATCH", "WR", "DECR", "INTEG",
                  "PROG_BEGIN", "IDLE"):
        assert any(state in b and "abort" in b for b in hit), (state, sorted(hit))


def test_burst_into_busy_core(tmp_path):
    fcov_file = tmp_path / "fcov.yml"
    runner.run_cocotb("cosim.tb.interrupt_tests", runner.build_core(1),
                      testcase="burst_into_busy_core",
                      extra_env={"NEURRAM_FCOV_FILE": str(fcov_file)})
    merged, _ = functional_holes([fcov_file])
    assert merged["neurram.frame.error"]["CORE_BUSY"] == 3

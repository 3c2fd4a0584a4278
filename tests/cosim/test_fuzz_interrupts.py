"""Directed interrupts and interlocks at the pins (cosim/tb/interrupt_tests.py) on the
one-core build: aborts timed into the controller's one- and two-cycle states (each recovery
checked against the golden model), bursts into a busy core refused."""

from __future__ import annotations

import pytest

from cosim import runner
from cosim.coverage import functional_holes

pytestmark = pytest.mark.cosim


def _run(testcase, tmp_path) -> dict:
    """Run one directed test; its functional-coverage bins (hit counts)."""
    fcov_file = tmp_path / "fcov.yml"
    runner.run_cocotb("cosim.tb.interrupt_tests", runner.build_core(1), testcase=testcase,
                      extra_env={"NEURRAM_FCOV_FILE": str(fcov_file)})
    return functional_holes([fcov_file])[0]


def test_abort_short_states(tmp_path):
    hit = {b for b, n in _run("abort_short_states", tmp_path)["neurram.op.interrupt"].items()
           if n}
    for state in ("NOISE", "PROG_END", "RESET", "WL_PULSE", "SAMPLE", "COMPARE", "LATCH",
                  "WR", "DECR", "INTEG", "PROG_BEGIN", "IDLE"):
        assert any(state in b and "abort" in b for b in hit), (state, sorted(hit))


def test_burst_into_busy_core(tmp_path):
    assert _run("burst_into_busy_core", tmp_path)["neurram.frame.error"]["CORE_BUSY"] == 3

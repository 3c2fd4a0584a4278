"""Directed interrupts and interlocks at the pins (cosim/tb/interrupt_tests.py) on the
one-core build: aborts timed into the controller's one- and two-cycle states (each recovery
checked against the golden model), bursts into a busy core refused."""

from __future__ import annotations

import pytest

from cosim import runner
from cosim.coverage import functional_holes
from cosim.tb import fcov

pytestmark = pytest.mark.cosim


def _run(testcase, tmp_path) -> dict:
    """Run one directed test; its functional-coverage bins (hit counts)."""
    fcov_file = tmp_path / "fcov.yml"
    runner.run_cocotb("cosim.tb.interrupt_tests", runner.build_core(1), testcase=testcase,
                      extra_env={"NEURRAM_FCOV_FILE": str(fcov_file)})
    return functional_holes([fcov_file])[0]


def _missing(testcase, kind, tmp_path) -> list[str]:
    """Controller states (fcov names) an interrupt of ``kind`` never met in the test."""
    hit = {b for b, n in _run(testcase, tmp_path)["neurram.op.interrupt"].items() if n}
    return [s for s in fcov.STATES if not any(s in h and kind in h for h in hit)]


def test_abort_short_states(tmp_path):
    assert _missing("abort_short_states", "abort", tmp_path) == []


def test_reset_short_states(tmp_path):
    assert _missing("reset_short_states", "reset", tmp_path) == []


def test_burst_into_busy_core(tmp_path):
    assert _run("burst_into_busy_core", tmp_path)["neurram.frame.error"]["CORE_BUSY"] == 3


def test_refused_starts(tmp_path):
    _run("refused_starts", tmp_path)

"""Aborts timed into the controller's one- and two-cycle states (cosim/tb/interrupt_tests.py)
on the one-core build, each recovery checked against the golden model."""

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

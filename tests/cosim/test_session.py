"""run_with_cosim: a firmware job inside the simulator, its result back, equal to golden."""

from __future__ import annotations

import pytest

from cosim.examples import probe
from cosim.session import run_with_cosim
from cosim.transport import GoldenTransport

pytestmark = pytest.mark.cosim


def test_run_with_cosim_matches_golden():
    res = run_with_cosim("cosim.examples:probe", {"seed": 5}, n_cores=1, seed=9)
    want = probe(GoldenTransport(1, seed=9), seed=5)
    assert res["chip_id"] == 0x4E52 and res["n_cores"] == 1
    assert res["codes"] == want["codes"]


def test_bad_entry_fails_early():
    with pytest.raises((ValueError, ImportError, AttributeError)):
        run_with_cosim("cosim.examples:nonexistent", {})

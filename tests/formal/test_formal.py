"""The formal proofs (formal/) pass, and every mutant breaks its proof.

Each case runs SymbiYosys (``yowasp-sby``); ``make formal`` runs the same set from the
command line with a summary table. Marked slow: ``make regress`` runs them.
"""

from __future__ import annotations

import pytest

from formal import sby
from formal.suite import all_proofs

PROOFS = all_proofs()
CASES = [(p, None) for p in PROOFS] + [(p, m) for p in PROOFS for m in sorted(p.mutants)]


@pytest.mark.slow
@pytest.mark.parametrize("proof,mutant", CASES,
                         ids=[p.name + (f"-{m}" if m else "") for p, m in CASES])
def test_proof(proof, mutant, tmp_path):
    r = sby.run(proof, mutant, build=tmp_path)
    if mutant is None:
        assert r.status == "PASS", f"{proof.name}: {r.status}, log {r.logfile}"
    else:
        assert r.status in ("FAIL", "UNKNOWN"), (
            f"mutant {mutant} did not break {proof.name} ({r.status}); log {r.logfile}")

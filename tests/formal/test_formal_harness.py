"""Fast checks of the formal tooling (no solver): every proof elaborates, with and without
each of its mutants, and every mutant changes the design it is applied to."""

from __future__ import annotations

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Signal

from formal import mutate, probe
from formal.sby import Proof, sby_text
from formal.suite import all_proofs

PROOFS = all_proofs()
# Elaborating a component by hand (as the harnesses and these checks do) leaves the
# Module objects that Amaranth never converts: its unused-elaboratable warning is noise.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _il(proof, mutant=None):
    import contextlib

    ctx = proof.mutants[mutant]() if mutant else contextlib.nullcontext()
    with ctx:
        top, ports = proof.harness()
        return rtlil.convert(top, name="top", ports=ports)


def test_names_unique_and_every_proof_has_a_mutant():
    names = [p.name for p in PROOFS]
    assert len(names) == len(set(names))
    assert all(p.mutants for p in PROOFS)


@pytest.mark.parametrize("proof", [p for p in PROOFS if p.name in (
    "lfsr_nonzero", "clockgate_glitch_free", "frame_regblock")], ids=lambda p: p.name)
def test_mutants_change_the_design(proof):
    base = _il(proof)
    assert "assert" in base.lower()
    for m in proof.mutants:
        assert _il(proof, m) != base, m


def test_resized_unknown_signal_is_an_error():
    import rtl.lfsr
    from rtl.lfsr import LfsrPair

    with pytest.raises(LookupError):
        with mutate.resized(rtl.lfsr, "no_such_signal", 3):
            LfsrPair().elaborate(None)


def test_probe_records_named_signals():
    import rtl.lfsr
    from rtl.lfsr import LfsrPair

    _, p = probe.elaborate(LfsrPair(), rtl.lfsr)
    assert isinstance(p["a"], Signal) and len(p["a"]) == 256
    with pytest.raises(KeyError):
        p["not_there"]


def test_proof_validation_and_sby_text():
    with pytest.raises(ValueError):
        Proof("Bad Name", lambda: None, "prove", 1, "x")
    with pytest.raises(ValueError):
        Proof("ok", lambda: None, "sometimes", 1, "x")
    text = sby_text(Proof("ok", lambda: None, "bmc", 7, "x", multiclock=True))
    assert "mode bmc" in text and "depth 7" in text and "multiclock on" in text

"""Tests the regress-kind tests run as a shard (named explicitly; pytest's default
discovery skips this file because its name does not start with ``test_``)."""


def test_passes():
    pass


def test_passes_too():
    pass


def test_fails():
    assert False, "this failure is expected by the sweep tests"

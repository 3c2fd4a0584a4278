"""Formal proofs of the control logic (``make formal``; docs/verification.md).

Each block has a harness module here: an Amaranth elaboratable that instantiates the
component through its public module path, leaves its inputs free (top-level ports are
unconstrained at every step), states the environment's guarantees as ``Assume`` and the
block's properties as ``Assert``. :mod:`formal.sby` converts a harness to RTLIL and proves
it with SymbiYosys (``yowasp-sby``, z3). Every proof lists mutants: context managers that
change one rule of the design while it is elaborated; each must make its proof fail, so a
proof that cannot fail is caught (tests/formal).
"""

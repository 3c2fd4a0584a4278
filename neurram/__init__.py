"""The application layer: the ``neurram`` command line, demos, networks, RBM and sweeps.

Everything here sits on top of ``firmware`` (and ``cosim`` where a run asks for the
cosimulation); nothing below imports this package.
"""

"""Every proof of ``make formal``, in the order they run."""

from __future__ import annotations


def all_proofs() -> list:
    from . import clockgate, controller, frame, lfsr, regfile

    return [*lfsr.PROOFS, *clockgate.PROOFS, *controller.PROOFS, *frame.PROOFS,
            *regfile.PROOFS]

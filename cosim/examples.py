"""Small firmware jobs for :func:`cosim.session.run_with_cosim` (used by its tests and docs).

Each takes the transport first, like every job run through the session.
"""

from __future__ import annotations

import numpy as np


def probe(transport, seed: int = 0, in_bits: int = 4, out_bits: int = 6) -> dict:
    """Chip IDs, then one forward MVM through the firmware driver; returns the codes."""
    from firmware import lowlevel as ll

    chip = ll.Chip(transport)
    rng = np.random.default_rng(seed)
    x = rng.integers(-(2 ** (in_bits - 1) - 1), 2 ** (in_bits - 1), size=256)
    chip.write_fields(0, "CTRL", mode="MVM", dir="FWD")
    chip.write_fields(0, "BITS", in_bits=in_bits, out_bits=out_bits)
    chip.load_rf(0, ll.RegFile.BL, ll.encode_inputs(x, in_bits), width=in_bits)
    chip.start(0)
    chip.wait_done(0)
    codes = chip.read_rf(0, ll.RegFile.SL, width=out_bits)
    return {"chip_id": chip.read_chip_reg("CHIP_ID"), "n_cores": chip.n_cores,
            "codes": np.asarray(codes).tolist()}

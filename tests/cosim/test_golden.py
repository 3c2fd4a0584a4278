"""The golden chip on its own (no simulator): frames, register semantics, MVMs.

The MVM check compares two independent paths: the golden chip (frame model, register
files, ``ControllerModel`` events into ``CoreModel.handle``) and the analog model's own
vectorised ``CoreModel.mvm`` with the same seed. Both must give identical codes.
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.golden import GoldenChip, initial_conductance, make_core_models
from cosim.mvmjob import MvmSetup, input_codes, random_inputs, run_mvm_golden, setup_frames
from cosim.transport import GoldenTransport
from firmware import lowlevel as ll


def test_ids_and_reset_values():
    chip = GoldenChip(2, seed=1)
    assert ll.decode_reg_read(chip.spi(ll.encode_reg_read(0, 0x00))) == 0x4E43
    assert ll.decode_reg_read(chip.spi(ll.encode_reg_read(ll.CHIP, 0x00))) == 0x4E52
    assert ll.decode_reg_read(chip.spi(ll.encode_reg_read(ll.CHIP, 0x01))) == 2
    assert ll.decode_reg_read(chip.spi(ll.encode_reg_read(1, 0x02))) == 0x5364   # BITS reset


def test_bad_frame_changes_nothing():
    chip = GoldenChip(1, seed=1)
    chip.spi(ll.encode_reg_write(0, 0x08, 0x1234))
    chip.spi(ll.encode_reg_write(0, 0x08, 0x5678)[:4])          # short frame
    assert chip.spi_err == 4
    assert ll.decode_reg_read(chip.spi(ll.encode_reg_read(0, 0x08))) == 0x1234


def test_models_are_seeded_per_core():
    a = make_core_models(2, seed=7)
    b = make_core_models(2, seed=7)
    assert np.array_equal(a[0].G, b[0].G) and not np.array_equal(a[0].G, a[1].G)
    assert not np.array_equal(make_core_models(1, seed=8)[0].G, a[0].G)


@pytest.mark.parametrize("case", [
    dict(direction=0, in_bits=4, out_bits=6),
    dict(direction=1, in_bits=3, out_bits=5, act=1),
    dict(direction=0, in_bits=6, out_bits=8, two_phase=True, split=3, out_bits_lsb=5),
])
def test_mvm_matches_vectorised_analog_model(case):
    """Golden chip (event path through the controller model) == CoreModel.mvm."""
    from analog_models import CoreModel
    from analog_models.params import AnalogParams

    seed = 11
    s = MvmSetup(**case)
    chip = GoldenChip(1, seed=seed)
    for f in setup_frames(s):
        chip.spi(f)
    rng = np.random.default_rng(3)
    x = random_inputs(s, rng)
    got = run_mvm_golden(chip, s, x, both=True)
    from cosim.golden import core_seed

    ref = CoreModel(initial_conductance(AnalogParams(), core_seed(seed, 0)), AnalogParams(),
                    seed=core_seed(seed, 0))
    want = ref.mvm(input_codes(s, x), s.core_config())
    want = list(want) if isinstance(want, tuple) else [want]
    for g, w in zip(got, want):
        assert np.array_equal(g, np.asarray(w).reshape(-1)), "golden chip != CoreModel.mvm"


def test_transport_backdoor_and_adc():
    t = GoldenTransport(1, seed=2)
    g = np.full((256, 256), 1.0)
    g[5, 9] = 20.0
    t.backdoor_set_conductance(0, g)
    assert np.array_equal(t.backdoor_get_conductance(0), g)
    with pytest.raises(RuntimeError):
        t.board_adc_uS(0)


def test_recording_chip_backdoor_reaches_the_model():
    chip = GoldenChip(1, seed=4, record=True)
    g = np.full((256, 256), 3.0)
    chip.set_conductance(0, g)
    assert np.array_equal(chip.models[0].model.G, g)

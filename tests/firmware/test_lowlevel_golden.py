"""Low level against the golden model: identification, SPI errors, power gating, bursts,
programming pulses and the board ADC, parallel start."""

import numpy as np
import pytest

from firmware import lowlevel as ll
from tests.firmware.conftest import golden_mid


def test_identify_and_register_roundtrip():
    chip = golden_mid(n_cores=2).chip
    assert chip.n_cores == 2
    chip.write_fields(1, "BITS", in_bits=7, out_bits=9)
    chip.invalidate()
    f = chip.fields("BITS", chip.read_reg(1, "BITS"))
    assert (f["in_bits"], f["out_bits"]) == (7, 9)
    assert chip.read_field(0, "BITS", "in_bits") == 4          # core 0 untouched (reset value)
    chip.write_fields(ll.BROADCAST, "VREAD", code=77)
    chip.invalidate()
    assert [chip.read_field(c, "VREAD", "code") for c in (0, 1)] == [77, 77]


@pytest.mark.parametrize("width", [1, 3, 7, 10])
def test_register_file_bursts(width):
    chip = golden_mid(n_cores=1).chip
    v = np.random.default_rng(width).integers(0, 1 << width, size=100)
    chip.load_rf(0, ll.RegFile.SL, v, width=width, start=50)
    assert chip.read_rf(0, ll.RegFile.SL, start=50, count=100, width=width).tolist() == v.tolist()
    chip.check_spi()   # no bad frame


def test_spi_error_read_and_clear():
    chip = golden_mid(n_cores=1).chip
    chip.transport.spi(bytes([0x7F, 0, 0, 0, 0]))               # unknown opcode
    code, count = chip.spi_error()
    assert code == int(chip.enums["SpiErr"].BAD_OPCODE) and count == 1
    with pytest.raises(ll.SpiError, match="BAD_OPCODE"):
        chip.check_spi()
    chip.clear_spi_error()
    assert chip.spi_error() == (0, 0)


def test_power_gating_refuses_start():
    chip = golden_mid(n_cores=1).chip
    chip.set_power(0, False)
    assert chip.status(0)["pwr_gated"] == 1
    chip.write_fields(0, "CTRL", mode="MVM")
    with pytest.raises(ll.ConfigError, match="DISABLED"):
        chip.run(0)
    chip.set_power(0, True)
    assert chip.run(0)["done"] == 1


def test_idle_mode_start_is_refused():
    chip = golden_mid(n_cores=1).chip
    chip.write_fields(0, "CTRL", mode="IDLE")
    with pytest.raises(ll.ConfigError, match="MODE_IDLE"):
        chip.run(0)


def test_set_and_reset_pulses_move_the_cell():
    mid = golden_mid(n_cores=1, ideal=False, seed=2)
    chip = mid.chip
    g0 = chip.read_cell(0, 5, 9)
    for v in (1.6, 1.8, 2.0):
        chip.set_pulse(0, 5, 9, v)
    g1 = chip.read_cell(0, 5, 9)
    for v in (1.9, 2.1, 2.3):
        chip.reset_pulse(0, 5, 9, v)
    g2 = chip.read_cell(0, 5, 9)
    assert g1 > g0 + 1.0 and g2 < g1 - 1.0
    true = chip.transport.backdoor_get_conductance(0)
    assert abs(true[5, 9] - g2) < 2.0                  # the ADC reads this cell


def test_parallel_start_all_cores():
    chip = golden_mid(n_cores=3).chip
    for c in range(3):
        chip.write_fields(c, "CTRL", mode="NEURON_TEST")
    st = chip.start_parallel([0, 1, 2])
    assert all(s["done"] == 1 for s in st.values())
    with pytest.raises(ValueError, match="core must be in 0..2"):
        chip.start_parallel([0, 3])


def test_lfsr_seed_validation():
    chip = golden_mid(n_cores=1).chip
    chip.seed_lfsr(0, 0x1234, 0x0F0F)
    chip.invalidate()
    assert chip.read_field(0, "SEED_A", "seed") == 0x1234
    with pytest.raises(ValueError, match="seed_a"):
        chip.seed_lfsr(0, 0, 1)


def test_set_pulse_touches_only_the_selected_cell():
    mid = golden_mid(n_cores=1, ideal=False, seed=5)
    t = mid.chip.transport
    before = t.backdoor_get_conductance(0).copy()
    mid.chip.set_pulse(0, 7, 3, 2.2)
    changed = np.argwhere(np.abs(t.backdoor_get_conductance(0) - before) > 1e-12)
    assert changed.tolist() == [[7, 3]]

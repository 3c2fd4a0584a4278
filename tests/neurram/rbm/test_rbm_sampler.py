"""Gibbs sampling of a small digits RBM on the batched chip model (every non-ideality on)."""

import numpy as np
import pytest

from neurram.rbm import analysis, chip, mapping, model, sampler


def test_both_directions_compute_the_rbm_on_the_same_cells(chip_rbm, small_rbm, digits_data):
    x = model.quantise_visible(model.visible(digits_data.x_test[:200], digits_data.y_test[:200]))
    pre = chip_rbm.hidden_preact(x, noise=False)
    ref = x / model.VISIBLE_LEVELS @ small_rbm.W + small_rbm.a
    assert np.std(pre - ref) < 0.35 * np.std(ref)
    h = (ref > 0).astype(np.int64)
    pv = chip_rbm.visible_preact(h, noise=False)
    refv = h @ small_rbm.W.T + small_rbm.b
    assert np.std(pv - refv) < 0.35 * np.std(refv)


def test_chip_recovery_matches_software(chip_rbm, small_rbm, digits_data):
    c = model.corrupt(digits_data.x_test[:150], digits_data.y_test[:150], digits_data.shape, "noise20", seed=1)
    hist = chip_rbm.recover(c, steps=6)["hist"]
    sw = model.software_recover(small_rbm, c, steps=6, seed=0)
    r_chip, r_sw = model.l2_reduction(hist[-1], c), model.l2_reduction(sw[-1], c)
    assert r_chip > 0.5 and abs(r_chip - r_sw) < 0.08
    assert np.array_equal(hist[-1][c.known], c.original[c.known])   # clamped every step
    assert set(np.unique(hist[-1] * 7).round(6)) <= set(range(8))   # 3-bit visible units


def test_lfsr_seed_changes_samples_not_statistics(chip_rbm, digits_data):
    c = model.corrupt(digits_data.x_test[:150], digits_data.y_test[:150], digits_data.shape, "noise20", seed=2)
    runs = []
    for seed in (11, 12):
        chip_rbm.lfsr_seed = seed
        r = chip_rbm.recover(c, steps=4, keep_hidden=True)
        runs.append((r["hidden"][0], np.linalg.norm(r["hist"][-1] - c.original, axis=1)))
    chip_rbm.lfsr_seed = 1
    assert np.mean(runs[0][0] != runs[1][0]) > 0.01                # other noise bits, other samples
    base = model.l2_error(c.corrupted, c.original)
    diff = (runs[0][1].mean() - runs[1][1].mean()) / base
    se = np.std(runs[0][1] - runs[1][1]) / np.sqrt(len(runs[0][1])) / base
    assert abs(diff) < 4 * se + 0.01                                 # same recovery within noise


def test_hidden_units_fire_like_a_logistic(chip_rbm, digits_data):
    x = model.quantise_visible(model.visible(digits_data.x_test, digits_data.y_test))
    hu = analysis.hidden_unit_curves(chip_rbm, x, repeats=2)
    assert 0.7 < hu["sigmoid_slope"] < 1.4                           # VNOISE matched to slope 1
    assert hu["sigmoid_offset_std"] < 0.6
    nt = analysis.neuron_test_curves(chip_rbm, levels=21, repeats=24)
    # LFSR + comparator noise alone would give the expected slope; the analog noise of
    # every sample only adds to it (never sharper)
    assert 0.4 * nt["expected_slope_per_mV"] < nt["slope_per_mV_median"] < 1.1 * nt["expected_slope_per_mV"]
    assert nt["offset_mV_std"] > 1.0                                 # per-neuron offsets exist


def test_fit_logistic_recovers_slope_and_offset():
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, 6, (4000, 3))
    y = rng.random(x.shape) < 1 / (1 + np.exp(-np.array([0.5, 1.0, 2.0]) * (x - np.array([-1, 0, 1.5]))))
    s, o = analysis.fit_logistic(x, y)
    assert np.allclose(s, [0.5, 1.0, 2.0], rtol=0.15) and np.allclose(o, [-1, 0, 1.5], atol=0.2)


def test_energy_counts_the_noise_injection(chip_rbm):
    e = analysis.gibbs_energy(chip_rbm)
    b = chip_rbm.m.blocks[0]
    steps = chip_rbm.cal["BWD"].noise_steps
    expected = 121e-15 * chip_rbm.m.n_hidden * steps * len(chip_rbm.m.blocks)   # one BL neuron each
    assert e["noise_injection_nJ"] == pytest.approx(expected * 1e9)   # 3-bit visible: no noise
    assert e["per_gibbs_step_nJ"] > e["noise_injection_nJ"] > 0 and b.n_cols > 0


def test_bad_input_is_refused_before_programming(small_rbm, digits_data):
    m = mapping.map_rbm(small_rbm, digits_data.shape)
    be = chip.fast_backend(1, seed=0)
    with pytest.raises(ValueError, match="vnoise_hidden"):
        sampler.ChipRBM(m, be, sampler.OperatingPoint(vnoise_hidden=300))
    with pytest.raises(ValueError, match="visible_mode"):
        sampler.ChipRBM(m, be, visible_mode="analog")
    m2 = mapping.map_rbm(small_rbm, digits_data.shape, n_cores=2)
    with pytest.raises(ValueError, match="needs 2 cores"):
        sampler.ChipRBM(m2, be)
    assert np.all(be.mid.known(0) != be.mid.known(0))                # nothing programmed (NaN)


def test_recover_refuses_wrong_images(chip_rbm):
    c = model.corrupt(np.zeros((2, 16), np.float32), [0, 1], (4, 4), "noise20")
    with pytest.raises(ValueError, match="pixels"):
        chip_rbm.recover(c, steps=1)

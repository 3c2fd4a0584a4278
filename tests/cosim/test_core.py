"""The cosimulation regression on the generated chip.

Each test runs cocotb testcases (``cosim/tb/*.py``) in the one-core build (or the 4-core
build), every result checked bit-for-bit against the golden model. ``make test`` runs a
representative sample; ``make regress`` adds the ``slow`` cases (every input/output width,
the randomized 1,000 bad frames).
"""

from __future__ import annotations

import itertools
import json

import pytest

from cosim import runner

pytestmark = pytest.mark.cosim

FWD, BWD, REC = 0, 1, 2
NONE, RELU, SIGMOID, TANH = 0, 1, 2, 3


@pytest.fixture(scope="module")
def core1():
    return runner.build_core(1)


def _run(build, module, testcase, cases=None, params=None, seed=None, **env):
    extra = {k: str(v) for k, v in env.items()}
    if cases is not None:
        extra["NEURRAM_CASES"] = json.dumps(cases)
    if params is not None:
        extra["NEURRAM_PARAMS"] = json.dumps(params)
    runner.run_cocotb(module, build, testcase=testcase, seed=seed, extra_env=extra)


# ---------------------------------------------------------------- SPI and registers
def test_spi_registers_and_bursts(core1):
    _run(core1, "cosim.tb.spi_tests", ["reg_read_write", "rf_bursts"])


def test_spi_malformed_frames(core1):
    _run(core1, "cosim.tb.spi_tests", ["malformed_frames", "sclk_too_fast"])


@pytest.mark.slow
def test_spi_random_bad_frames(core1):
    _run(core1, "cosim.tb.spi_tests", "random_bad_frames", NEURRAM_BAD_FRAMES=1000)


# ---------------------------------------------------------------- MVM
SAMPLED_MVM = [
    {"direction": FWD, "in_bits": 4, "out_bits": 6, "vectors": 2},
    {"direction": BWD, "in_bits": 3, "out_bits": 5, "vectors": 1},
    {"direction": REC, "in_bits": 2, "out_bits": 4, "vectors": 1},
    {"direction": FWD, "in_bits": 1, "out_bits": 1, "vectors": 1},
    {"direction": FWD, "in_bits": 8, "out_bits": 10, "vectors": 1},
    {"direction": FWD, "in_bits": 5, "out_bits": 3, "in_signed": False, "vectors": 1},
    {"direction": FWD, "in_bits": 4, "out_bits": 6, "diff_in": True, "n_rows": 128, "vectors": 1},
]
TWO_PHASE = [
    {"direction": FWD, "in_bits": 6, "out_bits": 8, "two_phase": True, "split": 3, "out_bits_lsb": 5},
    {"direction": BWD, "in_bits": 7, "out_bits": 6, "two_phase": True, "split": 2, "out_bits_lsb": 4},
    {"direction": REC, "in_bits": 5, "out_bits": 5, "two_phase": True, "split": 1, "out_bits_lsb": 3},
]
ACTIVATIONS = [{"act": a, "in_bits": 4, "out_bits": 6, "direction": d}
               for a, d in ((RELU, FWD), (SIGMOID, BWD), (TANH, FWD))]
STOCHASTIC = [{"stoch": True, "noise_steps": 6, "vnoise": 40, "in_bits": 2, "out_bits": 1, "direction": BWD},
              {"stoch": True, "noise_steps": 3, "vnoise": 10, "in_bits": 4, "out_bits": 6, "act": SIGMOID}]
NEURON_TEST = [{"mode": 2, "direction": FWD, "in_bits": 4, "out_bits": 6},
               {"mode": 2, "direction": BWD, "in_bits": 3, "out_bits": 4}]


def test_mvm_sampled_widths_and_directions(core1):
    _run(core1, "cosim.tb.mvm_tests", "mvm_cases", SAMPLED_MVM)


def test_mvm_two_phase_activations_stochastic_neuron_test(core1):
    _run(core1, "cosim.tb.mvm_tests", "mvm_cases", TWO_PHASE + ACTIVATIONS + STOCHASTIC + NEURON_TEST)


@pytest.mark.slow
@pytest.mark.parametrize("direction", [FWD, BWD, REC])
def test_mvm_all_widths(core1, direction):
    cases = [{"direction": direction, "in_bits": i, "out_bits": o, "vectors": 1}
             for i, o in itertools.product(range(1, 9), range(1, 11))]
    _run(core1, "cosim.tb.mvm_tests", "mvm_cases", cases)


@pytest.mark.slow
def test_mvm_all_activations_two_phase_splits(core1):
    cases = [{"act": a, "direction": d, "in_bits": 4, "out_bits": k, "vectors": 1}
             for a in (NONE, RELU, SIGMOID, TANH) for d in (FWD, BWD, REC) for k in (1, 2, 7)]
    cases += [{"two_phase": True, "in_bits": i, "split": sp, "out_bits": 8, "out_bits_lsb": 5,
               "direction": d, "vectors": 1}
              for i in (3, 6, 8) for sp in range(1, i - 1) for d in (FWD, BWD)]
    _run(core1, "cosim.tb.mvm_tests", "mvm_cases", cases)


def test_wl_pulse_widths_and_reset_mid_mvm(core1):
    _run(core1, "cosim.tb.mvm_tests", ["wl_pulse_widths", "reset_mid_mvm"])


# ---------------------------------------------------------------- programming
def test_programming_single_cell(core1):
    _run(core1, "cosim.tb.prog_tests", "single_cell_set_reset_read")


def test_neuron_test_mode(core1):
    _run(core1, "cosim.tb.prog_tests", "neuron_test_mode")


def test_write_verify_block(core1):
    _run(core1, "cosim.tb.prog_tests", "write_verify_block")

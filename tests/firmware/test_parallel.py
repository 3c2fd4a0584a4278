"""Cores started together share one set of bias voltages: the firmware refuses per-core
Vread / Vnoise in a parallel MVM, before any frame; Vdecr is each core's own DAC."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.midlevel import MvmConfig
from firmware.parallel import SharedBiasError, check_shared_bias
from tests.firmware.conftest import golden_mid


def test_equal_biases_pass_and_noise_only_counts_when_used():
    cfg = MvmConfig(vread=100, vdecr=2048)
    check_shared_bias({0: cfg, 1: cfg.replace(vnoise=7)})    # vnoise unused: no noise steps
    with pytest.raises(SharedBiasError, match="vnoise"):
        check_shared_bias({0: cfg.replace(noise_steps=2, vnoise=5),
                           1: cfg.replace(noise_steps=2, vnoise=6)})
    with pytest.raises(TypeError):
        check_shared_bias([cfg, cfg])
    check_shared_bias({0: cfg, 1: cfg.replace(vdecr=1500)})  # per-core decrement DAC
    with pytest.raises(SharedBiasError, match="vread"):
        check_shared_bias({0: cfg, 1: cfg.replace(vread=101, vdecr=1500)})


def test_parallel_mvm_with_per_core_vread_is_refused():
    mid = golden_mid(n_cores=2, ideal=True)
    x = np.zeros((1, 16), int)
    a, b = MvmConfig(vread=100, vdecr=2048), MvmConfig(vread=120, vdecr=2048)
    n = mid.chip.frames
    with pytest.raises(SharedBiasError, match=r"vread.*core 0: 100, core 1: 120"):
        mid.mvm_parallel([(0, x, a, (0, 32), (0, 16)), (1, x, b, (0, 32), (0, 16))])
    assert mid.chip.frames == n                              # refused before any frame

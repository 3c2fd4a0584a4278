"""One layer of the deployed MNIST CNN in cocotb cosimulation, two images: the codes the
RTL chip produces equal the golden model's and the batched backend's (same seed)."""

import base64

import numpy as np
import pytest

pytestmark = pytest.mark.cosim


@pytest.mark.slow   # 1,568 MVM transactions through the RTL: minutes, `make regress`
def test_first_conv_layer_cosim_equals_golden_and_fast_backend():
    from analog_models.params import AnalogParams
    from cosim.session import run_with_cosim
    from cosim.transport import GoldenTransport
    from firmware.fastchip import FastChip
    from neurram.fast import conv_job, first_conv, images

    seed = 4
    cos = run_with_cosim("neurram.fast:conv_job", {"n_images": 2, "seed": seed}, n_cores=1, seed=seed)
    gold = conv_job(GoldenTransport(1, params=AnalogParams(), seed=seed), n_images=2, seed=seed)
    fast = first_conv(FastChip(1, AnalogParams(), seed), images(2, seed), seed=seed)
    c_cos = np.frombuffer(base64.b64decode(cos["codes_b64"]), np.int16)
    c_gold = np.frombuffer(base64.b64decode(gold["codes_b64"]), np.int16)
    assert c_cos.size == 2 * 784 * 256
    np.testing.assert_array_equal(c_cos, c_gold)
    # the batched backend simulates only the 8 neurons the layer reads (others: -1)
    done = fast["codes"] >= 0
    assert done.sum() == 2 * 784 * 8
    np.testing.assert_array_equal(fast["codes"][done], c_gold[done])
    np.testing.assert_array_equal(np.array(cos["y"]), fast["y"])

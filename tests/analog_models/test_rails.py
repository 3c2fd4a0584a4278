"""The shared read rails: drop grows with the cores running together, their loads and
their distance from the pad; a core running alone is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from analog_models import CoreModel
from analog_models.params import AnalogParams
from analog_models.rails import RailNetwork, SharedRails


def _models(n, g=20.0):
    p = AnalogParams()
    return [CoreModel(np.full((256, 256), g), p, seed=i) for i in range(n)]


def test_mutual_resistance_of_the_paths():
    net = RailNetwork(r_source=0.5, r_segment=0.2, cores_per_branch=8)
    assert net.position(0) == (0, 1) and net.position(9) == (1, 2)
    assert net.mutual(0, 1) == pytest.approx(0.5 + 0.2)          # one segment in common
    assert net.mutual(3, 6) == pytest.approx(0.5 + 4 * 0.2)      # up to core 3's position
    assert net.mutual(0, 8) == pytest.approx(0.5)                # other branch: source only


def test_network_validates():
    with pytest.raises(ValueError, match="r_source"):
        RailNetwork(r_source=-1.0)
    with pytest.raises(ValueError, match="cores_per_branch"):
        RailNetwork(cores_per_branch=0)


def test_alone_is_the_single_core_model():
    models = _models(3)
    rails = SharedRails(models)
    p = models[0].p
    for group in ((), (0,), (1,)):
        rails.start(group)
        assert models[0].rails.resistance(p) == p.r_driver * p.n_parallel_cores


def test_drop_grows_with_cores_loads_and_distance():
    models = _models(8)
    rails = SharedRails(models)
    p = models[0].p
    r = {}
    for n in (2, 3, 8):
        rails.start(range(n))
        r[n] = [m.rails.resistance(p) for m in models[:n]]
    assert r[2][0] < r[3][0] < r[8][0]                   # more cores, more drop
    assert r[8][0] < r[8][3] < r[8][7]                   # farther from the pad, more drop
    models[1].G = np.full((256, 256), 40.0)              # a heavier neighbour
    rails.start(range(2))
    assert models[0].rails.resistance(p) > r[2][0]
    with pytest.raises(ValueError, match="not on this chip"):
        rails.start([8])


def test_parallel_group_changes_the_mvm_and_stays_reproducible():
    from analog_models.config import CoreConfig
    from firmware.lowlevel import encode_inputs

    x = encode_inputs(np.random.default_rng(3).integers(-7, 8, size=(16, 256)), 4)
    cfg = CoreConfig(in_bits=4, out_bits=6, vread=100, vdecr=2048)

    def run(group):
        models = _models(3, g=30.0)
        rails = SharedRails(models)
        rails.start(group)
        return models[0].mvm(x, cfg)

    alone, together = run([0]), run([0, 1, 2])
    assert not np.array_equal(alone, together)
    assert np.array_equal(together, run([0, 1, 2]))

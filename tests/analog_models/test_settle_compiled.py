"""The compiled settling loops give the numpy path's float32 values bit for bit, with
every switch that changes their work on and off."""

import numpy as np
import pytest

from analog_models import AnalogParams, _kernels
from analog_models._rng import _TABLE, StreamNormals
from analog_models.array import ArrayPlan, settle_drive
from rtl.contract.corelet import NEURON_SL
from tests.analog_models.conftest import needs_kernels

G = np.random.default_rng(11).uniform(1.0, 40.0, (256, 256))

SWITCHES = [{}, {"driver_drop": False}, {"read_noise": False}, {"coupling": False},
            {"settling": False}, {"driver_drop": False, "coupling": False}]


def _both(fn, monkeypatch):
    out = []
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "KERNELS", compiled)
        out.append(fn())
    return out


@needs_kernels
@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(f"no_{k}" for k in s) or "all")
@pytest.mark.parametrize("pairs", [True, False], ids=["pairs", "lines"])
def test_compiled_settling_equals_numpy(pairs, switches, monkeypatch):
    rng = np.random.default_rng(len(switches) + 2 * pairs)
    p = AnalogParams().replace(**switches)
    wl = np.zeros(256, bool)
    wl[:96] = True
    plan = ArrayPlan(G, False, wl, p, out_perm=NEURON_SL)
    view = plan.columns(np.sort(rng.choice(256, 40, replace=False)))     # and a column view
    B = 9
    k = plan.rows.size // 2 if pairs else plan.rows.size
    for pl in (plan, view):
        n_out = pl.wl_kick32.size
        d = rng.integers(-1, 2, (B, k)).astype(np.float32 if pairs else np.int8)
        v_prev = rng.normal(0, 0.02, (B, n_out)).astype(np.float32)
        idx = rng.integers(0, 65536, (3 * B, n_out)).astype(np.uint16)
        normals = StreamNormals(idx, 1, 3, B, _TABLE)
        counts = (lambda: (rng.integers(0, 128, B), rng.integers(0, 128, B)))
        fixed = counts()
        for z in (normals, normals.values(), None):
            for prev in (None, rng.normal(0, 0.5, B).astype(np.float32)):
                a, b = _both(lambda: settle_drive(pl, d, pairs, v_prev, prev, 10.0, p, 0.12, z,
                                                  lambda: fixed), monkeypatch)
                for u, w in zip(a, b):
                    assert (u is None) == (w is None)
                    if u is not None:
                        assert u.dtype == w.dtype == np.float32
                        np.testing.assert_array_equal(u, w)
    # the outputs move with the noise and the drive (the comparison is not vacuous)
    assert np.std(a[0]) > 0


@needs_kernels
@pytest.mark.parametrize("switches", [{}, {"sample_depletion": False}, {"adc": False}])
def test_compiled_sample_run_equals_numpy(switches, monkeypatch):
    """The closed-form sample/integrate of a bit-plane: same integrator voltages (clipped
    at the headroom) and line voltages with the compiled pass as with numpy."""
    from analog_models.neuron import NeuronBank
    p = AnalogParams().replace(**switches)
    rng = np.random.default_rng(4)
    v_line = rng.normal(0, 0.05, (7, 256)).astype(np.float32)
    v_int = rng.normal(0, 0.1, (7, 256)).astype(np.float32)

    def run():
        bank = NeuronBank(p, np.random.default_rng(1))
        bank.reset(7)
        bank.v_int = v_int.copy()
        line = bank.sample_run(v_line, p.c_sl, 8)
        return bank.v_int, line, bank.pend_var, bank.n_integ
    a, b = _both(run, monkeypatch)
    for u, w in zip(a, b):
        np.testing.assert_array_equal(u, w)
    if p.adc:
        assert np.abs(a[0]).max() == np.float32(p.integ_headroom)      # the clip is exercised

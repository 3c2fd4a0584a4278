"""Analog core model: bad input, determinism, event path == vectorised path, ideal maths."""

import numpy as np
import pytest

from analog_models import AnalogParams, CoreConfig, CoreModel
from analog_models import config as C
from analog_models import normalisation as N
from rtl.contract.events import AnalogEvent, EventKind, Level
from rtl.contract.registers import ProgOp
from rtl.controller_model import ControllerModel
from tests.analog_models.conftest import needs_kernels

RNG = np.random.default_rng(1234)
G0 = RNG.uniform(1.0, 40.0, (256, 256))


def run_events(core, cfg, entries, n_vectors):
    """Drive ``core`` one event at a time through the controller's golden model
    (``rtl.controller_model.ControllerModel``) and collect the codes it writes back, in
    the same layout as ``CoreModel.mvm`` returns them."""
    rcfg = cfg
    model = ControllerModel()
    model.load_lfsr(rcfg.seed_a, rcfg.seed_b)
    bwd = int(cfg.dir) == 1
    outs = [[] for _ in C.segments(cfg)]
    for b in range(n_vectors):
        bl = np.zeros(256, np.int64)
        sl = np.zeros(256, np.int64)
        (sl if bwd else bl)[:] = entries[b]
        assert model.run(rcfg, bl, sl, core.handle) == 0
        files = {0: bl, 1: sl}
        for g, (_, _, _, dest) in enumerate(rcfg.segments()):
            outs[g].append(files[dest].copy())
    return [np.array(o) for o in outs]


CONFIGS = {
    "fwd_diff_4_6": dict(in_bits=4, out_bits=6, diff_in=True, n_rows=128, vread=120, vdecr=1200),
    "bwd_3_5": dict(dir=1, in_bits=3, out_bits=5, vread=100, vdecr=120),
    "rec_relu": dict(dir=2, in_bits=4, out_bits=4, act=1, vread=100, vdecr=100),
    "two_phase": dict(in_bits=6, out_bits=8, two_phase=True, split=3, out_bits_lsb=5,
                      diff_in=True, vread=120, vdecr=1200),
    "stoch_sigmoid": dict(in_bits=2, out_bits=3, act=2, stoch=True, noise_steps=3, vnoise=20,
                          vread=100, vdecr=100),
    "neuron_test": dict(mode=2, in_bits=4, out_bits=6, vread=50, vdecr=1000),
    "unsigned_1bit_wl2ns": dict(in_bits=1, out_bits=6, in_signed=False, wl_ns=2, vread=20,
                                vdecr=100),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_event_path_equals_vectorised(name):
    cfg = CoreConfig(**CONFIGS[name])
    x = RNG.integers(0, 2**cfg.in_bits, (4, 256))
    a = CoreModel(G0, AnalogParams(), seed=5)
    b = CoreModel(G0, AnalogParams(), seed=5)
    vec = a.mvm(x, cfg)
    vec = list(vec) if cfg.two_phase else [vec]
    ev = run_events(b, cfg, x, 4)
    for v, e in zip(vec, ev):
        np.testing.assert_array_equal(v, e)
    # Non-trivial outputs (not all one code).
    assert len(np.unique(vec[0])) > 2


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "neuron_test"])
def test_event_path_equals_vectorised_on_a_subset_of_outputs(name):
    """Simulating only some neurons (the outputs a layer reads) gives exactly their codes
    of the full event-by-event simulation; the rest read -1."""
    cfg = CoreConfig(**CONFIGS[name])
    x = RNG.integers(0, 2**cfg.in_bits, (3, 256))
    sel = np.sort(RNG.choice(256, 13, replace=False))
    a = CoreModel(G0, AnalogParams(), seed=5)
    b = CoreModel(G0, AnalogParams(), seed=5)
    vec = a.mvm(x, cfg, outputs=sel[::-1])            # any order of the neurons
    vec = list(vec) if cfg.two_phase else [vec]
    ev = run_events(b, cfg, x, 3)
    for g, (v, e) in enumerate(zip(vec, ev)):
        full = np.full((3, 256), -1)
        full[:, sel[::-1]] = v
        np.testing.assert_array_equal(C.route(full, cfg, g)[C.route(full, cfg, g) >= 0],
                                      e[C.route(full, cfg, g) >= 0])


@needs_kernels
@pytest.mark.parametrize("name", ["fwd_diff_4_6", "two_phase", "stoch_sigmoid", "rec_relu"])
def test_compiled_conversion_equals_the_numpy_steps(name, monkeypatch):
    """The numba conversion loop and the step-by-step numpy path give the same codes."""
    from analog_models import _kernels
    cfg = CoreConfig(**CONFIGS[name])
    x = RNG.integers(0, 2**cfg.in_bits, (40, 256))
    fast = CoreModel(G0, AnalogParams(), seed=3).mvm(x, cfg)
    monkeypatch.setattr(_kernels, "KERNELS", False)
    steps = CoreModel(G0, AnalogParams(), seed=3).mvm(x, cfg)
    for a, b in zip(fast if cfg.two_phase else [fast], steps if cfg.two_phase else [steps]):
        np.testing.assert_array_equal(a, b)


def test_sparse_forward_mvm_settles_over_the_pulsed_rows_only():
    """A 64-input forward MVM reads 24 outputs: the plan holds the 64 pulsed rows only,
    and the codes equal the event path's."""
    cfg = CoreConfig(in_bits=4, out_bits=6, diff_in=True, n_rows=64, vread=120, vdecr=900)
    x = RNG.integers(0, 16, (5, 256))
    sel = np.arange(24)
    a = CoreModel(G0, AnalogParams(), seed=8)
    b = CoreModel(G0, AnalogParams(), seed=8)
    vec = a.mvm(x, cfg, outputs=sel)
    plan = a._plan(False, C.row_mask(cfg))
    assert plan.rows.tolist() == list(range(64)) and plan.pairs and plan.mq.shape == (64, 256)
    ev = run_events(b, cfg, x, 5)[0]
    np.testing.assert_array_equal(vec, ev[:, C.NEURON_SL[sel]])     # SL entry of neuron k
    assert len(np.unique(vec)) > 2
    # the model carries on as after a full simulation: same codes for the next batch
    np.testing.assert_array_equal(a.mvm(x[:2], cfg), run_events(b, cfg, x[:2], 2)[0])


def test_bad_outputs():
    core = CoreModel(G0, seed=1)
    cfg = CoreConfig(**CONFIGS["fwd_diff_4_6"])
    for bad in ([], [256], [[1, 2]], [0.5], [3, 3]):
        with pytest.raises(ValueError, match="outputs"):
            core.mvm(np.zeros((1, 256), int), cfg, outputs=np.array(bad))


def test_same_seed_same_answer_other_seed_differs():
    cfg = CoreConfig(in_bits=4, out_bits=8, diff_in=True, vread=120, vdecr=1000)
    x = RNG.integers(0, 16, (8, 256))
    y1 = CoreModel(G0, seed=3).mvm(x, cfg)
    y2 = CoreModel(G0, seed=3).mvm(x, cfg)
    y3 = CoreModel(G0, seed=4).mvm(x, cfg)
    np.testing.assert_array_equal(y1, y2)
    assert np.any(y1 != y3)


def test_ideal_core_is_the_quantised_weighted_average():
    p = AnalogParams.ideal()
    core = CoreModel(G0, p)
    # VDECR not a power of two: the DAC halves its level exactly from any code.
    cfg = CoreConfig(in_bits=4, out_bits=7, n_rows=200, vread=100, vdecr=1000)
    x = RNG.integers(0, 16, (20, 256))
    codes = core.mvm(x, cfg)                              # SL file order
    # Expected: integer input, weighted average over rows 0..199, plane gain, mid-rise ADC.
    sign = np.where(x >> 3 & 1, 1, -1)
    xi = sign * (x & 7)
    xi[:, 200:] = 0
    Gm = G0[:200]
    u = (xi[:, :200] @ Gm) / Gm.sum(axis=0)               # per SL
    vint = u * N.vint_scale(p, 3, 100)
    # With depletion off the plane weights are exactly r * 2^j: no residual.
    lsb = N.lsb_volts(p, 1000, 7)
    got = C.code_value(codes, 7) * lsb
    inside = np.abs(vint) < 63 * lsb     # not saturated
    assert inside.mean() > 0.9
    # the array's weights sit on a fixed-point grid (exact products, analog_models.array):
    # each weight is off by at most ``grid``, the weighted average by sum |x_i| * grid
    plan = core._plan(False, C.row_mask(cfg))
    grid = float(np.abs(plan.mq.astype(np.float64) - plan.m_lin[plan.rows]).max())
    assert grid < 1e-6
    slack = N.vint_scale(p, 3, 100) * np.abs(xi).sum(axis=1, keepdims=True) * grid
    assert np.all((np.abs(got - vint) <= 0.5 * lsb + slack + 1e-12)[inside])
    # And the de-normalised dot product matches sum x G within the quantisation.
    dot = N.denormalise(codes, p, vdecr_code=1000, vread_code=100, out_bits=7, n_planes=3,
                        denom_uS=Gm.sum(axis=0))
    exact = xi[:, :200] @ Gm
    step = lsb * Gm.sum(axis=0) / (p.gain * N.plane_gain(p, 3, p.c_sl) * p.vread_volts(100))
    slack_dot = np.abs(xi).sum(axis=1, keepdims=True) * grid * Gm.sum(axis=0)
    assert np.all((np.abs(dot - exact) <= 0.5 * step + slack_dot + 1e-9)[inside])


def test_power_down_answers_zero():
    core = CoreModel(G0)
    core.handle(AnalogEvent(EventKind.POWER, power_down=True))
    assert not core.handle(AnalogEvent(EventKind.COMPARE)).any()
    core.handle(AnalogEvent(EventKind.POWER, power_down=False))
    assert core.power_down is False


def test_short_wl_pulse_settles_incompletely():
    cfg = dict(in_bits=2, out_bits=8, vread=100, vdecr=1200)
    x = np.full((1, 256), 0b11)         # all +1
    p = AnalogParams.ideal(settling=True, c_sl=5000.0)   # slow lines: tau ~ 1 ns
    full = CoreModel(G0, p).mvm(x, CoreConfig(wl_ns=10, **cfg))
    short = CoreModel(G0, p).mvm(x, CoreConfig(wl_ns=1, **cfg))
    assert C.code_value(short, 8).mean() < 0.8 * C.code_value(full, 8).mean()


def test_programming_events_select_one_cell_and_read_back():
    core = CoreModel(np.full((256, 256), 5.0), seed=1)
    row, col = 7, 33

    def prog(op, amp):
        bl = np.full(256, int(Level.GND), np.uint8)
        sl = np.full(256, int(Level.FLOAT), np.uint8)
        if op == ProgOp.RESET:
            sl[col] = Level.VPROG
        else:
            bl[row] = Level.VPROG
            sl[col] = Level.GND
        wl = np.zeros(256, bool)
        wl[row] = True
        core.handle(AnalogEvent(EventKind.PROG_BEGIN, bl_drv=bl, sl_drv=sl, wl_en=wl,
                                prog_op=int(op), prog_amp=amp))
        return core.handle(AnalogEvent(EventKind.PROG_END, width_ns=1000.0))

    g0 = prog(ProgOp.READ, 20)
    assert abs(g0 - 5.0) < 0.5
    for _ in range(5):
        prog(ProgOp.SET, 180)
    assert core.G[row, col] > 8.0
    others = np.delete(core.G.ravel(), row * 256 + col)
    assert np.all(others == 5.0)
    g1 = prog(ProgOp.READ, 20)
    assert abs(g1 - core.G[row, col]) < 1.0
    for _ in range(8):
        prog(ProgOp.RESET, 200)
    assert core.G[row, col] < g1


def _set_pulse(core, row, col, amp=103, width_ns=460.0):
    bl = np.full(256, int(Level.GND), np.uint8)
    bl[row] = Level.VPROG
    sl = np.full(256, int(Level.FLOAT), np.uint8)
    sl[col] = Level.GND
    wl = np.zeros(256, bool)
    wl[row] = True
    core.handle(AnalogEvent(EventKind.PROG_BEGIN, bl_drv=bl, sl_drv=sl, wl_en=wl,
                            prog_op=int(ProgOp.SET), prog_amp=amp))
    core.handle(AnalogEvent(EventKind.PROG_END, width_ns=width_ns))


@pytest.mark.parametrize("params", [AnalogParams.ideal(), AnalogParams()], ids=["ideal", "calibrated"])
def test_loaded_state_continues_exactly(params):
    """A model of the same seed that loads another's state (a golden model resynchronised
    after an interrupted operation) answers every later event as that one does: the
    programming pulses' steps, even on the ideal core, and the MVM noise streams."""
    g = np.full((256, 256), 5.0)
    ran = CoreModel(g, params, seed=7)
    for _ in range(3):
        _set_pulse(ran, 88, 20)
    cfg = CoreConfig(dir=1, in_bits=4, out_bits=6, vread=100, vdecr=400)
    x = np.random.default_rng(3).integers(0, 16, 256)
    ran.mvm(x, cfg)
    conductances_only = CoreModel(g, params, seed=7)
    conductances_only.G = ran.G
    loaded = CoreModel(g, params, seed=7)
    loaded.load_state(ran.save_state())
    for core in (ran, conductances_only, loaded):
        _set_pulse(core, 88, 20)
    assert loaded.G[88, 20] == ran.G[88, 20]
    # (copying the conductances alone is not enough: the cell's fourth pulse would take
    # its first pulse's draw; the fuzzer's one-LSB mismatch)
    assert conductances_only.G[88, 20] != ran.G[88, 20]
    assert np.array_equal(loaded.G, ran.G) and np.array_equal(loaded.device.fresh, ran.device.fresh)
    assert np.array_equal(loaded.mvm(x, cfg), ran.mvm(x, cfg))


@pytest.mark.parametrize("bad, match", [
    (np.ones((255, 256)), "shape"),
    (np.full((256, 256), np.nan), "finite"),
    (np.full((256, 256), 500.0), "range"),
    (-np.ones((256, 256)), "range"),
])
def test_bad_conductance(bad, match):
    with pytest.raises(ValueError, match=match):
        CoreModel(bad)
    core = CoreModel(G0)
    with pytest.raises(ValueError, match=match):
        core.G = bad


@pytest.mark.parametrize("field, value", [("in_bits", 0), ("in_bits", 9), ("out_bits", 0),
                                          ("out_bits", 11), ("n_rows", 0), ("wl_ns", 11),
                                          ("vread", 256), ("vdecr", 4096)])
def test_bad_config(field, value):
    core = CoreModel(G0)
    with pytest.raises(ValueError, match=field):
        core.mvm(np.zeros((1, 256), int), CoreConfig(**{field: value}))


@pytest.mark.parametrize("x, match", [(np.zeros((2, 255), int), "256"),
                                      (np.full((1, 256), 1024), "1023"),
                                      (np.full((1, 256), np.nan), "NaN"),
                                      (-np.ones((1, 256), int), "1023")])
def test_bad_inputs(x, match):
    with pytest.raises(ValueError, match=match):
        CoreModel(G0).mvm(x, CoreConfig())


def test_params_validation_and_dacs():
    p = AnalogParams()
    assert p.vread_volts(100) == pytest.approx(0.2)
    assert p.vdecr_volts(4095) == pytest.approx(4095 * p.vdecr_lsb)
    assert p.prog_volts(120) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="vread"):
        p.vread_volts(256)
    with pytest.raises(ValueError, match="vdecr"):
        p.vdecr_volts(-1)
    with pytest.raises(ValueError, match="c_sample"):
        AnalogParams(c_sample=float("nan"))
    ideal = AnalogParams.ideal()
    assert not any(getattr(ideal, s) for s in ("wire", "adc", "relaxation", "coupling"))


def test_set_with_grounded_unselected_sls_hits_the_whole_row_and_warns():
    core = CoreModel(np.full((256, 256), 5.0), seed=2)
    bl = np.full(256, int(Level.GND), np.uint8)
    bl[3] = Level.VPROG
    wl = np.zeros(256, bool)
    wl[3] = True
    core.handle(AnalogEvent(EventKind.PROG_BEGIN, bl_drv=bl,
                            sl_drv=np.full(256, int(Level.GND), np.uint8), wl_en=wl,
                            prog_op=int(ProgOp.SET), prog_amp=180))
    with pytest.warns(RuntimeWarning, match="256 cells"):
        core.handle(AnalogEvent(EventKind.PROG_END, width_ns=1000.0))
    assert np.all(core.G[3] > 5.0) and np.all(np.delete(core.G, 3, axis=0) == 5.0)


def test_set_params_changes_the_live_core():
    cfg = CoreConfig(in_bits=4, out_bits=6, diff_in=True, vread=100, vdecr=1000)
    x = RNG.integers(0, 16, (2, 256))
    core = CoreModel(G0, AnalogParams.ideal())
    y0 = core.mvm(x, cfg)
    core.set_params(AnalogParams.ideal(vread_lsb=4e-3))     # twice the read amplitude
    y1 = core.mvm(x, cfg)
    assert np.abs(C.code_value(y1, 6)).mean() > np.abs(C.code_value(y0, 6)).mean()
    with pytest.raises(ValueError, match="params"):
        core.set_params({"vref": 1.0})
    core.parallel_cores = 3
    assert core.p.n_parallel_cores == 3 and core.neurons.p is core.p


def test_code_table_equals_the_contracts_decoding():
    """The batched path decodes comparator bits through a table of the contract's own
    ``output_codes``, optionally after permuting the neurons: same codes for every width
    and activation."""
    from analog_models.core import _codes
    for k in range(1, 9):
        bits = RNG.integers(0, 2, (7, k, 256)).astype(bool)
        for act in range(4):
            ref = C.output_codes(bits, act)
            np.testing.assert_array_equal(_codes(bits, act), ref)
            np.testing.assert_array_equal(_codes(bits, act, lambda a: a[:, ::-1]), ref[:, ::-1])
            assert _codes(bits, act).dtype == ref.dtype

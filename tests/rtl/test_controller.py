"""Controller RTL (Amaranth simulator) against the SPEC formulas and ControllerModel.

Every run records the analog-bus events exactly as the cosim adapter would (one decode
per ``ev_seq`` change), answers COMPAREs from a seeded script, and emulates the register
files' hardware ports; the golden model gets the same script.
"""

import numpy as np
import pytest

from harness import ControllerBench, scripted_cmp
from rtl.analog_bus import N_LINES, Activation, EventKind, Level, neuron_sl
from rtl.controller import (BL_FILE, SL_FILE, CfgErr, ControllerModel, CoreConfig,
                            mvm_cycles, sequence_events, validate)
from rtl.contract.config import program_cycles


def _kinds(events, kind):
    return [e for e in events if e.kind == kind]


def _first_mismatch(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i, x, y
    return (min(len(a), len(b)), len(a), len(b)) if len(a) != len(b) else None


def _check_against_model(ops, results, model=None):
    model = ControllerModel() if model is None else model
    for op, res in zip(ops, results):
        if op[0] == "lfsr_load":
            model.load_lfsr(op[1], op[2])
            continue
        if op[0] == "power":
            evs = []
            model.set_power(op[1], evs.append)
            assert res["events"] == evs
            continue
        cfg, bl, sl, cmp_fn = op[1:5]
        bl, sl = bl.copy(), sl.copy()
        evs = sequence_events(cfg, bl, sl, cmp_fn, model=model)
        assert _first_mismatch(res["events"], evs) is None, (cfg, _first_mismatch(res["events"], evs))
        assert res["err"] == model.err
        assert res["done"] == int(model.done)
        assert np.array_equal(res["bl"], bl) and np.array_equal(res["sl"], sl), cfg
        if model.err == 0 and cfg.mode in (2, 3):
            assert res["cycles"] == mvm_cycles(cfg)


def _counts(in_widths, out_widths):
    """Pulses, sample/integrate cycles, compares, Vdecr halving against SPEC §4."""
    rng = np.random.default_rng(11)
    ops = []
    for n in in_widths:
        for k in out_widths:
            cfg = CoreConfig(mode=3, in_bits=n, out_bits=k, sample_cyc=1, integ_cyc=1,
                             vdecr=int(rng.integers(1, 4096)), wl_ns=int(rng.integers(1, 11)))
            bl = rng.integers(0, 1 << n, N_LINES)
            ops.append(("start", cfg, bl, rng.integers(0, 1024, N_LINES), scripted_cmp(n * 16 + k)))
    results = ControllerBench().run(ops)
    for op, res in zip(ops, results):
        cfg = op[1]
        n, k, ev = cfg.in_bits, cfg.out_bits, res["events"]
        pulses = n - 1 if n > 1 else 1            # SPEC §4: n-bit signed -> n-1 pulses
        assert len(_kinds(ev, EventKind.WL_PULSE)) == pulses
        assert len(_kinds(ev, EventKind.SAMPLE)) == 2 ** pulses - 1
        assert len(_kinds(ev, EventKind.INTEG)) == 2 ** pulses - 1 + (k - 1)
        assert len(_kinds(ev, EventKind.COMPARE)) == k
        assert len(_kinds(ev, EventKind.LATCH)) == k == len(_kinds(ev, EventKind.WR))
        # one VDECR code; the DAC halves its level at each step (SPEC §4)
        assert [(e.vdecr, e.decr_step) for e in _kinds(ev, EventKind.DECR)] == [(cfg.vdecr, c) for c in range(k - 1)]
        assert all(e.width_ns == cfg.wl_ns for e in _kinds(ev, EventKind.WL_PULSE))
        # Plane p is followed by 2^p sample/integrate pairs.
        per_plane, cur = [], None
        for e in ev:
            if e.kind == EventKind.WL_PULSE:
                cur = 0
                per_plane.append(0)
            elif e.kind == EventKind.SAMPLE:
                per_plane[-1] += 1
        assert per_plane == [2 ** p for p in range(pulses)]
    _check_against_model(ops, results)


def test_counts_corner_widths():
    _counts([1, 2, 4, 8], [1, 2, 6, 10])


@pytest.mark.slow
def test_counts_every_width():
    _counts(range(1, 9), range(1, 11))


def _random_cfg(rng, mode=None):
    mode = int(rng.choice([2, 3, 3, 3])) if mode is None else mode
    in_bits = int(rng.integers(1, 9))
    in_signed = int(rng.integers(0, 2))
    mag = in_bits - 1 if in_signed and in_bits > 1 else in_bits
    two = int(mag >= 2 and rng.random() < 0.4)
    return CoreConfig(
        mode=mode, dir=int(rng.integers(0, 4)), act=int(rng.integers(0, 4)),
        stoch=int(rng.integers(0, 2)), diff_in=int(rng.integers(0, 2)), in_signed=in_signed,
        two_phase=two, in_bits=in_bits, out_bits=int(rng.integers(1, 11)),
        split=int(rng.integers(1, mag)) if two else int(rng.integers(0, 8)),
        out_bits_lsb=int(rng.integers(1, 11)), n_rows=int(rng.integers(1, 257)),
        vread=int(rng.integers(0, 256)), vdecr=int(rng.integers(0, 4096)),
        wl_ns=int(rng.integers(1, 11)), sample_cyc=int(rng.integers(0, 3)),
        integ_cyc=int(rng.integers(0, 3)), noise_steps=int(rng.integers(0, 4)),
        vnoise=int(rng.integers(0, 256)), seed_a=int(rng.integers(0, 1 << 16)),
        seed_b=int(rng.integers(0, 1 << 16)), prog_op=int(rng.integers(0, 3)),
        prog_amp=int(rng.integers(0, 256)), prog_row=int(rng.integers(0, 256)),
        prog_col=int(rng.integers(0, 256)), prog_cycles=int(rng.integers(0, 6)))


def _random_ops(seed, n):
    rng = np.random.default_rng(seed)
    ops = []
    for i in range(n):
        r = rng.random()
        if r < 0.1:
            ops.append(("lfsr_load", int(rng.integers(0, 1 << 16)), int(rng.integers(0, 1 << 16))))
            continue
        cfg = _random_cfg(rng, mode=1 if r < 0.2 else None)
        if r > 0.95:     # an invalid field
            cfg.out_bits = int(rng.choice([0, 11, 15]))
        ops.append(("start", cfg, rng.integers(0, 1024, N_LINES), rng.integers(0, 1024, N_LINES),
                    scripted_cmp(seed * 1000 + i)))
    return ops


@pytest.mark.parametrize("seed", [1, 2])
def test_random_configs_match_model(seed):
    ops = _random_ops(seed, 14)
    _check_against_model(ops, ControllerBench().run(ops))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 13))
def test_random_configs_match_model_long(seed):
    ops = _random_ops(seed, 30)
    _check_against_model(ops, ControllerBench().run(ops))


def test_errors_abort_power():
    rng = np.random.default_rng(5)
    z = np.zeros(N_LINES, np.int64)
    good = CoreConfig(mode=3, in_bits=3, out_bits=3, integ_cyc=2)
    bad = {
        CfgErr.IN_BITS: dict(in_bits=9), CfgErr.OUT_BITS: dict(out_bits=0),
        CfgErr.SPLIT: dict(two_phase=1, split=2), CfgErr.N_ROWS: dict(n_rows=257),
        CfgErr.WL_NS: dict(wl_ns=11), CfgErr.MODE_IDLE: dict(mode=0),
        CfgErr.DISABLED: dict(power_enable=0), CfgErr.OUT_BITS_LSB: dict(two_phase=1, split=1, out_bits_lsb=11),
    }
    ops = []
    for code, kw in bad.items():
        cfg = CoreConfig(**{**good.__dict__, **kw})
        assert validate(cfg) == code
        if code == CfgErr.DISABLED:
            ops.append(("power", 0))
        ops.append(("start", cfg, z, z, scripted_cmp(0)))
        if code == CfgErr.DISABLED:
            ops.append(("power", 1))
    ops.append(("start", good, rng.integers(0, 8, N_LINES), z, scripted_cmp(1)))
    ops.append(("abort_after", good, rng.integers(0, 8, N_LINES), z, scripted_cmp(2), 5))
    ops.append(("power", 0))
    ops.append(("power", 0))
    ops.append(("power", 1))
    ops.append(("start", good, rng.integers(0, 8, N_LINES), z, scripted_cmp(3)))
    results = ControllerBench().run(ops)
    by_op = list(zip(ops, results))
    refused = [(o, r) for o, r in by_op if o[0] == "start" and validate(o[1])]
    assert [r["err"] for _, r in refused] == list(bad)
    assert all(r["events"] == [] and not r["done"] for _, r in refused)
    n = len(ops)
    assert results[n - 6]["done"] and results[n - 6]["err"] == 0
    ab = results[n - 5]
    # Abort raised in the cycle of the 5th event; the capture register lets one more
    # state (the 6th event) run before the abort takes effect.
    assert len(ab["events"]) == 6 and not ab["done"]
    assert [e.kind for e in results[n - 4]["events"]] == [EventKind.POWER]
    assert results[n - 4]["events"][0].power_down
    assert results[n - 3]["events"] == []
    assert not results[n - 2]["events"][0].power_down
    # The run after the abort is complete and exact.
    model_ops = [o for o in ops if o[0] != "abort_after"]
    _check_against_model(model_ops, [r for o, r in zip(ops, results) if o[0] != "abort_after"])


def test_program_mode():
    rng = np.random.default_rng(9)
    ops = []
    for op, cycles in [(0, 3), (1, 1), (2, 7), (0, 0)]:
        cfg = CoreConfig(mode=1, prog_op=op, prog_amp=int(rng.integers(0, 256)),
                         prog_row=int(rng.integers(0, 256)), prog_col=int(rng.integers(0, 256)),
                         prog_cycles=cycles)
        ops.append(("start", cfg, rng.integers(0, 1024, N_LINES), rng.integers(0, 1024, N_LINES),
                    scripted_cmp(0)))
    results = ControllerBench().run(ops)
    for op, res in zip(ops, results):
        cfg = op[1]
        ev = res["events"]
        assert [e.kind for e in ev] == [EventKind.PROG_BEGIN, EventKind.PROG_END]
        hot_bl = np.zeros(N_LINES, np.int64)
        hot_bl[cfg.prog_row] = 1
        hot_sl = np.zeros(N_LINES, np.int64)
        hot_sl[cfg.prog_col] = 1
        assert np.array_equal(res["bl"], hot_bl) and np.array_equal(res["sl"], hot_sl)
        b = ev[0]
        assert np.flatnonzero(b.wl_en).tolist() == [cfg.prog_row]
        sel_bl = Level.VPROG if cfg.prog_op != 1 else Level.GND
        sel_sl = Level.VPROG if cfg.prog_op == 1 else Level.GND
        assert b.bl_drv[cfg.prog_row] == sel_bl and b.sl_drv[cfg.prog_col] == sel_sl
        assert np.sum(b.bl_drv != Level.GND) == (sel_bl != Level.GND)
        # SET / READ float the unselected SLs so only the selected cell of the row conducts.
        unsel_sl = Level.GND if cfg.prog_op == 1 else Level.FLOAT
        assert np.all(np.delete(b.sl_drv, cfg.prog_col) == unsel_sl)
        assert b.prog_op == cfg.prog_op and b.prog_amp == cfg.prog_amp
        assert ev[1].width_ns == 10 * max(cfg.prog_cycles, 1)
        assert res["cycles"] == program_cycles(cfg)
    _check_against_model(ops, results)


def _code(bits_msb_first):
    v = 0
    for b in bits_msb_first:
        v = (v << 1) | int(b)
    return v


@pytest.mark.parametrize("act", [0, 1, 2, 3])
def test_writeback_codes_and_routing(act):
    """Hand-derived codes for scripted comparisons, forward (SL(k) routing) and backward."""
    k = 4
    # Neuron n sees sign s_n and raw magnitude comparisons r_n (3 bits).
    rng = np.random.default_rng(100 + act)
    raw = rng.integers(0, 2, (k, N_LINES)).astype(bool)
    cmp_fn = lambda i: raw[i]
    ops = []
    for d in (0, 1):
        cfg = CoreConfig(mode=3, dir=d, act=act, in_bits=2, out_bits=k, integ_cyc=1)
        ops.append(("start", cfg, rng.integers(0, 4, N_LINES), rng.integers(0, 4, N_LINES), cmp_fn))
    results = ControllerBench().run(ops)
    for d, res in zip((0, 1), results):
        out = res["sl"] if d == 0 else res["bl"]
        for n in range(N_LINES):
            s, r = raw[0, n], raw[1:, n]
            if act == Activation.NONE:
                want = _code([s] + [x if s else not x for x in r])
            elif act == Activation.RELU:
                want = _code([s] + list(r)) if s else 0
            elif act == Activation.SIGMOID:
                want = _code([s] + list(r))
            else:
                want = _code([not s] + list(r))
            entry = neuron_sl(n) if d == 0 else n
            assert out[entry] == want, (act, d, n)
        wr = _kinds(res["events"], EventKind.WR)
        assert all(e.sl_sel == (d == 0) and e.bl_sel == (d == 1) for e in wr)
    _check_against_model(ops, results)


@pytest.mark.parametrize("d,msb_file,lsb_file", [(0, SL_FILE, BL_FILE), (1, BL_FILE, SL_FILE),
                                                  (2, SL_FILE, BL_FILE)])
def test_two_phase_destinations(d, msb_file, lsb_file):
    cfg = CoreConfig(mode=3, dir=d, two_phase=1, in_bits=6, split=2, out_bits=5,
                     out_bits_lsb=3, integ_cyc=1)
    rng = np.random.default_rng(d)
    bl, sl = rng.integers(0, 64, N_LINES), rng.integers(0, 64, N_LINES)
    res = ControllerBench().run([("start", cfg, bl, sl, scripted_cmp(7))])[0]
    ev = res["events"]
    resets = [i for i, e in enumerate(ev) if e.kind == EventKind.RESET]
    assert len(resets) == 2
    seg1, seg2 = ev[:resets[1]], ev[resets[1]:]
    assert len(_kinds(seg1, EventKind.WL_PULSE)) == 3 and len(_kinds(seg2, EventKind.WL_PULSE)) == 2
    assert len(_kinds(seg1, EventKind.COMPARE)) == 5 and len(_kinds(seg2, EventKind.COMPARE)) == 3
    assert all(e.sl_sel == (msb_file == SL_FILE) for e in _kinds(seg1, EventKind.WR))
    assert all(e.sl_sel == (lsb_file == SL_FILE) for e in _kinds(seg2, EventKind.WR))
    files = {BL_FILE: res["bl"], SL_FILE: res["sl"]}
    assert files[msb_file].max() < 32 and files[lsb_file].max() < 8
    _check_against_model([("start", cfg, bl, sl, scripted_cmp(7))], [res])


def test_plane_levels_and_rows():
    """Driver levels per plane: sign, magnitude bit, diff pairs, unsigned; WL rows."""
    bl = np.zeros(N_LINES, np.int64)
    bl[0] = 0b1101        # +5 (4-bit signed: sign 1, mag 101)
    bl[1] = 0b0011        # -3
    bl[2] = 0b0110        # -6
    bl[4] = 0b1111        # +7, diff pair (4, 5)
    cfgs = [CoreConfig(mode=3, in_bits=4, out_bits=1, n_rows=3, integ_cyc=1),
            CoreConfig(mode=3, in_bits=4, out_bits=1, diff_in=1, n_rows=200, integ_cyc=1),
            CoreConfig(mode=3, in_bits=4, in_signed=0, out_bits=1, dir=1, integ_cyc=1),
            CoreConfig(mode=2, in_bits=4, out_bits=1, integ_cyc=1)]
    ops = [("start", c, bl, bl, scripted_cmp(0)) for c in cfgs]
    results = ControllerBench().run(ops)
    P, N, R, F = Level.VREF_P, Level.VREF_N, Level.VREF, Level.FLOAT
    wl = [e for e in results[0]["events"] if e.kind == EventKind.WL_PULSE]
    assert [tuple(e.bl_drv[:3]) for e in wl] == [(P, N, R), (R, N, N), (P, R, N)]
    assert all((e.sl_drv == F).all() and np.flatnonzero(e.wl_en).tolist() == [0, 1, 2] for e in wl)
    wl = [e for e in results[1]["events"] if e.kind == EventKind.WL_PULSE]
    # Pairs (0,1) from +5, (2,3) from -6, (4,5) from +7; the odd line has the opposite sign.
    assert [tuple(e.bl_drv[:6]) for e in wl] == [(P, N, R, R, P, N), (R, R, N, P, P, N),
                                                 (P, N, N, P, P, N)]
    assert all(e.wl_en.sum() == 200 for e in wl)
    wl = [e for e in results[2]["events"] if e.kind == EventKind.WL_PULSE]   # unsigned, SLs
    assert [tuple(e.sl_drv[:3]) for e in wl] == [(P, P, R), (R, P, P), (P, R, P), (P, R, R)]
    assert all((e.bl_drv == F).all() and e.wl_en.all() for e in wl)
    smp = _kinds(results[2]["events"], EventKind.SAMPLE)
    assert all(e.bl_sel and not e.sl_sel for e in smp)
    nt = results[3]["events"]                                                  # neuron test
    assert all(not e.wl_en.any() for e in _kinds(nt, EventKind.WL_PULSE))
    assert all(e.bl_sel for e in _kinds(nt, EventKind.SAMPLE))
    _check_against_model(ops, results)


def test_model_rejects_bad_args():
    with pytest.raises(ValueError):
        CoreConfig(in_bits=16)
    with pytest.raises(TypeError):
        CoreConfig.from_registers([1, 2])
    cfg = CoreConfig.from_registers({("ctrl", "mode"): 3, "bits.in_bits": 6, "out_bits": 9})
    assert (cfg.mode, cfg.in_bits, cfg.out_bits, cfg.n_rows) == (3, 6, 9, 256)
    with pytest.raises(ValueError):
        ControllerModel().run(cfg, np.zeros(5), np.zeros(N_LINES), lambda e: None)

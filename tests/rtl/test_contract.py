"""The chip contract (rtl/contract): one definition of each rule, importable without Amaranth,
and every layer agreeing with it where the copies used to disagree."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

from rtl.contract import (CLK_NS, MAX_CORES, N_CORES, CfgErr, CoreConfig, decode_outputs,
                          event_log, frames, mvm_cycles)
from rtl.contract.config import CONFIG_FIELDS, output_bit, output_codes
from rtl.contract.registers import CHIP, CORE, Act, Dir, Mode

HEAVY = ("amaranth", "cocotb", "torch", "systemrdl")


def test_firmware_and_analog_models_import_without_amaranth_torch_cocotb():
    code = ("import sys, firmware.midlevel, firmware.highlevel, analog_models, rtl.contract, "
            "rtl.controller_model, cosim.mvmjob\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_generated_register_map_is_the_rdl():
    regmap = pytest.importorskip("rtl.regmap")
    assert regmap.compiled("neurram_core") == CORE
    assert regmap.compiled("neurram_chip") == CHIP


def test_max_cores_is_what_the_chip_registers_can_select():
    sel = sum(CHIP.reg(f"CORE_SEL{i}").field("mask").width for i in range(3))
    busy = sum(CHIP.reg(f"BUSY{i}").field("mask").width for i in range(3))
    assert MAX_CORES == N_CORES == sel == busy == 48


def test_config_fields_defaults_are_register_resets():
    words = CoreConfig().register_words()
    for name, reg, fld, width, reset in CONFIG_FIELDS:
        f = CORE.reg(reg).field(fld)
        assert (f.width, f.reset) == (width, reset)
        assert words[reg.upper()] == CORE.reg(reg).reset
    with pytest.raises(ValueError, match="vdecr"):
        CoreConfig(vdecr=1 << CORE.reg("VDECR").field("code").width)
    with pytest.raises(TypeError, match="in_bits"):
        CoreConfig(in_bits=4.0)


def _firmware_accepts(**kw):
    from firmware.midlevel import MvmConfig
    try:
        MvmConfig(**kw).validate()
        return True
    except ValueError:
        return False


def _analog_accepts(cfg):
    from analog_models import config as C
    try:
        C.check_config(cfg)
        return True
    except ValueError:
        return False


def test_split_bound_same_in_firmware_analog_models_and_controller():
    # The firmware bounded the split by min(7, m-1), the models and the RTL by m-1.
    for in_bits, signed, split in itertools.product(range(1, 9), (True, False), range(0, 8)):
        cc = CoreConfig.mvm(in_bits=in_bits, in_signed=int(signed), two_phase=1, split=split)
        rtl_ok = cc.validate() == CfgErr.OK
        assert _analog_accepts(cc) == rtl_ok, (in_bits, signed, split)
        fw = _firmware_accepts(in_bits=in_bits, signed=signed, two_phase=True, split=split)
        assert fw == rtl_ok, (in_bits, signed, split)


def test_vread_vdecr_zero_accepted_by_chip_refused_only_for_normalisation():
    # The firmware refused 0 as a register limit, the analog models accepted it: the
    # controller takes 0 (no STATUS.err), only the host's normalisation cannot use it.
    for name in ("vread", "vdecr"):
        cc = CoreConfig.mvm(**{name: 0})
        assert cc.validate() == CfgErr.OK and _analog_accepts(cc)
        from firmware.midlevel import MvmConfig
        with pytest.raises(ValueError, match=f"{name} must be >= 1 for a normalised MVM"):
            MvmConfig(**{name: 0}).validate()


def test_firmware_expected_time_is_the_exact_cycle_count():
    from firmware.midlevel import MidLevel, MvmConfig
    from tests.firmware.conftest import golden_mid

    mid: MidLevel = golden_mid()
    for cfg in (MvmConfig(), MvmConfig(in_bits=6, out_bits=8), MvmConfig(in_bits=8, out_bits=10,
                                                                           noise_steps=3)):
        assert mid.expected_ns(cfg) == mvm_cycles(cfg.core_config()) * CLK_NS


def test_destination_files_firmware_cosim_and_contract_agree():
    from cosim.mvmjob import MvmSetup, result_frames
    for d, two in itertools.product((0, 1, 2), (False, True)):
        s = MvmSetup(direction=d, in_bits=6, two_phase=two, split=2)
        segs = s.core_config().segments()
        assert [f for f, _ in result_frames(s, both=True)] == [g.dest for g in segs]
        # one segment: FWD -> SL, BWD / REC -> BL; two-phase: MSB to the non-input file
        if not two:
            assert segs[0].dest == (1 if d == 0 else 0)
        else:
            assert segs[0].dest == 1 - s.core_config().input_file
            assert segs[1].dest == s.core_config().input_file


def test_output_codes_by_the_rtl_bit_rule_decode_to_the_sign_magnitude_value():
    rng = np.random.default_rng(0)
    for act, k in itertools.product(Act, (1, 2, 6, 10)):
        bits = rng.integers(0, 2, (5, k, 256)).astype(bool)
        codes = output_codes(bits, act)
        # bit c of the code is output_bit of comparison c
        for c in range(k):
            want = output_bit(int(act), c, bits[:, c], bits[:, 0])
            np.testing.assert_array_equal((codes >> (k - 1 - c)) & 1, want)
        v = decode_outputs(codes, k, act)
        assert np.all(np.abs(v) <= (1 << (k - 1)))
        np.testing.assert_array_equal(decode_outputs(codes, k, act.name), v)


def test_event_log_verilog_block_is_generated_from_the_table():
    text = event_log.VERILOG_PATH.read_text()
    assert event_log.render_verilog() in text
    assert event_log.main(["--check"]) == 0
    entry = 0
    values = {}
    for i, (name, lsb, width) in enumerate(event_log.ENTRY_FIELDS):
        values[name] = (i * 7 + 1) & ((1 << width) - 1)
        entry |= values[name] << lsb
    assert event_log.decode_entry(entry) == values


def test_frames_round_trip_and_host_encoders_are_the_layouts():
    from firmware import lowlevel as ll
    from rtl import frame

    v = np.arange(37) % 8
    assert frames.unpack_entries(frames.pack_entries(v, 3), 37, 3).tolist() == v.tolist()
    assert ll.encode_rf_write(1, 0, 3, v, 3) == frames.rf_write(1, 0, 3, v, 3) \
        == frame.frame_rf_write(1, 0, 3, list(v), 3)
    assert ll.encode_reg_read(0, 5) == frames.reg_read(0, 5) == frame.frame_reg_read(0, 5)
    # the layouts build frames the host refuses (the RTL tests need them) ...
    frames.reg_read(0xFF, 1)
    # ... the host's encoder does not
    with pytest.raises(ValueError, match="broadcast"):
        ll.encode_reg_read(0xFF, 1)


def test_mvmjob_raises_instead_of_masking():
    from cosim.mvmjob import MvmSetup, field_value, setup_frames
    with pytest.raises(ValueError, match="in_bits"):
        field_value("BITS", in_bits=16)
    with pytest.raises(ValueError, match="vread"):
        setup_frames(MvmSetup(vread=256))
    with pytest.raises(KeyError, match="no field"):
        field_value("BITS", nope=1)


def test_mode_enums_are_the_rdl_enums():
    from rtl import analog_bus
    assert analog_bus.Mode is Mode and analog_bus.Direction is Dir and analog_bus.Activation is Act

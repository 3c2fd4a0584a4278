"""Low level: frame bytes checked by hand against docs/architecture.md §2, driver logic."""

import numpy as np
import pytest

from firmware import lowlevel as ll
from tests.firmware.fakechip import FakeTransport


def test_reg_frames_by_hand():
    # REG_WRITE core 3, CTRL (word 0x01), value 0x0243: op core addr d_hi d_lo
    assert ll.encode_reg_write(3, 0x01, 0x0243) == bytes([0x01, 0x03, 0x01, 0x02, 0x43])
    assert ll.encode_reg_read(0xFE, 0x02) == bytes([0x02, 0xFE, 0x02, 0, 0, 0])
    assert ll.decode_reg_read(bytes([0, 0, 0, 0, 0xAB, 0xCD])) == 0xABCD


def test_rf_write_by_hand():
    # 3 entries of 4 bits 0xA, 0x3, 0xF -> bits 1010 0011 1111 0000 -> 0xA3 0xF0
    f = ll.encode_rf_write(0, 1, 5, [0xA, 0x3, 0xF], 4)
    assert f == bytes([0x03, 0x00, 0x01, 0x05, 0x02, 0x04, 0xA3, 0xF0])
    # 2 entries of 10 bits 0x3FF, 0x001 -> 1111111111 0000000001 + 4 pad -> FF C0 10
    assert ll.pack_entries([0x3FF, 0x001], 10) == bytes([0xFF, 0xC0, 0x10])
    # 1-bit entries 1,0,1 -> 101 00000
    assert ll.pack_entries([1, 0, 1], 1) == bytes([0xA0])


def test_rf_read_by_hand():
    f = ll.encode_rf_read(2, 0, 0, 3, 6)     # 18 bits -> 3 data bytes
    assert f == bytes([0x04, 0x02, 0x00, 0x00, 0x02, 0x06, 0x00, 0, 0, 0])
    miso = bytes(7) + bytes([0b10000101, 0b11110000, 0b01000000])
    # 100001 011111 000001
    assert ll.decode_rf_read(miso, 3, 6).tolist() == [0b100001, 0b011111, 0b000001]


@pytest.mark.parametrize("width", range(1, 11))
def test_pack_roundtrip(width):
    rng = np.random.default_rng(width)
    v = rng.integers(0, 1 << width, size=256)
    assert ll.unpack_entries(ll.pack_entries(v, width), 256, width).tolist() == v.tolist()


def test_frame_validation():
    with pytest.raises(ValueError, match="width"):
        ll.encode_rf_write(0, 0, 0, [1], 11)
    with pytest.raises(ValueError, match="start \\+ count"):
        ll.encode_rf_write(0, 0, 255, [1, 2], 4)
    with pytest.raises(ValueError, match="broadcast"):
        ll.encode_reg_read(0xFF, 0)
    with pytest.raises(ValueError, match="0..15"):
        ll.pack_entries([16], 4)


def test_input_output_formats():
    # signed 4-bit: sign bit 3 = 1 for positive: +5 -> 0b1101, -5 -> 0b0101, 0 -> 0b1000
    assert ll.encode_inputs([5, -5, 0], 4).tolist() == [0b1101, 0b0101, 0b1000]
    assert ll.encode_inputs([0, 1], 1).tolist() == [0, 1]
    with pytest.raises(ValueError, match="-7..7"):
        ll.encode_inputs([8], 4)
    # 6-bit output: sign 1 mag 3 -> +3.5 LSB; sign 0 mag 0 -> -0.5
    assert ll.decode_outputs([0b100011, 0b000000], 6).tolist() == [3.5, -0.5]
    assert ll.decode_outputs([0b000011], 6, "RELU").tolist() == [0.0]
    # hard sigmoid offset binary: u=32 of 64 -> +0.5 LSB; tanh two's complement 0b111111 = -1 -> -0.5
    assert ll.decode_outputs([32], 6, "SIGMOID").tolist() == [0.5]
    assert ll.decode_outputs([0b111111], 6, "TANH").tolist() == [-0.5]


def test_chip_driver_fields_and_shadow():
    t = FakeTransport(n_cores=2)
    chip = ll.Chip(t)
    assert chip.n_cores == 2
    n0 = len(t.frames)
    chip.write_fields(1, "CTRL", mode="MVM", dir="BWD")
    # RMW: one read of CTRL (reset 0x100) then one write 0x100 | 3 | 1<<2
    assert t.frames[n0] == bytes([0x02, 0x01, 0x01, 0, 0, 0])
    assert t.frames[n0 + 1] == bytes([0x01, 0x01, 0x01, 0x01, 0x07])
    n1 = len(t.frames)
    chip.write_fields(1, "CTRL", mode="MVM")   # unchanged: no frame
    assert len(t.frames) == n1
    with pytest.raises(ValueError, match="core must be in 0..1"):
        chip.write_fields(2, "CTRL", mode=1)
    with pytest.raises(ValueError, match="no field"):
        chip.write_fields(0, "CTRL", bogus=1)
    with pytest.raises(ValueError, match="CTRL.mode"):
        chip.write_fields(0, "CTRL", mode=4)
    assert len(t.frames) == n1 + 0 or all(f[0] == 2 for f in t.frames[n1:])   # nothing written


def test_run_timeout_never_hangs():
    t = FakeTransport(n_cores=1)
    chip = ll.Chip(t)
    t.never_done = True
    chip.write_fields(0, "CTRL", mode="MVM")
    with pytest.raises(TimeoutError):
        chip.run(0, timeout_ns=5000)
    assert t.frames[-1][:3] == bytes([0x01, 0x00, 0x0D]) and t.frames[-1][4] == 2   # abort


def test_config_error_raised():
    t = FakeTransport(n_cores=1)
    chip = ll.Chip(t)
    t.regs[0, 14] = 6 << 4     # MODE_IDLE
    with pytest.raises(ll.ConfigError, match="MODE_IDLE"):
        chip.wait_done(0)


def test_parallel_start_mask():
    t = FakeTransport(n_cores=2)
    chip = ll.Chip(t)
    chip.start_parallel([1, 0])
    assert sorted(t.started) == [0, 1]
    assert bytes([0x01, 0xFE, 0x04, 0x00, 0x03]) in t.frames     # CORE_SEL0 = 0b11


def test_programming_frames():
    t = FakeTransport(n_cores=1)
    chip = ll.Chip(t)
    g = chip.read_cell(0, 3, 7, amp_v=0.2, width_ns=1000)
    assert g == 12.5
    assert bytes([0x01, 0x00, 0x0B, 7, 3]) in t.frames            # PROG_ADDR col=7,row=3
    assert bytes([0x01, 0x00, 0x0A, 20, 2]) in t.frames           # PROG amp 0.2V=20, op READ
    with pytest.raises(ValueError, match="amplitude"):
        chip.pulse(0, "SET", 3.0, 1000)
    with pytest.raises(ValueError, match="op must be"):
        chip.pulse(0, "ZAP", 1.0, 1000)

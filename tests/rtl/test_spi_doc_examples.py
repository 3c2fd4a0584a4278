"""The byte examples of docs/spi.md, run through the golden FrameModel."""

from rtl.frame import CoreTargetModel, FrameModel, SpiErr, pack_entries


def test_examples():
    t = CoreTargetModel(6)
    fm = FrameModel(t, 6)
    assert fm.transfer(bytes.fromhex("0102010107")) == bytes(5)
    assert t.regs[2].read(0x01) == 0x0107
    assert fm.transfer(bytes.fromhex("020000000000")) == bytes.fromhex("000000004e43")
    assert pack_entries([3, 1, 6], 3) == bytes.fromhex("6700")
    assert fm.transfer(bytes.fromhex("03ff010402036700")) == bytes(8)
    assert [t.files[c][1].read(i) for c in (0, 5) for i in (4, 5, 6)] == [3, 1, 6] * 2
    assert fm.transfer(bytes.fromhex("040501040204000000")) == bytes.fromhex("000000000000003160")
    assert fm.transfer(bytes.fromhex("01fe040009")) == bytes(5)
    fm.transfer(bytes.fromhex("01fe030001"))
    assert t.started == [1, 0, 0, 1, 0, 0]
    assert fm.transfer(bytes.fromhex("010001000300")) == bytes(6)
    assert fm.last_err == SpiErr.EXTRA_BYTES
    assert fm.transfer(bytes.fromhex("02fe02000000")) == bytes.fromhex("000000000108")

"""SpiSlave driven with real SCLK / CS_n / MOSI waveforms against SpiSlaveModel."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl.spi import SpiSlave, SpiSlaveModel
from rtlbus_helpers import SpiHost


def _tx_byte(k: int, rx_before: bytes) -> int:
    # a reply that depends on what was received two bytes earlier, as a read does
    return (0xA5 ^ (k * 37) ^ (rx_before[-1] if rx_before else 0)) & 0xFF


def _run(frames, half, seed=0):
    """frames: list of (mosi bytes, extra_bits, partial_byte). Returns per-frame results."""
    rng = np.random.default_rng(seed)
    dut = SpiSlave()
    host = SpiHost(dut.sclk, dut.cs_n, dut.mosi, dut.miso, half=half, rng=rng)
    results = []
    events = []

    async def host_tb(ctx):
        for mosi, extra, pbyte in frames:
            miso = await host.frame(ctx, mosi, extra_bits=extra, partial_byte=pbyte)
            results.append(miso)

    async def decoder_double(ctx):
        # presents tx byte k+1 after byte k was taken, computed from the bytes received
        rx = bytearray()
        k = 0
        ctx.set(dut.tx_data, _tx_byte(0, b""))
        async for clk_edge, rst, tx_load, rx_valid, rx_data, cs_start, cs_end, partial in ctx.tick().sample(
                dut.tx_load, dut.rx_valid, dut.rx_data, dut.cs_start, dut.cs_end, dut.cs_partial):
            if cs_start:
                events.append(("start",))
            if rx_valid:
                rx.append(rx_data)
                ctx.set(dut.tx_data, _tx_byte(k, bytes(rx[:max(k - 1, 0)])))
            if tx_load:
                k += 1
                ctx.set(dut.tx_data, _tx_byte(k, bytes(rx[:max(k - 1, 0)])))
            if cs_end:
                events.append(("end", bytes(rx), partial))
                rx = bytearray()
                k = 0
                ctx.set(dut.tx_data, _tx_byte(0, b""))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(decoder_double)
    sim.add_testbench(host_tb)
    sim.run()
    return results, events


@pytest.mark.parametrize("half", [2, 3, 4, (2, 5)])
def test_frames_against_model(half):
    seed = 11
    print("seed", seed)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(4):
        n = int(rng.integers(1, 6))
        frames.append((bytes(rng.integers(0, 256, n).tolist()), 0, 0))
    frames.append((bytes([0x12, 0x34]), 3, 0xE0))   # CS released mid-byte
    frames.append((b"", 5, 0xFF))                   # only a partial byte
    frames.append((bytes([0xFF, 0x00, 0x81]), 0, 0))
    results, events = _run(frames, half, seed)
    model = SpiSlaveModel()
    ends = [e for e in events if e[0] == "end"]
    assert len(ends) == len(frames) == len([e for e in events if e[0] == "start"])
    for (mosi, extra, pbyte), miso, end in zip(frames, results, ends):
        ref = model.frame(mosi, _tx_byte, extra_bits=extra, partial_byte=pbyte)
        assert end[1] == ref.rx
        assert bool(end[2]) == ref.partial
        assert miso == ref.miso, (miso.hex(), ref.miso.hex())


def test_miso_idle_low_and_model_checks():
    with pytest.raises(ValueError):
        SpiSlaveModel().frame(b"", _tx_byte, extra_bits=8)
    results, events = _run([(bytes([0x5A]), 0, 0)], 2)
    assert events[-1] == ("end", bytes([0x5A]), 0)

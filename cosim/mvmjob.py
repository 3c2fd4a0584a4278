"""One MVM transaction as a host does it, for the testbench (async) and the golden model.

The frame encodings are the firmware's (``firmware.lowlevel``); these helpers exist so
the bench and the regression can run transactions without a thread per call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from firmware import lowlevel as ll
from firmware import registers as R

RF_BL, RF_SL = 0, 1


def _reg(name: str):
    from firmware import _regmap

    return _regmap.load().core[name]


def field_value(reg: str, **fields) -> int:
    """Register word with the given fields (others at their reset values)."""
    r = _reg(reg)
    value = 0
    for f in r.fields.values():
        value |= (f.reset if hasattr(f, "reset") else 0) << f.lsb
    for name, v in fields.items():
        f = r.fields[name]
        value = (value & ~f.mask) | ((int(v) & f.max) << f.lsb)
    return value


@dataclass
class MvmSetup:
    """An MVM configuration (defaults: forward, signed inputs, no activation)."""

    core: int = 0
    direction: int = 0          # 0 FWD, 1 BWD, 2 REC
    in_bits: int = 4
    out_bits: int = 6
    act: int = 0
    stoch: bool = False
    diff_in: bool = False
    in_signed: bool = True
    two_phase: bool = False
    split: int = 3
    out_bits_lsb: int = 5
    n_rows: int = 256
    wl_ns: int = 10
    mode: int = 3               # 3 MVM, 2 NEURON_TEST
    vread: int = 100
    vdecr: int = 2048
    noise_steps: int = 0
    vnoise: int = 0

    @property
    def in_file(self) -> int:
        return RF_SL if self.direction == 1 else RF_BL


def out_file(setup: MvmSetup) -> int:
    """Where the (MSB-segment) results land (architecture §5)."""
    if setup.two_phase:
        return {0: RF_SL, 1: RF_BL, 2: RF_SL}[setup.direction]
    return {0: RF_SL, 1: RF_BL, 2: RF_BL}[setup.direction]


def setup_frames(s: MvmSetup) -> list[bytes]:
    """REG_WRITE frames configuring core ``s.core`` for the MVM."""
    ctrl = field_value("CTRL", mode=s.mode, dir=s.direction, act=s.act, stoch=int(s.stoch),
                       diff_in=int(s.diff_in), in_signed=int(s.in_signed), two_phase=int(s.two_phase))
    bits = field_value("BITS", in_bits=s.in_bits, out_bits=s.out_bits, split=s.split,
                       out_bits_lsb=s.out_bits_lsb)
    timing = field_value("TIMING", wl_ns=s.wl_ns)
    regs = [("CTRL", ctrl), ("BITS", bits), ("ROWS", s.n_rows), ("VREAD", s.vread),
            ("VDECR", s.vdecr), ("TIMING", timing),
            ("NOISE", field_value("NOISE", steps=s.noise_steps, vnoise=s.vnoise))]
    return [ll.encode_reg_write(s.core, _reg(n).addr, v) for n, v in regs]


def input_codes(s: MvmSetup, x) -> np.ndarray:
    return ll.encode_inputs(np.asarray(x), s.in_bits, signed=s.in_signed and s.in_bits > 1)


@functools.lru_cache(maxsize=None)
def _start_frame(core: int) -> bytes:
    return ll.encode_reg_write(core, _reg("CMD").addr, field_value("CMD", start=1))


@functools.lru_cache(maxsize=None)
def _status_frame(core: int) -> bytes:
    return ll.encode_reg_read(core, _reg("STATUS").addr)


def start_frame(s: MvmSetup) -> bytes:
    return _start_frame(s.core)


def status_frame(s: MvmSetup) -> bytes:
    return _status_frame(s.core)


def status_fields(word: int) -> dict:
    r = _reg("STATUS")
    return {n: (word >> f.lsb) & f.max for n, f in r.fields.items()}


_wait_ns: dict[tuple, float] = {}


def random_inputs(s: MvmSetup, rng, n: int | None = None) -> np.ndarray:
    """Random integer inputs in the full range of the configured input format."""
    shape = (256,) if n is None else (n, 256)
    if s.in_signed and s.in_bits > 1:
        lim = (1 << (s.in_bits - 1)) - 1
        return rng.integers(-lim, lim + 1, size=shape)
    return rng.integers(0, 1 << s.in_bits, size=shape)


def result_frames(s: MvmSetup, both: bool) -> list[tuple[int, int]]:
    """(file, width) reads that fetch the results: the output file at out_bits, plus
    (``both``) the LSB segment of a two-phase MVM from the input file."""
    out = [(out_file(s), s.out_bits)]
    if both and s.two_phase:
        out.append((s.in_file, s.out_bits_lsb))
    return out


async def run_mvm_async(tb, s: MvmSetup, x, timeout_ns: float = 5e6, both: bool = False):
    """Load ``x``, start, wait for done, read the outputs (cosim, async).

    Returns the output codes, or with ``both`` a list of code arrays (see
    :func:`result_frames`)."""
    await tb.frame(ll.encode_rf_write(s.core, s.in_file, 0, input_codes(s, x), s.in_bits))
    await tb.frame(start_frame(s))
    key = (s.in_bits, s.out_bits, s.two_phase, s.noise_steps, s.mode)
    calibrated = key in _wait_ns
    t0 = None if calibrated else tb.cycles()
    if calibrated:
        await tb.wait_ns(_wait_ns[key])
    waited = 0.0
    while True:
        st = status_fields(ll.decode_reg_read(await tb.frame(status_frame(s))))
        if st["err"]:
            raise RuntimeError(f"start refused: STATUS.err = {st['err']}")
        if st["done"] and not st["busy"]:
            break
        await tb.wait_ns(200.0)
        waited += 200.0
        if waited > timeout_ns:
            raise TimeoutError("MVM did not finish")
    if not calibrated:
        # A host calibrates its first poll on the operation's duration.
        _wait_ns[key] = max(0.0, (tb.cycles() - t0) * 10.0 - 300.0)
    res = []
    for f, w in result_frames(s, both):
        miso = await tb.frame(ll.encode_rf_read(s.core, f, 0, 256, w))
        res.append(ll.decode_rf_read(miso, 256, w))
    return res if both else res[0]


def run_mvm_golden(chip, s: MvmSetup, x, both: bool = False):
    """The same transaction on a :class:`cosim.golden.GoldenChip`."""
    chip.spi(ll.encode_rf_write(s.core, s.in_file, 0, input_codes(s, x), s.in_bits))
    chip.spi(start_frame(s))
    st = status_fields(ll.decode_reg_read(chip.spi(status_frame(s))))
    if st["err"]:
        raise RuntimeError(f"start refused: STATUS.err = {st['err']}")
    res = []
    for f, w in result_frames(s, both):
        miso = chip.spi(ll.encode_rf_read(s.core, f, 0, 256, w))
        res.append(ll.decode_rf_read(miso, 256, w))
    return res if both else res[0]

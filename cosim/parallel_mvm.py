"""One parallel MVM on several cores, as a host does it: load every core's inputs, select
the cores (``CORE_SEL0-2``), one ``CHIP_CMD.start_sel``, wait until ``BUSY0-2`` read 0,
read every core's outputs. For the testbench (async) and the golden model.

Each core keeps its own :class:`cosim.mvmjob.MvmSetup` (configured beforehand with
:func:`cosim.mvmjob.setup_frames`); the frame encodings are the firmware's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from firmware import lowlevel as ll
from firmware import registers as R

from .mvmjob import MvmSetup, input_codes, out_file

_SEL_REGS = (R.CORE_SEL0, R.CORE_SEL1, R.CORE_SEL2)
_BUSY_REGS = (R.BUSY0, R.BUSY1, R.BUSY2)
_PER_REG = R.CORE_SEL0.MASK.width


def select_frames(cores: Sequence[int]) -> list[bytes]:
    """REG_WRITE frames of CORE_SEL0-2 selecting exactly ``cores``."""
    frames = []
    for i, reg in enumerate(_SEL_REGS):
        mask = sum(1 << (c - _PER_REG * i) for c in cores if _PER_REG * i <= c < _PER_REG * (i + 1))
        frames.append(ll.encode_reg_write(ll.CHIP, reg.ADDR, reg.MASK.put(0, mask)))
    return frames


def start_sel_frame() -> bytes:
    return ll.encode_reg_write(ll.CHIP, R.CHIP_CMD.ADDR, R.CHIP_CMD.START_SEL.put(0, 1))


def busy_regs(n_cores: int) -> tuple:
    """The BUSY registers that hold a bit of one of ``n_cores`` cores."""
    return _BUSY_REGS[: (n_cores + _PER_REG - 1) // _PER_REG]


def load_frames(setups: Sequence[MvmSetup], xs) -> list[bytes]:
    return [ll.encode_rf_write(s.core, s.in_file, 0, input_codes(s, x), s.in_bits)
            for s, x in zip(setups, xs)]


def read_frames(setups: Sequence[MvmSetup]) -> list[bytes]:
    return [ll.encode_rf_read(s.core, out_file(s), 0, 256, s.out_bits) for s in setups]


def _check(setups: Sequence[MvmSetup]) -> None:
    cores = [s.core for s in setups]
    if not cores or len(set(cores)) != len(cores):
        raise ValueError(f"a parallel MVM needs distinct cores, got {cores!r}")


_wait_ns: dict[tuple, float] = {}


async def run_parallel_async(tb, setups: Sequence[MvmSetup], xs, timeout_ns: float = 5e6,
                             phases: dict | None = None) -> list[np.ndarray]:
    """The parallel MVM on the cosimulated chip; returns each core's output codes.

    ``phases`` (optional) accumulates the wall time of the three phases: ``load_s``
    (input frames), ``run_s`` (select, start, BUSY polls) and ``read_s`` (output frames),
    their clock cycles (``load_cycles``, ``run_cycles``, ``read_cycles``), and gets
    ``first_busy``, the BUSY0-2 mask of the first poll.
    """
    _check(setups)
    clock = time.perf_counter
    t0, k0 = clock(), tb.cycles()
    for f in load_frames(setups, xs):
        await tb.frame(f)
    t1, k1 = clock(), tb.cycles()
    for f in select_frames([s.core for s in setups]):
        await tb.frame(f)
    await tb.frame(start_sel_frame())
    key = tuple((s.in_bits, s.out_bits, s.two_phase, s.noise_steps, s.mode) for s in setups)
    regs = busy_regs(tb.n_cores)
    c0 = tb.cycles()
    if key in _wait_ns:
        await tb.wait_ns(_wait_ns[key])
    waited = 0.0
    first_busy = None
    while True:
        busy = 0
        for i, reg in enumerate(regs):
            word = ll.decode_reg_read(await tb.frame(ll.encode_reg_read(ll.CHIP, reg.ADDR)))
            busy |= reg.MASK.get(word) << (_PER_REG * i)
        first_busy = busy if first_busy is None else first_busy
        if not busy:
            break
        await tb.wait_ns(200.0)
        waited += 200.0
        if waited > timeout_ns:
            raise TimeoutError(f"parallel MVM on cores {[s.core for s in setups]} did not finish")
    if key not in _wait_ns:
        # Calibrate the first wait on the operation's duration, as a host does.
        _wait_ns[key] = max(0.0, (tb.cycles() - c0) * 10.0 - 300.0 * len(regs))
    t2, k2 = clock(), tb.cycles()
    out = [ll.decode_rf_read(await tb.frame(f), 256, s.out_bits)
           for s, f in zip(setups, read_frames(setups))]
    if phases is not None:
        t3, k3 = clock(), tb.cycles()
        for k, v in (("load_s", t1 - t0), ("run_s", t2 - t1), ("read_s", t3 - t2),
                     ("load_cycles", k1 - k0), ("run_cycles", k2 - k1), ("read_cycles", k3 - k2)):
            phases[k] = phases.get(k, 0) + v
        phases["first_busy"] = first_busy
    return out


def run_parallel_golden(chip, setups: Sequence[MvmSetup], xs) -> list[np.ndarray]:
    """The same parallel MVM on a :class:`cosim.golden.GoldenChip`."""
    _check(setups)
    for f in load_frames(setups, xs):
        chip.spi(f)
    for f in select_frames([s.core for s in setups]):
        chip.spi(f)
    chip.spi(start_sel_frame())
    return [ll.decode_rf_read(chip.spi(f), 256, s.out_bits)
            for s, f in zip(setups, read_frames(setups))]

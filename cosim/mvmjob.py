"""One MVM transaction as a host does it, for the testbench (async) and the golden model.

The frame encodings are the firmware's (``firmware.lowlevel``) and the register words the
contract's (:class:`rtl.contract.CoreConfig`); these helpers exist so the bench and the
regression can run transactions without a thread per call.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from firmware import lowlevel as ll
from rtl.contract.config import CoreConfig, mvm_cycles, two_phase_plan
from rtl.contract.constants import BL_FILE, CLK_NS, SL_FILE
from rtl.contract.registers import CORE, Dir, Mode

RF_BL, RF_SL = BL_FILE, SL_FILE


def _reg(name: str):
    return CORE.reg(name)


def field_value(reg: str, **fields) -> int:
    """Register word with the given fields (others at their reset values).

    Raises ValueError for an unknown field or a value that does not fit it.
    """
    return CORE.reg(reg).encode(**fields)


@dataclass
class MvmSetup:
    """An MVM job for the testbench: the core and its configuration (defaults: forward,
    signed inputs, no activation). :meth:`core_config` is the register view."""

    core: int = 0
    direction: int = Dir.FWD
    in_bits: int = 4
    out_bits: int = 6
    act: int = 0
    stoch: bool = False
    diff_in: bool = False
    in_signed: bool = True
    two_phase: bool = False
    split: int | None = None           #: None: the contract's two-phase plan
    out_bits_lsb: int | None = None    #: None: the contract's two-phase plan
    n_rows: int = 256
    wl_ns: int = 10
    mode: int = Mode.MVM
    vread: int = 100
    vdecr: int = 2048
    noise_steps: int = 0
    vnoise: int = 0

    def core_config(self) -> CoreConfig:
        """The register fields of this job (TypeError / ValueError if one does not fit).

        A two-phase job without ``split`` / ``out_bits_lsb`` takes them from
        :func:`rtl.contract.config.two_phase_plan`; a single-phase one leaves the
        registers at their reset values."""
        cfg = CoreConfig(
            mode=int(self.mode), dir=int(self.direction), act=self.act, stoch=int(self.stoch),
            diff_in=int(self.diff_in), in_signed=int(self.in_signed), two_phase=int(self.two_phase),
            in_bits=self.in_bits, out_bits=self.out_bits, n_rows=self.n_rows, wl_ns=self.wl_ns,
            vread=self.vread, vdecr=self.vdecr, noise_steps=self.noise_steps, vnoise=self.vnoise)
        split, lsb = self.split, self.out_bits_lsb
        if self.two_phase and (split is None or lsb is None):
            plan = two_phase_plan(cfg.mag_bits, self.out_bits, split)
            split, lsb = plan.split, plan.out_bits_lsb if lsb is None else lsb
        fields = {k: v for k, v in (("split", split), ("out_bits_lsb", lsb)) if v is not None}
        return dataclasses.replace(cfg, **fields) if fields else cfg

    @property
    def in_file(self) -> int:
        return self.core_config().input_file


def out_file(setup: MvmSetup) -> int:
    """Where the (MSB-segment) results land."""
    return setup.core_config().segments()[0].dest


# The registers a job configures, in the order they are written.
_SETUP_REGS = ("CTRL", "BITS", "ROWS", "VREAD", "VDECR", "TIMING", "NOISE")


def setup_frames(s: MvmSetup) -> list[bytes]:
    """REG_WRITE frames configuring core ``s.core`` for the MVM."""
    words = s.core_config().register_words()
    return [ll.encode_reg_write(s.core, _reg(n).addr, words[n]) for n in _SETUP_REGS]


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
    return _reg("STATUS").decode(word)


def random_inputs(s: MvmSetup, rng, n: int | None = None) -> np.ndarray:
    """Random integer inputs in the full range of the configured input format."""
    shape = (256,) if n is None else (n, 256)
    if s.in_signed and s.in_bits > 1:
        lim = (1 << (s.in_bits - 1)) - 1
        return rng.integers(-lim, lim + 1, size=shape)
    return rng.integers(0, 1 << s.in_bits, size=shape)


def result_frames(s: MvmSetup, both: bool) -> list[tuple[int, int]]:
    """(file, width) reads that fetch the results: the first segment's file at its width,
    plus (``both``) the LSB segment of a two-phase MVM."""
    segs = s.core_config().segments()
    return [(seg.dest, seg.out_bits) for seg in (segs if both else segs[:1])]


async def run_mvm_async(tb, s: MvmSetup, x, timeout_ns: float = 5e6, both: bool = False):
    """Load ``x``, start, wait for done, read the outputs (cosim, async).

    Returns the output codes, or with ``both`` a list of code arrays (see
    :func:`result_frames`)."""
    await tb.frame(ll.encode_rf_write(s.core, s.in_file, 0, input_codes(s, x), s.in_bits))
    await tb.frame(start_frame(s))
    # The first poll waits for the operation's exact duration, less the ~300 ns the
    # status frame's own first bytes take before the chip samples STATUS.
    await tb.wait_ns(max(0.0, mvm_cycles(s.core_config()) * CLK_NS - 300.0))
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

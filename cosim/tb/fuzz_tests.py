"""Fuzzing at the pins: random frames, cut frames, too-fast SCLK, aborts and resets.

One cocotb test, :func:`fuzz_frames`, plays ``$NEURRAM_FUZZ_FRAMES`` random transactions
on the one-core build against the golden chip (:class:`cosim.golden.GoldenChip` under
:class:`cosim.tb.spi_tests.FrameGolden`):

* random and malformed frames (random bytes, mostly real opcodes; CS released mid-byte
  and mid-burst): MISO and SPI_ERR equal the golden model's after every frame, and the
  whole register / register-file state equals it at every checkpoint, so no frame
  changes anything it did not address;
* well-formed register writes and bursts (they land, and nothing else changes);
* frames at twice the allowed SCLK rate: the chip must not hang and the next frame must
  decode; the golden model is then resynchronised from the chip (it cannot know what a
  too-fast SCLK sampled);
* MVMs and programming pulses, completed (codes equal the golden model's) or cut by an
  abort (a quarter of them written together with start: abort wins) or a reset at a
  random time: the core must be idle right after the abort frame, and after recovery
  (golden state copied from the chip) the next operation must agree with the golden model;
* start and abort in one CMD write on an idle, configured core: nothing starts.

Seeded from ``cocotb.RANDOM_SEED`` (numpy), logged, and repeated in every failure message;
wake-ups are per frame, never per cycle. ``tests/cosim/test_fuzz.py`` runs it.
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np

from analog_models.params import AnalogParams
from cosim.harness import ChipTB
from cosim.tb import fcov
from cosim.tb.spi_tests import CHIP_CMD, REG_CMD, REG_POWER, REG_STATUS, FrameGolden, SpiTB
from firmware import lowlevel as ll
from rtl.analog_bus import Mode, ProgOp
from rtl.controller import CoreConfig, validate
from rtl.contract.config import op_cycles
from rtl.frame import Op
from rtl.regmap import core_map

N_FRAMES = int(os.environ.get("NEURRAM_FUZZ_FRAMES", "300"))
CLK_NS = 10.0
WRITABLE = [r.addr for r in core_map().registers if r.sw_writable and r.addr not in (REG_CMD, REG_POWER)]
CONFIG_REGS = [r.addr for r in core_map().registers if r.addr not in (REG_STATUS,)]
CHIP_REGS = list(range(0x00, 0x0A))
CMD = {"start": 1, "abort": 2, "lfsr_load": 4}
ABORT_FRAME_CYCLES = 5 * 8 * 4 + 8      # five bytes at SCLK = clk/4, CS edges
# Integration cycles of operations cut by an interrupt: short, so that the one-cycle states
# are likely to meet it, yet (for an abort, which arrives a frame after the start) long
# enough that the operation is still running when it does.
INTERRUPTED_INTEG = {"abort": (4, 17), "reset": (1, 6)}


class FuzzTB(SpiTB):
    """SpiTB on an ideal analog core (deterministic: a resynchronised golden model then
    gives the same codes), with the operations and recovery steps of the fuzzer."""

    def __init__(self, dut):
        # $NEURRAM_FUZZ_RNG_SEED replays a run from the seed its log names (cocotb 2.1 does
        # not hand COCOTB_RANDOM_SEED back as cocotb.RANDOM_SEED unchanged).
        self.seed = int(os.environ.get("NEURRAM_FUZZ_RNG_SEED", cocotb.RANDOM_SEED)) & 0xFFFF
        params = AnalogParams.ideal()
        self.params = params
        self.tb = ChipTB(dut, seed=self.seed, params=params)
        self.golden = self._new_golden()
        self.rng = np.random.default_rng(self.seed)
        self.n_cores = self.tb.n_cores
        self.dut = dut
        self.stats: dict[str, int] = {}
        dut._log.info("fuzz seed %d (cocotb.RANDOM_SEED & 0xFFFF, numpy default_rng)",
                      self.seed)

    def _new_golden(self):
        from cosim.golden import GoldenChip

        g = FrameGolden.__new__(FrameGolden)
        g.chip = GoldenChip(self.tb.n_cores, params=self.params, seed=self.seed)
        g.frames = g.chip.frames
        return g

    async def both(self, data: bytes, nbits: int | None = None, check: bool = True, **kw):
        got = await super().both(data, nbits=nbits, check=check, **kw)
        fcov.sample_frame(data, self.golden.frames.last_err)
        return got

    def count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    # ---- chip-only access (no golden comparison) -------------------------------------
    async def chip_reg(self, core: int, addr: int) -> int:
        return ll.decode_reg_read(await self.tb.frame(ll.encode_reg_read(core, addr)))

    async def chip_file(self, f: int) -> np.ndarray:
        miso = await self.tb.frame(ll.encode_rf_read(0, f, 0, 256, 10))
        return ll.decode_rf_read(miso, 256, 10)

    async def status(self) -> dict:
        w = await self.chip_reg(0, REG_STATUS)
        return {"busy": w & 1, "done": (w >> 1) & 1, "err": (w >> 4) & 0xF}

    # ---- resynchronisation of the golden model from the chip ---------------------------
    async def resync(self, registers: bool) -> None:
        """Copy what the golden model cannot predict from the chip: the register files,
        the conductances, STATUS.done/err, the LFSR (reloaded on both) and, after a
        too-fast frame, every register."""
        core = self.golden.chip.cores[0]
        if registers:
            for a in WRITABLE + [REG_POWER]:
                v = await self.chip_reg(0, a)
                self.golden.transfer(ll.encode_reg_write(0, a, v))
            for a in (0x04, 0x05, 0x06):
                v = await self.chip_reg(ll.CHIP, a)
                self.golden.transfer(ll.encode_reg_write(ll.CHIP, a, v))
            w = await self.chip_reg(ll.CHIP, 0x02)
            self.golden.frames.chip.set_hw("SPI_ERR", "code", w & 0xF)
            self.golden.frames.chip.set_hw("SPI_ERR", "count", w >> 8)
        for f in (0, 1):
            core.files[f].live[:] = await self.chip_file(f)
        st = await self.status()
        core.ctrl.done, core.ctrl.err = bool(st["done"]), st["err"]
        self.sync_analog()
        await self.both(ll.encode_reg_write(0, REG_CMD, CMD["lfsr_load"]))

    def sync_analog(self) -> None:
        """Give the golden model's analog core the chip's: the cells and the random
        streams. The golden model played the interrupted operation to its end (or was
        rebuilt after a reset), so both differ: a programming pulse draws its step from
        the device's generator even on the ideal core, and whether the cut pulse drew it
        depends on where it was cut."""
        self.tb.flush()
        self.golden.chip.models[0].load_state(self.tb.models[0].save_state())

    async def wait_idle(self, bound_ns: float, what: str) -> None:
        waited = 0.0
        while (await self.status())["busy"]:
            if waited > bound_ns:
                raise AssertionError(f"{what}: core still busy after {waited:.0f} ns (hang)")
            await self.tb.spi.idle(500.0)
            waited += 500.0

    # ---- random content ------------------------------------------------------------------
    def near_valid(self) -> bytes:
        """A well-formed frame with one defect: one byte replaced, bytes added or cut,
        or a read-only / unmapped register address."""
        rng = self.rng
        pick = rng.integers(0, 4)
        if pick == 0:
            data = bytearray(self.reg_write())
        elif pick == 1:
            data = bytearray(ll.encode_reg_read(int(rng.choice([0, ll.CHIP])), int(rng.integers(0, 16))))
        else:
            data = bytearray(self.burst()[0] if pick == 2 else
                             ll.encode_rf_read(0, int(rng.integers(0, 2)), 0,
                                               int(rng.integers(1, 9)), int(rng.integers(1, 11))))
        how = rng.integers(0, 4)
        if how == 0:
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        elif how == 1:
            data += rng.integers(0, 256, size=int(rng.integers(1, 4))).astype(np.uint8).tobytes()
        elif how == 2 and len(data) > 1:
            data = data[:int(rng.integers(1, len(data)))]
        elif data[0] == Op.REG_WRITE:
            data[2] = int(rng.choice([0x00, REG_STATUS, 0x10, 0x80]))
        if len(data) > 2 and data[0] == Op.REG_WRITE and data[2] in (REG_CMD, REG_POWER):
            data[2] = 0x0C
        if len(data) > 2 and data[0] == Op.REG_WRITE and data[1] == ll.CHIP and data[2] == CHIP_CMD:
            data[2] = 0x04
        return bytes(data)

    def garbage(self) -> tuple[bytes, int | None]:
        rng = self.rng
        if rng.random() < 0.3:
            return self.near_valid(), None
        kind = rng.integers(0, 4)
        n = int(rng.integers(1, 12))
        data = bytearray(rng.integers(0, 256, size=n).astype(np.uint8).tobytes())
        if kind >= 1:
            data[0] = int(rng.integers(0, 6))
        if kind >= 2 and n > 1:
            data[1] = int(rng.choice([0, 0xFF, 0xFE, self.n_cores, int(rng.integers(0, 256))]))
        if n > 2 and data[0] == Op.REG_WRITE and data[2] in (REG_CMD, REG_POWER):
            data[2] = 0x0C      # operations are started only by the operation steps
        if n > 2 and data[0] == Op.REG_WRITE and data[1] == ll.CHIP and data[2] == CHIP_CMD:
            data[2] = 0x04
        nbits = int(rng.integers(1, 8 * n + 1)) if rng.random() < 0.3 else None
        return bytes(data), nbits

    def reg_write(self) -> bytes:
        a = int(self.rng.choice(WRITABLE))
        v = int(self.rng.integers(0, 1 << 16))
        if a == 0x01:
            v &= ~0x3           # CTRL.mode IDLE: a later stray start does nothing
        core = int(self.rng.choice([0, 0xFF]))
        return ll.encode_reg_write(core, a, v)

    def burst(self) -> tuple[bytes, int | None]:
        rng = self.rng
        width = int(rng.integers(1, 11))
        start = int(rng.integers(0, 256))
        count = int(rng.integers(1, 257 - start))
        data = ll.encode_rf_write(int(rng.choice([0, 0xFF])), int(rng.integers(0, 2)), start,
                                  rng.integers(0, 1 << width, size=count), width)
        nbits = None
        if rng.random() < 0.4:      # CS released inside the data, on or off a byte edge
            nbits = int(rng.integers(8 * 6 + 1, 8 * len(data)))
        return data, nbits

    def _next_bins(self):
        """Widths and variant of the next completed MVM: the functional bins (in x out
        bits, direction x two-phase x activation x stochastic) in a shuffled round robin,
        so a long run hits every one of them."""
        rng = self.rng
        if not getattr(self, "_inout", None):
            self._inout = [(i, o) for i in range(1, 9) for o in range(1, 11)]
            rng.shuffle(self._inout)
        if not getattr(self, "_variant", None):
            self._variant = [(d, t, a, st) for d in range(3) for t in (0, 1) for a in range(4)
                             for st in (0, 1)]
            rng.shuffle(self._variant)
        in_bits, out_bits = self._inout.pop()
        for k, v in enumerate(self._variant):
            if not v[1] or in_bits >= 3:     # two-phase needs >= 2 magnitude bits
                return in_bits, out_bits, self._variant.pop(k)
        return in_bits, out_bits, (int(rng.integers(0, 3)), 0, int(rng.integers(0, 4)), 0)

    def mvm_config(self, complete: bool = False) -> CoreConfig:
        rng = self.rng
        while True:
            in_bits = int(rng.integers(1, 9))
            out_bits = int(rng.integers(1, 11))
            two = bool(rng.random() < (0.5 if self._cut == "abort" else 0.3)) and in_bits >= 3
            # CTRL.dir code 3 (unused) included: the controller decodes it as FWD.
            dirn, act, stoch = int(rng.integers(0, 4)), int(rng.integers(0, 4)), rng.random() < 0.3
            if complete:
                in_bits, out_bits, (dirn, two, act, stoch) = self._next_bins()
            c = CoreConfig(mode=int(rng.choice([Mode.MVM, Mode.MVM, Mode.NEURON_TEST])),
                           dir=dirn, act=act, in_bits=in_bits, out_bits=out_bits,
                           two_phase=int(two), split=int(rng.integers(1, 3)),
                           out_bits_lsb=int(rng.integers(1, 6)),
                           n_rows=int(rng.integers(1, 257)),
                           # short integrations make the one-cycle states likelier to
                           # meet an interrupt
                           integ_cyc=int(rng.integers(1, 40) if complete else
                                         rng.integers(*INTERRUPTED_INTEG[self._cut])),
                           sample_cyc=int(rng.integers(1, 3)), diff_in=int(rng.random() < 0.2),
                           wl_ns=int(rng.integers(1, 11)),
                           stoch=int(stoch), noise_steps=int(rng.integers(1 if stoch else 0, 5)),
                           vnoise=int(rng.integers(0, 60)))
            if validate(c) == 0:
                return c

    def prog_config(self, complete: bool = True) -> CoreConfig:
        rng = self.rng
        return CoreConfig(mode=Mode.PROGRAM, prog_op=int(rng.choice([ProgOp.SET, ProgOp.RESET])),
                          prog_amp=int(rng.integers(20, 120)), prog_row=int(rng.integers(0, 256)),
                          prog_col=int(rng.integers(0, 256)),
                          # short pulses when cut, so the last state is met too
                          prog_cycles=int(rng.integers(1, 400 if complete else 300)))

    async def configure(self, c: CoreConfig) -> None:
        from cosim.mvmjob import field_value

        regs = {
            0x01: field_value("CTRL", mode=c.mode, dir=c.dir, act=c.act, stoch=c.stoch,
                              diff_in=c.diff_in, in_signed=c.in_signed, two_phase=c.two_phase),
            0x02: field_value("BITS", in_bits=c.in_bits, out_bits=c.out_bits, split=c.split,
                              out_bits_lsb=c.out_bits_lsb),
            0x03: c.n_rows,
            0x06: field_value("TIMING", wl_ns=c.wl_ns, sample_cyc=c.sample_cyc,
                              integ_cyc=c.integ_cyc),
            0x07: field_value("NOISE", steps=c.noise_steps, vnoise=c.vnoise),
            0x0A: field_value("PROG", op=c.prog_op, amp=c.prog_amp),
            0x0B: field_value("PROG_ADDR", row=c.prog_row, col=c.prog_col),
            0x0C: c.prog_cycles,
        }
        for a, v in regs.items():
            await self.both(ll.encode_reg_write(0, a, v))

    async def inputs(self, c: CoreConfig) -> None:
        """Random inputs of an MVM / neuron test into its input file (none to program)."""
        if c.mode != Mode.PROGRAM:
            await self.both(ll.encode_rf_write(0, c.input_file, 0,
                                               self.rng.integers(0, 1 << c.in_bits, 256),
                                               c.in_bits))

    async def complete(self, c: CoreConfig, what: str | None = None) -> None:
        """Configure, start and run ``c`` to its end: STATUS and the whole state must equal
        the golden model's."""
        what = what or f"{Mode(c.mode).name} complete"
        await self.configure(c)
        await self.inputs(c)
        await self.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
        await self.wait_idle(4 * op_cycles(c) * CLK_NS + 5000, what)
        st, want = await self.status(), self.golden.chip.cores[0]
        assert (st["done"], st["err"]) == (int(want.ctrl.done), want.ctrl.err), what
        await self.check_state()
        self.count(what)
        fcov.sample_operation(c, None)

    async def operation(self, interrupt: str | None) -> None:
        """One MVM or programming pulse, completed or cut by ``abort`` / ``reset``."""
        rng = self.rng
        self._cut = interrupt
        c = (self.mvm_config(complete=interrupt is None) if rng.random() < 0.7
             else self.prog_config(complete=interrupt is None))
        if interrupt is None:
            await self.complete(c)
            return
        await self.configure(c)
        await self.inputs(c)
        cycles = op_cycles(c)
        what = f"{Mode(c.mode).name} {interrupt}"
        await self.both(ll.encode_reg_write(0, REG_CMD, CMD["start"]))
        # Cut at a random cycle of the operation. An abort frame takes ABORT_FRAME_CYCLES to
        # arrive, so it cannot meet the first of them (a reset can).
        started = self.tb.cycles()
        # (A tenth of the window lies past the end: an interrupt of a finished operation.)
        at = float(rng.uniform(0, 1.1 * cycles))
        if interrupt == "abort":
            at -= ABORT_FRAME_CYCLES
        await self.tb.spi.idle(max(at, 0.0) * CLK_NS)
        if interrupt == "abort":
            # Sometimes with start set too: abort wins (no BUSY refusal, no new operation).
            both = rng.random() < 0.25
            await self.tb.frame(ll.encode_reg_write(
                0, REG_CMD, CMD["abort"] | (CMD["start"] if both else 0)))
            st = await self.status()
            assert not st["busy"], f"{what}: busy after the abort frame"
            # The abort announces nothing: the last event names the state it met, unless
            # the operation had finished (done set) before the abort arrived.
            state = fcov.state_name(int(self.dut.analog__ev_kind.value), not st["done"])
            await self.resync(registers=False)
        else:
            state = fcov.state_name(int(self.dut.analog__ev_kind.value),
                                    self.tb.cycles() - started < cycles)
            await self.tb.reset()
            self.golden = self._new_golden()
            self.sync_analog()
        self.count(what)
        fcov.sample_operation(c, interrupt, state)
        await self.check_state()

    async def idle_start_abort(self) -> None:
        """CMD with start and abort in one write on an idle core, after a legal
        configuration: abort wins, so nothing starts and STATUS keeps its values."""
        await self.configure(self.prog_config())
        await self.both(ll.encode_reg_write(0, REG_CMD, CMD["start"] | CMD["abort"]))
        st, want = await self.status(), self.golden.chip.cores[0]
        assert (st["busy"], st["done"], st["err"]) == (0, int(want.ctrl.done), want.ctrl.err), (
            f"start+abort on an idle core changed STATUS: {st}")
        self.count("start+abort idle")

    async def check_state(self, width: int = 10) -> None:
        # SpiTB.check_state without STATUS (compared by the operation steps)
        for a in CONFIG_REGS:
            await self.reg_read(0, a)
        for f in (0, 1):
            await self.both(ll.encode_rf_read(0, f, 0, 256, width))
        for a in CHIP_REGS:
            await self.reg_read(ll.CHIP, a)


@cocotb.test(timeout_time=3_000_000, timeout_unit="ms")
async def fuzz_frames(dut):
    """$NEURRAM_FUZZ_FRAMES random transactions; see the module docstring."""
    if N_FRAMES <= 0:
        raise ValueError("NEURRAM_FUZZ_FRAMES must be positive")
    t = FuzzTB(dut)
    await t.tb.init()
    t.tb.start()
    rng = t.rng
    wall = time.perf_counter()
    frames0 = t.tb.spi.frames
    i = -1
    try:
        for i in range(N_FRAMES):
            r = rng.random()
            if r < 0.45:
                data, nbits = t.garbage()
                await t.both(data, nbits=nbits)
                t.count("garbage" if nbits is None else "garbage cut mid-frame")
            elif r < 0.60:
                await t.both(t.reg_write())
                t.count("register write")
            elif r < 0.80:
                data, nbits = t.burst()
                await t.both(data, nbits=nbits)
                t.count("burst" if nbits is None else "burst cut by CS")
            elif r < 0.85:
                data, nbits = t.garbage() if rng.random() < 0.5 else (t.reg_write(), None)
                await t.tb.frame(data, half=1, nbits=nbits)
                await t.wait_idle(1e6, "after a too-fast frame")
                # The next frame at the right rate must decode (an ID read), then the
                # golden model learns what the too-fast frame did.
                assert await t.chip_reg(0, 0x00) == 0x4E43, "ID read after a too-fast frame"
                await t.resync(registers=True)
                t.count("SCLK clk/2")
            elif r < 0.97:
                await t.operation(None if rng.random() < 0.4 else
                                  str(rng.choice(["abort", "reset"])))
            elif r < 0.985:
                await t.both(ll.encode_reg_write(ll.CHIP, CHIP_CMD, 0x0002))
                t.count("clear_err")
            else:
                await t.idle_start_abort()
            if i % 25 == 0:
                await t.check_err()
            if i % 200 == 0:
                await t.check_state()
        await t.check_err()
        await t.check_state()
        t.tb.check_adapters()
    except AssertionError as e:
        raise AssertionError(f"fuzz seed {t.seed} (COCOTB_RANDOM_SEED={cocotb.RANDOM_SEED}), "
                             f"transaction {i}: {e}") from e
    fcov.export()
    seconds = time.perf_counter() - wall
    frames = t.tb.spi.frames - frames0
    dut._log.info("fuzz: %d transactions, %d frames in %.1f s wall = %.0f frames/s; %s",
                  N_FRAMES, frames, seconds, frames / seconds, dict(sorted(t.stats.items())))
    out = os.environ.get("NEURRAM_FUZZ_REPORT")
    if out:
        import json

        with open(out, "w") as fh:
            json.dump({"seed": t.seed, "transactions": N_FRAMES, "frames": frames,
                       "seconds": seconds, "frames_per_s": frames / seconds,
                       "kinds": t.stats}, fh, indent=1)

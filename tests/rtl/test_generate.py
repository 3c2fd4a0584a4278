"""Verilog generation helpers, the real-Core chip elaboration, and (slow) generate + lint."""


import pytest
from amaranth.hdl import Fragment

from rtl import generate



def test_top_names_and_hash():
    assert generate.top_name(1) == "neurram_core"
    assert generate.top_name(48) == "neurram_chip"
    assert generate.top_name(4) == "neurram_chip4"
    assert generate.sources_hash() == generate.sources_hash()


def test_port_summary():
    text = ("module top(a, b, c);\n  input [7:0] a;\n  output b;\n  output wire [255:0] c;\n"
            "endmodule\n")
    assert generate.port_summary(text, "top") == (3, 8 + 1 + 256)
    assert generate.port_summary(text, "other") == (0, 0)


@pytest.mark.parametrize("n_cores", [1, 4])
def test_chip_elaborates_with_real_core(n_cores):
    from rtl.chip import Chip

    chip = Chip(n_cores)
    Fragment.get(chip, None)
    names = {"__".join(map(str, p)) for p, _, _ in chip.signature.flatten(chip)}
    prefix = "analog__" if n_cores == 1 else f"analog__{n_cores - 1}__"
    assert {prefix + "bl_drv", prefix + "cmp", prefix + "ev_seq", "miso", "sclk"} <= names


@pytest.mark.slow
def test_generate_and_lint_one_core(tmp_path, capsys):
    from rtl import lint

    assert generate.main(["--out", str(tmp_path), "--cores", "1", "--stat", "none"]) == 0
    text = (tmp_path / "neurram_core.v").read_text()
    assert "module neurram_core(" in text
    assert (tmp_path / "neurram_delay_line.v").exists()
    assert lint.main([str(tmp_path), "--tops", "neurram_core"]) == 0


@pytest.mark.slow
def test_core_netlist_independent_of_core_id():
    # generate.convert instantiates one converted Core for every core of a multi-core
    # chip; that is only right while a Core's logic does not depend on its core_id.
    from amaranth.back import rtlil

    from rtl.core import Core

    assert rtlil.convert(Core(0), name="tile") == rtlil.convert(Core(47), name="tile")

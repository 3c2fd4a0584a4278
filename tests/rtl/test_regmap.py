"""The register map model from rtl/regmap.rdl, and drift of the generated files."""

import firmware.registers as R
from rtl import analog_bus, regmap

# docs/architecture.md §4, transcribed: (register, index)
CORE_ADDRS = {"ID": 0x00, "CTRL": 0x01, "BITS": 0x02, "ROWS": 0x03, "VREAD": 0x04,
              "VDECR": 0x05, "TIMING": 0x06, "NOISE": 0x07, "SEED_A": 0x08, "SEED_B": 0x09,
              "PROG": 0x0A, "PROG_ADDR": 0x0B, "PROG_WIDTH": 0x0C, "CMD": 0x0D,
              "STATUS": 0x0E, "POWER": 0x0F}
CHIP_ADDRS = {"CHIP_ID": 0x00, "N_CORES": 0x01, "SPI_ERR": 0x02, "CHIP_CMD": 0x03,
              "CORE_SEL0": 0x04, "CORE_SEL1": 0x05, "CORE_SEL2": 0x06, "BUSY0": 0x07,
              "BUSY1": 0x08, "BUSY2": 0x09}


def test_generated_files_up_to_date():
    for path, text in regmap.generated_files().items():
        assert path.read_text() == text, f"{path} drifted: run `python -m rtl.regmap`"
    assert regmap.main(["--check"]) == 0


def test_addresses_and_resets_match_architecture():
    core, chip = regmap.core_map(), regmap.chip_map()
    assert {r.name: r.addr for r in core.registers} == CORE_ADDRS
    assert {r.name: r.addr for r in chip.registers} == CHIP_ADDRS
    assert core.reg("ID").reset == 0x4E43 and chip.reg("CHIP_ID").reset == 0x4E52
    bits = core.reg("BITS")
    assert (bits.field("in_bits").reset, bits.field("out_bits").reset,
            bits.field("split").reset, bits.field("out_bits_lsb").reset) == (4, 6, 3, 5)
    assert bits.field("out_bits_lsb").lsb == 12 and bits.field("split").width == 3
    assert core.reg("CTRL").field("in_signed").reset == 1
    assert core.reg("ROWS").field("n_rows").reset == 256
    assert core.reg("VDECR").field("code").reset == 2048
    t = core.reg("TIMING")
    assert (t.field("wl_ns").reset, t.field("sample_cyc").reset, t.field("integ_cyc").reset) == (10, 1, 24)
    assert core.reg("SEED_A").reset == 0xACE1 and core.reg("SEED_B").reset == 0x1D0F
    assert core.reg("PROG_WIDTH").reset == 100 and core.reg("POWER").reset == 1
    assert all(f.singlepulse for f in core.reg("CMD").fields)
    assert all(f.singlepulse for f in chip.reg("CHIP_CMD").fields)
    assert all(f.kind == "in" for f in core.reg("STATUS").fields)
    st = core.reg("STATUS")
    assert [(f.name, f.lsb, f.width) for f in st.fields] == [
        ("busy", 0, 1), ("done", 1, 1), ("err", 4, 4), ("clk_gated", 8, 1), ("pwr_gated", 9, 1)]
    assert not core.writable(0x00) and not core.writable(0x0E) and core.writable(0x0D)
    assert not core.mapped(0x10) and chip.mapped(0x09) and not chip.mapped(0x0A)
    assert not any(chip.writable(a) for a in (0, 1, 2, 7, 8, 9))


def test_enums_agree_with_analog_bus():
    enums = regmap.core_map().enums()
    for rdl_name, py_enum in (("mode_e", analog_bus.Mode), ("dir_e", analog_bus.Direction),
                              ("act_e", analog_bus.Activation), ("prog_op_e", analog_bus.ProgOp)):
        assert {v.name: v.value for v in enums[rdl_name]} == {e.name: e.value for e in py_enum}


def test_firmware_module():
    assert R.CTRL.ADDR == 1 and R.CTRL.RESET == 0x0100
    assert R.BITS.OUT_BITS_LSB.mask == 0xF000
    assert R.encode(R.CTRL, mode=R.Mode.MVM, dir=R.Dir.BWD) == 0x0107
    assert R.decode(R.STATUS, 0x0312) == {"busy": 0, "done": 1, "err": 1, "clk_gated": 1,
                                          "pwr_gated": 1}
    assert R.SpiErr.EXTRA_BYTES == 8 and R.CfgErr.OUT_BITS_LSB == 9
    assert R.OP_RF_READ == 4 and R.CORE_CHIP == 0xFE and R.CORE_BROADCAST == 0xFF
    assert [r.ADDR for r in R.CHIP_REGS] == list(range(10))
    assert not R.STATUS.WRITABLE and R.CMD.WRITABLE

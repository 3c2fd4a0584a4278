"""Testbench generation: the ``tb_top`` wrapper around a design and its ``.vlt`` file.

The generated chip Verilog is wrapped in a small testbench top (``tb_top``): the free
running 100 MHz clock (toggled by ``cosim/hdl/sim_main.cpp``), the SPI master shifter of
``cosim/hdl``, the chip's other ports passed through, and one event log per analog bus
(``cosim/hdl/tb_event_log.v``, one instance per core). The ``.vlt`` control file makes
only ``tb_top``'s ports and the testbench modules' wide variables public, and keeps the
core tile and the event log separate modules (``no_inline``), so Verilator compiles each
once however many cores the chip has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtl.contract.constants import CLK_NS, SYNCHRONISED_INPUT_ATTR

TB_TOP = "tb_top"
CLK_HALF_NS = int(CLK_NS // 2)  # the verilated testbench toggles clk every half period


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" | "output" | "inout"
    width: int
    attrs: frozenset = frozenset()   # Verilog attribute names on the declaration


_MODULE_RE = re.compile(r"^\s*module\s+\\?([\w$.]+)", re.M)
_DECL_RE = re.compile(
    r"^\s*((?:\(\*[^*]*\*\)\s*)*)(input|output|inout)\s+(?:wire\s+|reg\s+|logic\s+)?(?:signed\s+)?"
    r"(?:\[(\d+)\s*:\s*(\d+)\]\s*)?\\?([\w$.]+)\s*[;,]", re.M)

_ATTR_RE = re.compile(r"(?:\(\*|,)\s*\\?([\w$.]+)")


def module_bodies(verilog: str) -> dict[str, str]:
    out = {}
    for m in _MODULE_RE.finditer(verilog):
        end = verilog.find("endmodule", m.end())
        out[m.group(1)] = verilog[m.start():end]
    return out


def find_top(verilog: str) -> str:
    """The module no other module instantiates (the last such, if several)."""
    bodies = module_bodies(verilog)
    tops = []
    for name in bodies:
        pat = re.compile(r"^\s*\\?" + re.escape(name) + r"\s+(#\s*\(|\\?[\w$.]+\s*\()", re.M)
        if not any(pat.search(b) for n, b in bodies.items() if n != name):
            tops.append(name)
    if not tops:
        raise ValueError("no top module found in the Verilog")
    return tops[-1]


def parse_ports(verilog: str, module: str) -> list[Port]:
    body = module_bodies(verilog)[module]
    ports = []
    for m in _DECL_RE.finditer(body):
        attrs, direction, msb, lsb, name = m.groups()
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        ports.append(Port(name, direction, width, frozenset(_ATTR_RE.findall(attrs))))
    return ports


# Names the chip's SPI pins may carry (those of rtl/spi.py's SpiSlave).
_SPI_PATTERNS = {
    "sclk": re.compile(r"(^|_)s?clk$|sck$|sclk", re.I),
    "cs_n": re.compile(r"(^|_)(cs|ss|csn|cs_n|ss_n|csb)$|cs_n$|ss_n$", re.I),
    "mosi": re.compile(r"mosi|(^|_)sdi$|copi", re.I),
    "miso": re.compile(r"miso|(^|_)sdo$|cipo", re.I),
}


def find_spi_pins(ports: list[Port]) -> dict[str, str]:
    """Map sclk/cs_n/mosi/miso to the DUT's port names (SPI pins only; not ``clk``)."""
    found = {}
    candidates = [p for p in ports if p.name not in ("clk", "rst") and "analog" not in p.name]
    for role, pat in _SPI_PATTERNS.items():
        hits = [p.name for p in candidates if pat.search(p.name) and p.width == 1]
        if role == "sclk":
            hits = [h for h in hits if "sclk" in h.lower() or "sck" in h.lower()] or hits
        if len(hits) != 1:
            raise ValueError(f"cannot identify the SPI {role} pin among {[p.name for p in candidates]}")
        found[role] = hits[0]
    return found


# Bits the testbench SPI shifter takes per Python request (cosim/spi.py): a whole
# 256-entry register-file burst at up to 7 bits per entry is one request, so Python wakes
# once per such frame (a 256x4-bit input vector used to take five requests at 256 bits).
SPI_WORD_BITS = 2048
_SPI_NBITS_WIDTH = SPI_WORD_BITS.bit_length()

SPI_CTRL_PORTS = [
    Port("tb_spi_nbits", "input", _SPI_NBITS_WIDTH),
    Port("tb_spi_last", "input", 1), Port("tb_spi_half", "input", 4),
    Port("tb_spi_late", "input", 1), Port("tb_spi_req", "input", 8),
    Port("tb_clk_stop", "input", 1),
    Port("tb_spi_done", "output", 8),
    Port("tb_cycles", "output", 64),
]


# The testbench's event log per analog bus (cosim/hdl/tb_event_log.v): entries held, bits
# per entry (the adapter's decoding follows that module's layout), and the bus ports it
# watches.
from rtl.contract.event_log import BUS_PORTS as _EVENT_LOG_FIELDS  # noqa: E402
from rtl.contract.event_log import DEPTH as EVENT_LOG_DEPTH  # noqa: E402
from rtl.contract.event_log import ENTRY_BITS as EVENT_LOG_ENTRY_BITS  # noqa: E402,F401


def analog_bus_prefixes(ports: list[Port]) -> list[str]:
    """Port-name prefixes of the analog buses (``analog__`` or ``analog__<i>__``) that
    carry every field the event log records (a toy design's bare event counter does not)."""
    names = {p.name for p in ports}
    out = []
    for p in ports:
        if p.name.endswith("ev_seq") and p.direction == "output":
            prefix = p.name[: -len("ev_seq")]
            if all(prefix + f in names for f in _EVENT_LOG_FIELDS):
                out.append(prefix)
    return sorted(out)


def event_log_ports(prefix: str) -> list[Port]:
    """The testbench ports of one analog bus's event log (named ``tb_<prefix>...``)."""
    t = f"tb_{prefix}"
    return [Port(t + "log_rd", "input", 8), Port(t + "wake", "output", 8),
            Port(t + "log_wr", "output", 8), Port(t + "wl_width_ps", "output", 32),
            Port(t + "wl_falls", "output", 8)]


def _decl(p: Port) -> str:
    rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
    return f"{p.direction} {rng}{p.name}"


def make_tb_top(dut_top: str, dut_ports: list[Port]) -> tuple[str, list[Port]]:
    """Testbench top around the chip: clock, SPI master, every other port passed through."""
    names = {p.name for p in dut_ports}
    if "clk" not in names:
        raise ValueError(f"DUT {dut_top!r} has no clk port")
    spi = find_spi_pins(dut_ports)
    spi_names = set(spi.values())
    passthrough = [p for p in dut_ports if p.name not in ("clk", "rst") and p.name not in spi_names]
    buses = analog_bus_prefixes(dut_ports)
    log_ports = [q for b in buses for q in event_log_ports(b)]
    tb_ports = (([Port("rst", "input", 1)] if "rst" in names else []) + passthrough
                + SPI_CTRL_PORTS + log_ports)
    conns = [".clk(clk)"] + ([".rst(rst_q)"] if "rst" in names else [])
    conns += [f".{spi[r]}(spi_{r})" for r in ("sclk", "cs_n", "mosi", "miso")]
    # The chip's other inputs (the analog side's comparator outputs) pass through a flop,
    # for the same reason as rst; the comparator answer then reaches the chip one cycle
    # after the adapter drives it, inside the bus contract's two-cycle settling time.
    # Inputs the chip marks as synchronised by itself (a gated multi-core chip's
    # comparator outputs, rtl/chip.py) already take that one cycle inside the chip.
    ins = [p for p in passthrough
           if p.direction == "input" and SYNCHRONISED_INPUT_ATTR not in p.attrs]
    conns += [f".{p.name}({p.name}_q)" if p in ins else f".{p.name}({p.name})" for p in passthrough]
    flops = []
    for p in ins:
        rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
        flops += [f"    reg {rng}{p.name}_q = {p.width}'d0;",
                  f"    always @(posedge clk) {p.name}_q <= {p.name};"]
    lines = [
        "// Generated by cosim/tbgen.py: testbench top around the chip. Do not edit.",
        "`timescale 1ns/1ps",
        f"module {TB_TOP} (",
        ",\n".join("    " + _decl(p) for p in [Port("clk", "input", 1)] + tb_ports),
        ");",
        "    // clk is toggled by the simulation's C++ main loop (cosim/hdl/sim_main.cpp) every",
        f"    // {CLK_HALF_NS} ns: no Python and no VPI per edge. tb_clk_stop parks it low, so a",
        "    // long idle wait of the host is one time jump, not 1e8 edges.",
        "    reg [63:0] cyc = 64'd0;",
        "    always @(posedge clk) cyc <= cyc + 64'd1;",
        "    assign tb_cycles = cyc;",
        "    // The chip's synchronous reset, registered: Amaranth folds rst into every",
        "    // register's next-state logic, and Verilator re-evaluates logic that depends",
        "    // on a top-level input at every eval (each half cycle). Behind a flop that",
        "    // logic runs only on clock edges. Costs one cycle of reset latency.",
        "    reg rst_q = 1'b1;",
        "    always @(posedge clk) rst_q <= rst;",
        *flops,
        "    wire spi_sclk, spi_cs_n, spi_mosi, spi_miso;",
        f"    tb_spi_master #(.W({SPI_WORD_BITS}), .NB({_SPI_NBITS_WIDTH})) spi_master (",
        "        .clk(clk), .nbits(tb_spi_nbits), .last(tb_spi_last),",
        "        .half(tb_spi_half), .late(tb_spi_late), .req(tb_spi_req),",
        "        .done(tb_spi_done), .sclk(spi_sclk), .cs_n(spi_cs_n), .mosi(spi_mosi),",
        "        .miso(spi_miso));",
        *[line for b in buses for line in (
            f"    tb_event_log #(.D({EVENT_LOG_DEPTH})) {b}event_log (",
            "        .clk(clk), "
            + ", ".join(f".{f}({b}{f})" for f in _EVENT_LOG_FIELDS) + ",",
            f"        .rd(tb_{b}log_rd), .wake(tb_{b}wake), .wr(tb_{b}log_wr),",
            f"        .wl_width_ps(tb_{b}wl_width_ps), .wl_falls(tb_{b}wl_falls));")],
        f"    {dut_top} dut (",
        ",\n".join("        " + c for c in conns),
        "    );",
        "endmodule",
        "",
    ]
    return "\n".join(lines), tb_ports


def make_vlt(tb_ports: list[Port], blocks: tuple[str, ...] = ()) -> str:
    """The Verilator control file: public ports and variables, and the modules in
    ``blocks`` verilated as hierarchical blocks (compiled once, however often
    instantiated; the build then needs ``--hierarchical``)."""
    lines = ["`verilator_config",
             "// Only the testbench top's ports are visible to cocotb (fast model, short build).",
             "// Outputs are read-only: a writable output makes Verilator re-evaluate every",
             "// process that reads it (the RTL's hold values) on each evaluation."]
    for p in tb_ports:
        kind = "public_flat_rd" if p.direction == "output" else "public_flat_rw"
        lines.append(f'{kind} -module "{TB_TOP}" -var "{p.name}"')
    lines.append("// The wide testbench variables are public inside their own modules: as top-level")
    lines.append("// ports they would be copied between port and module on every evaluation.")
    lines.append('public_flat_rw -module "tb_spi_master" -var "tx"')
    lines.append('public_flat_rd -module "tb_spi_master" -var "rx"')
    for var in ("log", "snap_bl", "snap_sl"):
        lines.append(f'public_flat_rd -module "tb_event_log" -var "{var}"')
    if blocks:
        lines.append("// The core tile is verilated once as a block of its own and instantiated per")
        lines.append("// core. A merely non-inlined module would not do: Verilator optimises across")
        lines.append("// module boundaries after elaboration, and emits every instance's code anew.")
    for module in blocks:
        lines.append(f'hier_block -module "{module}"')
    lines.append('lint_off -rule WIDTH')
    lines.append('lint_off -rule UNUSED')
    return "\n".join(lines) + "\n"

// Testbench-side event log of one core's analog bus (NeuRRAM cosimulation).
//
// Why it exists: most analog-bus events carry only a few bits (RESET, INTEG, DECR,
// LATCH, WR, POWER) and need no answer, yet each one used to wake Python. This module
// records such events, with every field the analog model needs, in a small ring buffer
// that Python reads at its next wake-up; only the events that carry new wide fields
// (driver levels, WL enables, noise bits) or need an answer (COMPARE, the end of a
// programming pulse) change `wake`. A SAMPLE is logged too when its driver levels equal
// those of the last woken event that had driver levels (WL_PULSE, SAMPLE, PROG_BEGIN):
// this module keeps a copy of those (`snap_bl`, `snap_sl`), which Python reads for it.
// (In an MVM every SAMPLE follows the WL pulse whose levels it shares.) The analog model
// still receives every event, in order, each with the bus values of its own cycle. The
// module also measures each WL pulse's width in simulation time, so Python no longer
// waits for the pulse's fall.
//
// Timing: the chip changes ev_seq/ev_kind and the event's fields at a clk rising edge
// (edge t). `wake` is combinational: it changes right after edge t, in the same time step
// as ev_seq (Python then reads the wide fields off the bus as before). A logged event is
// written at edge t+1, from the values its fields held during cycle t. Python's wake for
// event t therefore finds every logged event up to t-1 in the log.
//
// Ring buffer: `log` (this module's own variable, public through the build's .vlt file;
// as a top-level port it would be copied on every evaluation), entry i in bits
// [E*i +: E]; `wr` counts entries written (mod 256), Python writes the count it has
// consumed to `rd`. An event that would be logged but finds the buffer nearly full wakes
// Python instead, so nothing is lost.
// Entry layout (E = 64): [7:0] ev_seq, [11:8] ev_kind, [13:12] mode, [25:14] vdecr,
// [27:26] decr_mode, [28] bl_sel, [29] sl_sel, [30] power_down, [39:32] vread.
`timescale 1ns/1ps
module tb_event_log #(
    parameter D = 32                  // entries (a power of two, <= 128)
) (
    input               clk,
    input       [7:0]   ev_seq,
    input       [3:0]   ev_kind,
    input       [1:0]   mode,
    input       [11:0]  vdecr,
    input       [1:0]   decr_mode,
    input               bl_sel,
    input               sl_sel,
    input               power_down,
    input       [7:0]   vread,
    input       [767:0] bl_drv,
    input       [767:0] sl_drv,
    input               wl_pulse,
    input       [7:0]   rd,
    output      [7:0]   wake,
    output reg  [7:0]   wr,
    output reg  [31:0]  wl_width_ps,
    output reg  [7:0]   wl_falls
);
    localparam E = 64;
    reg [E*D-1:0] log;        // read by the testbench (VPI)
    reg [767:0] snap_bl, snap_sl;   // read by the testbench (VPI)
    reg snap_valid;
    reg [7:0] seen_q, wake_q, rd_q;
    initial begin
        seen_q = 8'd0; wake_q = 8'd0; rd_q = 8'd0; wr = 8'd0; log = {E*D{1'b0}};
        snap_bl = 768'd0; snap_sl = 768'd0; snap_valid = 1'b0;
        wl_width_ps = 32'd0; wl_falls = 8'd0;
    end

    // RESET, INTEG, DECR, LATCH, WR, POWER (rtl.analog_bus.EventKind).
    wire logged_kind = ev_kind == 4'd1 || ev_kind == 4'd4 || ev_kind == 4'd5 ||
                       ev_kind == 4'd8 || ev_kind == 4'd9 || ev_kind == 4'd12;
    // rd_q, not rd: Python writes rd while handling a wake, and the decision for the
    // event on the bus must not change under it.
    wire [7:0] used = wr - rd_q;
    wire new_ev = ev_seq != seen_q;
    // The 768-bit comparisons only in an event's cycle (a branch, not every evaluation).
    reg same_levels;
    always @* begin
        same_levels = 1'b0;
        if (new_ev && ev_kind == 4'd3 && snap_valid)
            same_levels = bl_drv == snap_bl && sl_drv == snap_sl;
    end
    wire to_log = new_ev && (logged_kind || same_levels) && used < D - 1;
    wire woken = new_ev && !to_log;
    assign wake = wake_q + {7'd0, woken};

    always @(posedge clk) begin
        seen_q <= ev_seq;
        rd_q <= rd;
        wake_q <= wake;
        if (to_log) begin
            log[E * wr[$clog2(D)-1:0] +: E] <= {24'd0, vread, 1'b0, power_down, sl_sel, bl_sel,
                                                decr_mode, vdecr, mode, ev_kind, ev_seq};
            wr <= wr + 8'd1;
        end
        // WL_PULSE, SAMPLE, PROG_BEGIN: the events whose driver levels Python reads.
        if (woken && (ev_kind == 4'd2 || ev_kind == 4'd3 || ev_kind == 4'd10)) begin
            snap_bl <= bl_drv;
            snap_sl <= sl_drv;
            snap_valid <= 1'b1;
        end
    end

    // WL pulse width in simulation time (ps), and a count of completed pulses.
    real t_rise;
    initial t_rise = 0.0;
    always @(posedge wl_pulse) t_rise = $realtime;
    always @(negedge wl_pulse) begin
        wl_width_ps = $rtoi(($realtime - t_rise) * 1000.0 + 0.5);
        wl_falls = wl_falls + 8'd1;
    end
endmodule

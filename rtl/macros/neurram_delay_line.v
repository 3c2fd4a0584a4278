// Behavioural model of the tapped delay-line macro of the WL pulse generator.
//
// In silicon this is a chain of matched delay cells (about 1 ns each); in the RTL it is a
// blackbox (rtl/pulsegen.py instantiates it by name). This model gives tap t the input
// delayed by (t+1) ns. It is simulated with Verilator --timing; the rest of the design
// has no delays, so an ordinary clock cycle costs nothing extra.
//
// Transport (non-blocking, intra-assignment) delays from `a` rather than a chain of
// `assign #1`: Verilator then watches one signal (a) instead of comparing every tap on
// every evaluation, and a change of `a` schedules the ten tap changes it causes. For the
// pulses the generator feeds it (clean edges, at least one clock cycle apart) transport
// and inertial delays give the same taps.
`timescale 1ns/1ps
module neurram_delay_line (
    input  wire       a,
    output wire [9:0] taps
);
    // One variable per tap: Verilator schedules each delayed assignment on its own.
    reg t0, t1, t2, t3, t4, t5, t6, t7, t8, t9;
    initial {t9, t8, t7, t6, t5, t4, t3, t2, t1, t0} = 10'd0;
    always @(a) t0 <= #1 a;
    always @(a) t1 <= #2 a;
    always @(a) t2 <= #3 a;
    always @(a) t3 <= #4 a;
    always @(a) t4 <= #5 a;
    always @(a) t5 <= #6 a;
    always @(a) t6 <= #7 a;
    always @(a) t7 <= #8 a;
    always @(a) t8 <= #9 a;
    always @(a) t9 <= #10 a;
    assign taps = {t9, t8, t7, t6, t5, t4, t3, t2, t1, t0};
endmodule

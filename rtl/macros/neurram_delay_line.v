// Behavioural model of the tapped delay-line macro of the WL pulse generator.
//
// In silicon this is a chain of matched delay cells (about 1 ns each); in the RTL it is a
// blackbox (rtl/pulsegen.py instantiates it by name). This model gives tap t the input
// delayed by (t+1) ns. It is simulated with Verilator --timing; the rest of the design
// has no delays, so an ordinary clock cycle costs nothing extra.
`timescale 1ns/1ps
module neurram_delay_line (
    input  wire       a,
    output wire [9:0] taps
);
    assign #1 taps[0] = a;
    genvar t;
    generate
        for (t = 1; t < 10; t = t + 1) begin : g_tap
            assign #1 taps[t] = taps[t-1];
        end
    endgenerate
endmodule

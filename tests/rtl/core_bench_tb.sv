// Testbench of one core under Verilator (tests/rtl/test_core_verilator.py): loads the BL
// file with (i*37)&15, configures CTRL / BITS / NOISE from plusargs, runs NRUNS starts
// with a scripted comparator (COMPARE number n answers {8{n*0x9E3779B9+0x7F4A7C15}}),
// prints the cycle count and dumps both register files.
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1;
    reg [7:0] addr = 0; reg [15:0] wdata = 0; reg we = 0, re = 0;
    reg rf_sel = 0; reg [7:0] rf_index = 0; reg [9:0] rf_wdata = 0;
    reg rf_we = 0, rf_commit = 0, rf_abort = 0, rf_re = 0;
    reg [255:0] cmp = 0;
    wire busy; wire [7:0] ev_seq; wire n_compare;
    wire [15:0] rdata; wire [9:0] rf_rdata;
    core dut(.clk(clk), .rst(rst), .bus__addr(addr), .bus__wdata(wdata), .bus__we(we), .bus__re(re),
             .bus__rf_sel(rf_sel), .bus__rf_index(rf_index), .bus__rf_wdata(rf_wdata), .bus__rf_we(rf_we),
             .bus__rf_commit(rf_commit), .bus__rf_abort(rf_abort), .bus__rf_re(rf_re),
             .bus__rdata(rdata), .bus__rf_rdata(rf_rdata),
             .analog__cmp(cmp), .start_ext(1'b0), .busy(busy), .analog__ev_seq(ev_seq),
             .analog__n_compare(n_compare));
    always #5 clk = ~clk;
    initial begin #(200_000_000); $display("TIMEOUT"); $finish; end
    longint cycles = 0;
    reg [31:0] ncmp = 0;
    reg [15:0] ctrlw;
    always @(posedge clk) begin
        cycles <= cycles + 1;
        if (n_compare) begin
            cmp <= {8{ncmp * 32'h9E3779B9 + 32'h7F4A7C15}};
            ncmp <= ncmp + 1;
        end
    end
    task automatic wr(input [7:0] a, input [15:0] d);
        @(negedge clk) begin addr = a; wdata = d; we = 1; end
        @(negedge clk) we = 0;
    endtask
    integer i, n, nruns; reg [15:0] bits;
    longint c0;
    initial begin
        repeat (3) @(negedge clk);
        rst = 0;
        for (i = 0; i < 256; i = i + 1) begin
            @(negedge clk) begin rf_sel = 0; rf_index = i[7:0]; rf_wdata = (i * 37) & 15; rf_we = 1; end
        end
        @(negedge clk) begin rf_we = 0; rf_commit = 1; end
        @(negedge clk) rf_commit = 0;
        if (!$value$plusargs("CTRL=%h", ctrlw)) ctrlw = 16'h0103;
        wr(8'h01, ctrlw);
        wr(8'h07, 16'h0503);   // NOISE: 3 steps, vnoise 5
        if (!$value$plusargs("BITS=%h", bits)) bits = 16'h5364;
        if (!$value$plusargs("NRUNS=%d", nruns)) nruns = 100;
        wr(8'h02, bits);
        c0 = cycles;
        for (n = 0; n < nruns; n = n + 1) begin
            wr(8'h0D, 16'h0001);
            @(posedge busy);
            @(negedge busy);
        end
        $display("CYCLES %0d PER_MVM %0d", cycles - c0, (cycles - c0) / nruns);
        for (i = 0; i < 512; i = i + 1) begin
            @(negedge clk) begin rf_sel = i[8]; rf_index = i[7:0]; rf_re = 1; end
            @(negedge clk) begin rf_re = 0; $display("RF %0d %0d %0d", i[8], i[7:0], rf_rdata); end
        end
        $finish;
    end
endmodule

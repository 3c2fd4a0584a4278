// Testbench-side SPI master (mode 0, MSB first) for the NeuRRAM cosimulation.
//
// Why it exists: a Python coroutine toggling SCLK would wake up 4+ times per bit. This
// shifter takes up to W bits (a parameter: cosim.runner.SPI_WORD_BITS) per request from
// Python and produces genuine SCLK / CS_N / MOSI waveforms at clk / (2*half) while
// capturing MISO, so a whole SPI frame (a 256-entry register-file burst included) costs
// one Python wake-up per W-bit word. The RTL only ever sees real SPI pins.
//
// Handshake (ports of the tb top, driven / read by cocotb; tx and rx are this module's own
// variables, public through the build's .vlt file: a W-bit top-level port would be copied
// between the port and the module on every evaluation):
//   Python sets tx (LSB-aligned: bit nbits-1 is sent first, bit 0 last), nbits (1..W),
//   last (raise CS_N after this word), half (SCLK half period in clk cycles, >= 1; the
//   chip allows >= 2), late (sample MISO on the falling instead of the rising SCLK edge),
//   then changes req. The master notices req != its copy, drops CS_N if it is high (after
//   CS_SETUP cycles), sends the bits, and increments done when finished. rx holds the MISO
//   bits received during this word, LSB-aligned (last bit received in bit 0; bits at and
//   above nbits are 0). tx must not change until done has changed.
//   When last is set, CS_N rises after the final bit and done is only incremented after
//   CS_N has been high for CS_IDLE cycles, so the chip has decoded / committed the frame
//   by the time Python wakes up.
//
// A bit index walks down tx and rx instead of shifting W-bit registers: a wide shift
// would cost the simulation W/32 word operations per SCLK edge.
`timescale 1ns/1ps
module tb_spi_master #(
    parameter W        = 32,    // bits per request (a power of two, 32..4096)
    parameter NB       = 6,     // width of nbits: clog2(W) + 1
    parameter CS_SETUP = 2,
    parameter CS_IDLE  = 8
) (
    input             clk,
    input      [NB-1:0] nbits,
    input             last,
    input      [3:0]  half,
    input             late,
    input      [7:0]  req,
    output reg [7:0]  done,
    output reg        sclk,
    output reg        cs_n,
    output reg        mosi,
    input             miso
);
    localparam S_IDLE = 3'd0, S_SETUP = 3'd1, S_LOW = 3'd2, S_HIGH = 3'd3, S_GAP = 3'd4;

    reg [W-1:0] tx;           // written by the testbench (VPI)
    reg [W-1:0] rx;           // read by the testbench (VPI)
    reg [2:0]  state;
    reg [7:0]  req_seen;
    reg [NB-1:0] pos;         // index in tx / rx of the bit on the wire
    reg [3:0]  cnt;
    reg [3:0]  gap;
    reg        last_q;

    initial begin
        state = S_IDLE; req_seen = 8'd0; done = 8'd0; rx = {W{1'b0}}; tx = {W{1'b0}};
        sclk = 1'b0; cs_n = 1'b1; mosi = 1'b0; pos = {NB{1'b0}}; cnt = 4'd0;
        gap = 4'd0; last_q = 1'b0;
    end

    // SCLK half period, never below one clk cycle.
    wire [3:0] h = (half == 4'd0) ? 4'd1 : half;
    wire [NB-1:0] first = (nbits == 0) ? {NB{1'b0}} : ((nbits > W) ? W - 1 : nbits - 1);

    always @(posedge clk) begin
        case (state)
        S_IDLE: if (req != req_seen) begin
            req_seen <= req;
            pos <= first;
            last_q <= last;
            rx <= {W{1'b0}};
            if (cs_n) begin
                cs_n <= 1'b0;
                cnt <= CS_SETUP[3:0];
                state <= S_SETUP;
            end else begin
                mosi <= tx[first];
                cnt <= h;
                state <= S_LOW;
            end
        end
        S_SETUP: begin
            // CS_N low, first data bit presented before the first rising edge.
            mosi <= tx[pos];
            if (cnt <= 4'd1) begin cnt <= h; state <= S_LOW; end
            else cnt <= cnt - 4'd1;
        end
        S_LOW: begin
            if (cnt <= 4'd1) begin
                sclk <= 1'b1;
                if (!late) rx[pos] <= miso;
                cnt <= h;
                state <= S_HIGH;
            end else cnt <= cnt - 4'd1;
        end
        S_HIGH: begin
            if (cnt <= 4'd1) begin
                sclk <= 1'b0;
                if (late) rx[pos] <= miso;
                if (pos == 0) begin
                    mosi <= 1'b0;
                    if (last_q) begin
                        cnt <= h;
                        state <= S_GAP;
                    end else begin
                        done <= done + 8'd1;
                        state <= S_IDLE;
                    end
                end else begin
                    mosi <= tx[pos - 1'b1];
                    pos <= pos - 1'b1;
                    cnt <= h;
                    state <= S_LOW;
                end
            end else cnt <= cnt - 4'd1;
        end
        S_GAP: begin
            // Hold time after the last falling edge, then CS_N high for CS_IDLE cycles.
            if (!cs_n) begin
                if (cnt <= 4'd1) begin cs_n <= 1'b1; mosi <= 1'b0; gap <= CS_IDLE[3:0]; end
                else cnt <= cnt - 4'd1;
            end else if (gap <= 4'd1) begin
                done <= done + 8'd1;
                state <= S_IDLE;
            end else gap <= gap - 4'd1;
        end
        default: state <= S_IDLE;
        endcase
    end
endmodule

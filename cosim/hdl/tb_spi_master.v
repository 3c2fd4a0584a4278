// Testbench-side SPI master (mode 0, MSB first) for the NeuRRAM cosimulation.
//
// Why it exists: a Python coroutine toggling SCLK would wake up 4+ times per bit. This
// shifter takes up to W bits (a parameter, 256 in the cosimulation) per request from Python and produces genuine SCLK / CS_N /
// MOSI waveforms at clk / (2*half) while capturing MISO, so a whole SPI frame costs one
// Python wake-up per W-bit word. The RTL only ever sees real SPI pins.
//
// Handshake (all signals are ports of the tb top, driven / read by cocotb):
//   Python sets tx (MSB-aligned: bit W-1 is sent first), nbits (1..W), last (raise CS_N
//   after this word), half (SCLK half period in clk cycles, >= 1; the chip allows >= 2),
//   late (sample MISO on the falling instead of the rising SCLK edge), then changes req.
//   The master notices req != its copy, drops CS_N if it is high (after CS_SETUP cycles),
//   shifts the bits, and increments done when finished. rx holds the MISO bits received
//   during this word, LSB-aligned (last bit received in bit 0).
//   When last is set, CS_N rises after the final bit and done is only incremented after
//   CS_N has been high for CS_IDLE cycles, so the chip has decoded / committed the frame
//   by the time Python wakes up.
`timescale 1ns/1ps
module tb_spi_master #(
    parameter W        = 32,    // bits per request (a power of two, 32..1024)
    parameter NB       = 6,     // width of nbits: clog2(W) + 1
    parameter CS_SETUP = 2,
    parameter CS_IDLE  = 8
) (
    input             clk,
    input      [W-1:0] tx,
    input      [NB-1:0] nbits,
    input             last,
    input      [3:0]  half,
    input             late,
    input      [7:0]  req,
    output reg [W-1:0] rx,
    output reg [7:0]  done,
    output reg        sclk,
    output reg        cs_n,
    output reg        mosi,
    input             miso
);
    localparam S_IDLE = 3'd0, S_SETUP = 3'd1, S_LOW = 3'd2, S_HIGH = 3'd3, S_GAP = 3'd4;

    reg [2:0]  state;
    reg [7:0]  req_seen;
    reg [W-1:0] sh;
    reg [NB-1:0] left;
    reg [3:0]  cnt;
    reg [3:0]  gap;
    reg        last_q;

    initial begin
        state = S_IDLE; req_seen = 8'd0; done = 8'd0; rx = {W{1'b0}};
        sclk = 1'b0; cs_n = 1'b1; mosi = 1'b0; sh = {W{1'b0}}; left = {NB{1'b0}}; cnt = 4'd0;
        gap = 4'd0; last_q = 1'b0;
    end

    // SCLK half period, never below one clk cycle.
    wire [3:0] h = (half == 4'd0) ? 4'd1 : half;

    always @(posedge clk) begin
        case (state)
        S_IDLE: if (req != req_seen) begin
            req_seen <= req;
            sh <= tx;
            left <= (nbits == 0) ? 1 : ((nbits > W) ? W[NB-1:0] : nbits);
            last_q <= last;
            rx <= {W{1'b0}};
            if (cs_n) begin
                cs_n <= 1'b0;
                cnt <= CS_SETUP[3:0];
                state <= S_SETUP;
            end else begin
                mosi <= tx[W-1];
                cnt <= h;
                state <= S_LOW;
            end
        end
        S_SETUP: begin
            // CS_N low, first data bit presented before the first rising edge.
            mosi <= sh[W-1];
            if (cnt <= 4'd1) begin cnt <= h; state <= S_LOW; end
            else cnt <= cnt - 4'd1;
        end
        S_LOW: begin
            if (cnt <= 4'd1) begin
                sclk <= 1'b1;
                if (!late) rx <= {rx[W-2:0], miso};
                cnt <= h;
                state <= S_HIGH;
            end else cnt <= cnt - 4'd1;
        end
        S_HIGH: begin
            if (cnt <= 4'd1) begin
                sclk <= 1'b0;
                if (late) rx <= {rx[W-2:0], miso};
                sh <= {sh[W-2:0], 1'b0};
                mosi <= sh[W-2];
                if (left <= 1) begin
                    if (last_q) begin
                        cnt <= h;
                        state <= S_GAP;
                    end else begin
                        done <= done + 8'd1;
                        state <= S_IDLE;
                    end
                end else begin
                    left <= left - 1'b1;
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

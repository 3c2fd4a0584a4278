// Simulation main loop of the NeuRRAM cosimulation (Verilator model + cocotb over VPI).
//
// Why not the generic loop cocotb ships: there the clock is a Verilog process under
// --timing, so every half period costs a coroutine resume in Verilator's delay scheduler
// on top of the VPI bookkeeping of a time step. Here the loop itself toggles the
// testbench's `clk` input at each half period (NEURRAM_CLK_HALF_PS), like a plain
// Verilator C++ testbench, and the delay scheduler only holds the delay-line macro's
// 1-10 ns events of a WL pulse. `tb_clk_stop` parks the clock low (a long idle wait of
// the host is then one time jump); the first edge after it falls comes half a period
// later.
//
// The VPI protocol towards cocotb is the standard one of a time step: evaluate until no
// value-change callback and no VPI write asks for more, then the ReadWrite-synch
// callbacks (which may write and so evaluate again), then the ReadOnly-synch callbacks;
// before the next time step the NextSimTime callbacks, then the timed (AfterDelay)
// callbacks due at the new time. Reasons with no callback registered are skipped.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"
#if VM_COVERAGE
#include "verilated_cov.h"
#endif

#if VM_TRACE
#if VM_TRACE_FST
#include <verilated_fst_c.h>
using TraceFile = VerilatedFstC;
static const char* const kTraceName = "dump.fst";
#else
#include <verilated_vcd_c.h>
using TraceFile = VerilatedVcdC;
static const char* const kTraceName = "dump.vcd";
#endif
#endif

#ifndef NEURRAM_CLK_HALF_PS
#define NEURRAM_CLK_HALF_PS 5000
#endif

static uint64_t g_time = 0;  // in the model's time precision (ps, --timescale 1ns/1ps)

double sc_time_stamp() { return static_cast<double>(g_time); }

extern "C" void vlog_startup_routines_bootstrap(void);

namespace {

constexpr uint64_t kNever = ~static_cast<uint64_t>(0);

void drain_value_callbacks() {
    while (VerilatedVpi::callValueCbs()) {
    }
}

// One time step's evaluation, as cocotb expects it. A reason's callbacks are called (and
// the value-change callbacks re-checked after them) only when some are registered: with
// none, the calls would find nothing to do, but each costs a list walk, and a cycle has
// two time steps.
void evaluate_time_step(Vtop* top) {
    do {
        do {
            top->eval_step();
            VerilatedVpi::clearEvalNeeded();
            VerilatedVpi::doInertialPuts();
            drain_value_callbacks();
        } while (VerilatedVpi::evalNeeded());
        if (!VerilatedVpi::hasCbs(cbReadWriteSynch)) break;
        VerilatedVpi::callCbs(cbReadWriteSynch);
        VerilatedVpi::doInertialPuts();
        drain_value_callbacks();
    } while (VerilatedVpi::evalNeeded());
    top->eval_end_step();
    if (VerilatedVpi::hasCbs(cbReadOnlySynch)) VerilatedVpi::callCbs(cbReadOnlySynch);
}

}  // namespace

int main(int argc, char** argv) {
    bool trace = false;
    std::string trace_name;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--trace")) trace = true;
        else if (!std::strcmp(argv[i], "--trace-file") && i + 1 < argc) trace_name = argv[++i];
    }
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);  // cocotb probes handles that may not exist

#if VM_TRACE
    std::unique_ptr<TraceFile> tfp;
    if (trace) {
        Verilated::traceEverOn(true);
        tfp.reset(new TraceFile);
        top->trace(tfp.get(), 99);
        tfp->open(trace_name.empty() ? kTraceName : trace_name.c_str());
    }
#else
    if (trace) {
        std::fprintf(stderr, "sim_main: --trace needs a build with tracing\n");
        return 2;
    }
#endif

    top->clk = 0;
    vlog_startup_routines_bootstrap();
    VerilatedVpi::callCbs(cbStartOfSimulation);
    drain_value_callbacks();

    const uint64_t half = NEURRAM_CLK_HALF_PS;
    uint64_t next_edge = half;
    bool clock_parked = false;

    while (!Verilated::gotFinish()) {
        evaluate_time_step(top.get());
#if VM_TRACE
        if (tfp) tfp->dump(g_time);
#endif
        // The clock parks only while low, and restarts half a period after release.
        if (top->tb_clk_stop && !top->clk) {
            clock_parked = true;
        } else if (clock_parked) {
            clock_parked = false;
            next_edge = g_time + half;
        }
        const uint64_t t_clock = clock_parked ? kNever : next_edge;
        const uint64_t t_cocotb = VerilatedVpi::cbNextDeadline();
        const uint64_t t_timing = top->eventsPending() ? top->nextTimeSlot() : kNever;
        uint64_t next = t_clock < t_cocotb ? t_clock : t_cocotb;
        if (t_timing < next) next = t_timing;
        if (next == kNever) break;  // nothing can ever happen again
        g_time = next;
        if (next == t_clock) {
            top->clk = !top->clk;
            next_edge += half;
        }
        // callCbs also moves the callbacks due at the new time (timed, delayed synch) from
        // the future list to the current ones, so hasCbs below sees them. A callback that
        // ran may have written values: re-check the value-change callbacks then.
        if (VerilatedVpi::callCbs(cbNextSimTime)) drain_value_callbacks();
        if (VerilatedVpi::hasCbs(cbAfterDelay)) {
            VerilatedVpi::callCbs(cbAfterDelay);
            drain_value_callbacks();
        }
    }

    top->final();
    VerilatedVpi::callCbs(cbEndOfSimulation);
#if VM_COVERAGE
    {
        const char* cov = std::getenv("NEURRAM_COVERAGE_FILE");
        Verilated::threadContextp()->coveragep()->write(cov && *cov ? cov : "coverage.dat");
    }
#endif
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    return Verilated::threadContextp()->errorCount() > 0 ? 1 : 0;
}

"""cocotb testbench modules (run inside the simulator by ``cosim.runner.run_cocotb``)."""

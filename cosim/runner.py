"""Running cocotb tests on a cosimulation build.

The build side lives in :mod:`cosim.buildcache` (cached Verilator builds), the testbench
wrapper in :mod:`cosim.tbgen` and the tool environment in :mod:`cosim.environment`; their
public names are re-exported here, so ``from cosim import runner; runner.build_core(4)``
keeps working.

A run's simulator output (cocotb's and the GPI's log lines, Verilator's messages) goes
to ``sim.log`` in its run directory, not to the terminal. A run fails -- with
:class:`CosimRunError` naming that log -- when the simulator fails, when any test fails,
or when the run selected **no** test at all (a misspelt ``testcase`` would otherwise
"pass" by running nothing).

Public API
----------
``build_core(n_cores=1, waves=False) -> Build``  (cached; ``Build.dir`` is the build dir)
``build_design(name, verilog, waves=False) -> Build``  (any Verilog text, e.g. a toy design)
``run_cocotb(test_module, build, testcase=None, seed=None, extra_env=None) -> Path``
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from .buildcache import (MAKE_FLAGS, RUNTIME_CACHE, SIM_MAIN, VERILATOR_FLAGS, Build,
                         BuildError, build_core, build_design, build_lz4, core_verilog)
from .environment import HDL_DIR, REPO, cosim_root, setup_env
from .tbgen import (CLK_HALF_NS, EVENT_LOG_DEPTH, EVENT_LOG_ENTRY_BITS, SPI_CTRL_PORTS,
                    SPI_WORD_BITS, TB_TOP, Port, analog_bus_prefixes, event_log_ports,
                    find_spi_pins, find_top, make_tb_top, make_vlt, parse_ports)

__all__ = [
    "BUILD_ROOT", "Build", "BuildError", "CLK_HALF_NS", "CosimRunError", "EVENT_LOG_DEPTH",
    "EVENT_LOG_ENTRY_BITS", "HDL_DIR", "MAKE_FLAGS", "REPO", "RUNTIME_CACHE", "SIM_MAIN",
    "SPI_CTRL_PORTS", "SPI_WORD_BITS", "TB_TOP", "VERILATOR_FLAGS", "Port",
    "analog_bus_prefixes", "build_core", "build_design", "build_lz4", "core_verilog",
    "event_log_ports", "find_spi_pins", "find_top", "make_tb_top", "make_vlt", "parse_ports",
    "results_ok", "run_cocotb", "setup_env",
]

log = logging.getLogger(__name__)

SIM_LOG = "sim.log"


def __getattr__(name: str):
    # The build root follows $NEURRAM_BUILD_DIR / the working directory at the time of
    # use, so it is computed on access rather than frozen at import.
    if name == "BUILD_ROOT":
        return cosim_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CosimRunError(RuntimeError):
    """A cocotb run failed, or ran no test; the message names its log file."""


def _test_dir(label: str) -> Path:
    cur = os.environ.get("PYTEST_CURRENT_TEST", "")
    tag = re.sub(r"[^\w.-]+", "_", cur.split(" ")[0])[-120:] or label
    d = cosim_root() / "runs" / f"{tag}-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def results_count(xml_path: Path) -> tuple[int, int]:
    """(tests run, tests failed) of a cocotb results file."""
    from cocotb_tools.runner import get_results

    return get_results(Path(xml_path))


def results_ok(xml_path: Path) -> bool:
    n, failed = results_count(xml_path)
    return n > 0 and failed == 0


def _simulate(runner, **kw) -> int:
    """``Runner.test`` with its exits turned into a return code.

    cocotb's ``Runner.test`` ends the process (``sys.exit``) when the simulator or a test
    fails, and raises ``RuntimeError`` when the simulator binary itself exits non-zero; a
    library caller needs the run's outcome instead, to name the log. There is no public
    option for that, so this wrapper is the one place that catches them.
    """
    try:
        runner.test(**kw)
    except SystemExit as e:
        return int(e.code or 1) if not isinstance(e.code, str) else 1
    except RuntimeError:
        return 1
    return 0


def run_cocotb(test_module: str, build: Build, testcase: str | list[str] | None = None,
               seed: int | None = None, extra_env: dict | None = None,
               test_dir: Path | None = None, waves: bool | None = None) -> Path:
    """Run cocotb tests of ``test_module`` on a finished build; returns the results XML.

    Raises :class:`CosimRunError` (naming ``sim.log`` of the run directory) when the
    simulation fails, a test fails, or no test was selected.
    """
    from cocotb_tools.runner import get_runner

    setup_env()
    if waves is None:
        waves = build.waves and os.environ.get("WAVES", "0") not in ("", "0")
    # One BLAS thread: the analog models' products are small, and on a 2-core machine
    # idle BLAS worker threads spin on the core the simulator needs.
    env = {"NEURRAM_N_CORES": str(build.n_cores or 0), "PYTHONHASHSEED": "0",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    tdir = Path(test_dir) if test_dir else _test_dir(test_module.rsplit(".", 1)[-1])
    tdir.mkdir(parents=True, exist_ok=True)
    results = tdir / "results.xml"
    sim_log = tdir / SIM_LOG
    code = _simulate(get_runner("verilator"), test_module=test_module, hdl_toplevel=TB_TOP,
                     hdl_toplevel_lang="verilog", build_dir=build.dir, test_dir=tdir,
                     testcase=testcase, seed=seed, extra_env=env, waves=waves,
                     results_xml=str(results), log_file=sim_log)
    what = f"cocotb {test_module}" + (f" ({testcase})" if testcase else "")
    if not results.exists():
        raise CosimRunError(f"{what}: no results (simulator exit {code}); log {sim_log}:\n"
                            f"{_tail(sim_log)}")
    n, failed = results_count(results)
    if n == 0:
        raise CosimRunError(f"{what}: selected no test (misspelt testcase?); log {sim_log}")
    if failed or code:
        raise CosimRunError(f"{what}: {failed} of {n} tests failed (simulator exit {code}); "
                            f"log {sim_log}:\n{_tail(sim_log)}")
    log.info("%s: %d tests passed (log %s)", what, n, sim_log)
    return results

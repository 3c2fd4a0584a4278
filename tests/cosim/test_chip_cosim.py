"""The multi-core chip in cosimulation: the core compiled once, parallel MVMs on every
core bit-exact with the golden model, and the runner's guard against empty runs.

``make test`` runs the 4-core chip; ``make regress`` adds the whole 48-core chip.
"""

from __future__ import annotations

import json

import pytest

from cosim import runner
from cosim.chip_bench import core_models

pytestmark = pytest.mark.cosim


@pytest.fixture(scope="module")
def chip4():
    return runner.build_core(4)


def _vlt(build) -> str:
    return (build.dir / "src" / "tb.vlt").read_text()


def test_core_is_one_hierarchical_block(chip4):
    # One verilated model of the core for all four instances; the root holds none of it.
    assert 'hier_block -module "neurram_core_tile"' in _vlt(chip4)
    assert core_models(chip4.dir) == 1
    root = "".join(p.read_text() for p in chip4.dir.glob("Vtop___024root*.cpp"))
    assert "neurram_core_tile_protectlib_create" in root  # instances of the block ...
    assert "controller" not in root                        # ... and none of its logic


def test_tile_verilated_from_its_own_source(chip4):
    # The tile's modules are split off into a file whose path depends only on its text,
    # so every build of any core count verilates the same tile to the same C++ and can
    # take its compiled objects from the tile cache.
    from cosim.buildcache import TILE_CACHE, split_tile
    from rtl.generate import TILE_NAME

    dut = (chip4.dir / "src" / "dut.v").read_text()
    assert f"module {TILE_NAME}(" not in dut and "module neurram_chip4(" in dut
    args = (chip4.dir / f"V{TILE_NAME}__hierMkArgs.f").read_text()
    tile_src = next(line.strip() for line in args.splitlines() if line.strip().endswith(f"{TILE_NAME}.v"))
    assert f"/{TILE_CACHE}/src/" in tile_src
    rest, tile = split_tile(runner.core_verilog(4))
    assert rest.replace("\n", "") and tile == open(tile_src).read()


def test_one_core_build_is_flat():
    b = runner.build_core(1)
    assert "hier_block" not in _vlt(b) and core_models(b.dir) == 0


def test_four_core_parallel_mvm(chip4):
    runner.run_cocotb("cosim.tb.mvm_tests", chip4, testcase="multicore_parallel",
                      extra_env={"NEURRAM_PARAMS": json.dumps({})})


def test_run_selecting_no_test_fails(chip4):
    with pytest.raises(runner.CosimRunError, match="selected no test"):
        runner.run_cocotb("cosim.tb.mvm_tests", chip4, testcase="multicore_paralel")


@pytest.mark.slow   # the 48-core build: minutes, once per RTL change (cached)
def test_48_core_parallel_mvm():
    b = runner.build_core(48)
    assert core_models(b.dir) == 1
    runner.run_cocotb("cosim.tb.mvm_tests", b, testcase="multicore_parallel")

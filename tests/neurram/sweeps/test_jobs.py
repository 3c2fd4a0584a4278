"""The job kinds' worker functions on tiny inputs (in this process, no cluster)."""

from __future__ import annotations

import pytest

from neurram.sweeps import jobs
from neurram.sweeps.registry import KINDS
from neurram.sweeps.spec import Job


def _run(kind: str, seed: int = 0, params: dict | None = None, **args) -> dict:
    full = {n: a.default for n, a in KINDS[kind].args.items()}
    full.update(args)
    return jobs.execute(Job(kind=kind, seed=seed, point={}, args=full, params=params or {}).to_dict())


MVM = dict(rows=8, cols=8, vectors=5, program="backdoor", calibrate=False)


def test_mvm_job_is_a_pure_function_of_parameters_and_seed():
    a, b = _run("mvm", 3, **MVM), _run("mvm", 3, **MVM)
    c = _run("mvm", 4, **MVM)
    assert a["status"] == "ok", a["traceback"]
    assert a["metrics"]["codes_sha256"] == b["metrics"]["codes_sha256"] != c["metrics"]["codes_sha256"]
    assert a["metrics"]["rmse"] == b["metrics"]["rmse"] > 0
    assert a["extra"]["placement"]["cores_used"] == 1 and a["worker"] == "local"


def test_mvm_job_takes_analog_parameters():
    ideal = _run("mvm", 3, params={"ideal": True}, **MVM)["metrics"]
    real = _run("mvm", 3, params={"r_driver": 50.0, "n_parallel_cores": 8}, **MVM)["metrics"]
    assert ideal["rmse_vs_quantised_inputs"] < 0.5 * real["rmse_vs_quantised_inputs"]


def test_fidelity_write_verify_window_and_timeout():
    kw = dict(experiment="write_verify", n_cells=300, iterations=0)
    narrow = _run("fidelity", tol=0.5, **kw)["metrics"]
    wide = _run("fidelity", tol=2.0, **kw)["metrics"]
    assert narrow["mean_pulses"] > wide["mean_pulses"]
    no_time = _run("fidelity", tol=0.5, max_reversals=0, **kw)["metrics"]
    assert no_time["success_rate"] < narrow["success_rate"]


SAMPLE = "tests/neurram/sweeps/shard_sample.py"


def test_regress_shards_run_pytest_and_failures_carry_metrics():
    args = {n: a.default for n, a in KINDS["regress"].args.items()}
    args.update(paths=[SAMPLE], marker="", shards=2, prebuild=0)
    shards = jobs.plan_regress(args)
    assert [p for p, _ in shards] == [{"shard": 0}, {"shard": 1}]
    assert [a["nodeids"] for _, a in shards] == [
        [f"{SAMPLE}::test_passes", f"{SAMPLE}::test_fails"], [f"{SAMPLE}::test_passes_too"]]
    recs = [jobs.execute(Job("regress", 0, p, a, {}).to_dict()) for p, a in shards]
    ok, bad = sorted(recs, key=lambda r: r["status"] != "ok")
    assert ok["status"] == "ok" and ok["metrics"]["passed"] == ok["metrics"]["tests"]
    assert bad["status"] == "failed" and bad["metrics"]["failed"] == 1
    assert "failure is expected" in bad["extra"]["output_tail"] and "exit code 1" in bad["error"]


@pytest.mark.parametrize("paths, marker, error", [
    ([SAMPLE], "cosim", "selected no tests"),
    (["../elsewhere"], "", "not a path inside the repository"),
])
def test_regress_plan_errors(paths, marker, error):
    args = {n: a.default for n, a in KINDS["regress"].args.items()}
    args.update(paths=paths, marker=marker, prebuild=0)
    with pytest.raises((RuntimeError, ValueError), match=error):
        jobs.plan_regress(args)


def test_every_kind_entry_resolves_and_matches_its_schema():
    import importlib
    import inspect

    for name, kind in KINDS.items():
        mod, fn = kind.entry.split(":")
        sig = inspect.signature(getattr(importlib.import_module(mod), fn))
        declared = set(kind.args) | {"seed"} | ({"params"} if kind.analog_params else set())
        planned = {"shard", "nodeids"} if kind.plan else set()
        assert set(sig.parameters) == declared | planned, name


def test_cosim_build_is_made_once_per_worker_process(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from cosim import runner

    calls = []

    def fake_build_core(n_cores):
        calls.append(n_cores)
        return SimpleNamespace(dir=tmp_path / f"core{n_cores}", built_now=len(calls) == 1,
                               elapsed_s=0.0)

    monkeypatch.setattr(runner, "build_core", fake_build_core)
    jobs.cosim_build.cache_clear()
    try:
        first = jobs.cosim_build(1)
        assert jobs.cosim_build(1) == first and first["built_now"]
        jobs.cosim_build(4)
        assert calls == [1, 4]
    finally:
        jobs.cosim_build.cache_clear()


def test_net_job_measures_accuracy_on_one_chip_instance(tmp_path):
    """The ``net`` kind: the same seed is the same chip (same accuracy); the ideal,
    calibrated chip runs the network about as well as software."""
    pytest.importorskip("torch")
    kw = dict(data="digits", epochs=8, test_images=40, program="backdoor",
              out=str(tmp_path / "digits"))
    a = _run("net", 1, params={"ideal": True}, **kw)
    assert a["status"] == "ok", a["traceback"]
    b = _run("net", 1, params={"ideal": True}, **kw)
    assert a["metrics"]["acc"] == b["metrics"]["acc"]
    m = a["metrics"]
    assert m["acc_software"] > 0.5, m
    assert m["acc"] >= m["acc_software"] - 0.1, m


def test_rbm_kind_choices_are_the_rbm_packages():
    from neurram.rbm import model, sampler

    args = KINDS["rbm"].args
    assert args["corruption"].choices == model.CORRUPTIONS
    assert args["visible_mode"].choices == sampler.VISIBLE_MODES


def test_rbm_job_recovers_images_on_one_chip_instance(tmp_path):
    """The ``rbm`` kind: the same seed is the same chip (same recovery); a chip with much
    stronger driver IR drop recovers clearly worse; the ideal chip recovers about as well
    as software."""
    kw = dict(dataset="digits", hidden=32, epochs=12, lr=0.02, test_images=60, steps=4,
              program="backdoor", cache=str(tmp_path / "cache"))
    a = _run("rbm", 1, params={"ideal": True}, **kw)
    assert a["status"] == "ok", a["traceback"]
    b = _run("rbm", 1, params={"ideal": True}, **kw)
    assert a["metrics"] == {**b["metrics"], "chip_s": a["metrics"]["chip_s"]}
    m = a["metrics"]
    assert m["l2_reduction_software"] > 0.1, m
    assert m["l2_reduction"] > m["l2_reduction_software"] - 0.15, m
    real = _run("rbm", 1, params={"r_driver": 2000.0}, **kw)["metrics"]
    assert real["l2_reduction"] < m["l2_reduction"] - 0.1, (real, m)

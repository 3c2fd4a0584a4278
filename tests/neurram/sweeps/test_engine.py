"""The sweep engine on a 2-worker LocalCluster: failures, resume, interrupts, a killed
worker, and nothing listening beyond 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time

import psutil
import pytest

from neurram.sweeps import engine, store
from neurram.sweeps.cli import main as sweep_main
from neurram.sweeps.spec import load


@pytest.fixture(scope="module")
def client():
    with engine.local_cluster(2) as c:
        c.wait_for_workers(2)
        yield c


def _spec(tmp_path, body: str, name="probe.toml"):
    p = tmp_path / name
    p.write_text('kind = "probe"\n' + body)
    return load(p)


def _table(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _wait_for(pred, what: str, limit_s: float = 60.0):
    """Poll a condition that the test itself makes true; the limit only bounds a hang."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > limit_s:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_cluster_listens_only_on_localhost(client):
    client.wait_for_workers(2, timeout=120)
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    listening = [c.laddr for p in procs for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening


def test_failed_jobs_recorded_and_sweep_goes_on(client, tmp_path):
    spec = _spec(tmp_path, 'seeds = 2\n[axes]\nvalue = [1.0, 2.0]\nfail = [false, true]\n')
    res = engine.run(spec, tmp_path / "out", client=client, progress=False)
    rows = _table(tmp_path / "out" / "results.csv")
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    assert sorted(r["status"] for r in rows) == ["failed"] * 4 + ["ok"] * 4
    for r in rows:
        rec = json.loads((tmp_path / "out" / "jobs" / f"{r['key']}.json").read_text())
        if r["fail"] == "True":
            assert rec["status"] == "failed" and "ValueError: probe asked to fail" in rec["error"]
            assert "raise ValueError" in rec["traceback"]
        else:
            want = float(r["value"]) + int(r["seed"])
            assert rec["metrics"]["value"] == want == float(r["metric.value"])
            assert rec["worker"] in client.scheduler_info()["workers"]
    assert len(res.failed) == 4


def test_cli_exit_code_and_resume_skips_finished(client, tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text('kind = "probe"\nseeds = 3\n[axes]\nvalue = [1.0, 2.0]\n')
    out = tmp_path / "out"
    argv = [str(p), "--out", str(out), "--scheduler", client.scheduler.address, "--quiet"]
    assert sweep_main(argv) == 0
    first = {r["key"]: r for r in _table(out / "results.csv")}
    assert len(first) == 6
    os.unlink(out / "jobs" / f"{next(iter(first))}.json")
    capsys.readouterr()
    assert sweep_main(argv) == 0
    assert "1 run now, 5 from before" in capsys.readouterr().out
    second = {r["key"]: r for r in _table(out / "results.csv")}
    assert second.keys() == first.keys()
    assert all(second[k]["finished"] == first[k]["finished"] for k in list(first)[1:])
    p.write_text('kind = "probe"\nseeds = 3\n[axes]\nvalue = [1.0, 2.0]\nfail = [true]\n')
    assert sweep_main(argv) == 1


def test_bad_spec_is_exit_2_before_anything_runs(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text('kind = "probe"\n[axes]\nvalue = []\n')
    assert sweep_main([str(p), "--out", str(tmp_path / "o")]) == 2
    assert "bad.toml:3: [axes.value] empty axis" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_interrupt_leaves_consistent_table_and_resumes(tmp_path, monkeypatch):
    spec = _spec(tmp_path, 'seeds = 6\n[axes]\nvalue = [1.0]\n')
    out = tmp_path / "out"
    real = store.atomic_write
    calls = {"n": 0}

    def interrupted_write(path, text):
        calls["n"] += 1
        if calls["n"] == 4:          # Ctrl-C while a job record is being written
            path.with_name(f".{path.name}.partial").write_text(text[: len(text) // 2])
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(store, "atomic_write", interrupted_write)
    res = engine.run(spec, out, client=None, progress=False)
    assert res.interrupted
    monkeypatch.setattr(store, "atomic_write", real)
    rows = _table(out / "results.csv")
    records = list((out / "jobs").glob("*.json"))
    assert 0 < len(rows) == len(records) < 6
    assert all(json.loads(p.read_text())["status"] == "ok" for p in records)
    res = engine.run(spec, out, client=None, progress=False)
    assert not res.interrupted and res.skipped == len(rows)
    rows = _table(out / "results.csv")
    assert len(rows) == 6 and len({r["key"] for r in rows}) == 6


def test_worker_killed_mid_job_is_retried_and_recorded_once(client, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    spec = _spec(tmp_path, f'[fixed]\nhold_dir = "{hold}"\n[axes]\nvalue = [1.0, 2.0, 3.0, 4.0]\n')
    out = tmp_path / "out"
    box = {}

    def sweep():
        try:
            box["res"] = engine.run(spec, out, client=client, progress=False)
        except BaseException as e:   # reported by the assertion below
            box["error"] = e

    t = threading.Thread(target=sweep)
    t.start()
    try:
        # Both workers are inside a job (each wrote its start file and waits for release),
        # so the process killed below is provably mid-job.
        _wait_for(lambda: len(list(hold.glob("started-*"))) == 2, "two jobs to start", 120)
        victim = sorted(hold.glob("started-*"))[0]
        victim_value, pid = victim.name.split("-")[1], int(victim.read_text())
        assert pid in {p.pid for p in psutil.Process().children(recursive=True)}
        os.kill(pid, signal.SIGKILL)
        (hold / "release").write_text("")
    finally:
        (hold / "release").write_text("")
        t.join(180)
    assert not t.is_alive()
    assert "res" in box, box
    res = box["res"]
    assert not res.interrupted and not res.failed, (res, res.failed)
    rows = _table(out / "results.csv")
    assert sorted(float(r["value"]) for r in rows) == [1.0, 2.0, 3.0, 4.0]
    assert len({r["key"] for r in rows}) == 4 and all(r["status"] == "ok" for r in rows)
    # The victim's job ran twice, in two processes: killed in the first, retried elsewhere.
    pids = sorted(int(p.read_text()) for p in hold.glob(f"started-{victim_value}-*"))
    assert len(pids) == 2 and pid in pids and len(set(pids)) == 2, pids
    client.wait_for_workers(2, timeout=120)      # the nanny's replacement, for later tests


def test_ctrl_c_of_the_command_exits_130_and_the_rerun_completes(client, tmp_path):
    """A terminal's Ctrl-C: SIGINT to the command's whole process group (its LocalCluster's
    workers included) while both workers are provably inside a job."""
    import subprocess
    import sys

    hold = tmp_path / "hold"
    hold.mkdir()
    p = tmp_path / "s.toml"
    p.write_text(f'kind = "probe"\n[fixed]\nhold_dir = "{hold}"\n[axes]\nvalue = [1.0, 2.0, 3.0]\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurram.cli", "sweep", str(p), "--out", str(out), "--quiet",
         "--workers", "2"], start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(lambda: len(list(hold.glob("started-*"))) == 2, "two jobs to start", 120)
        os.killpg(proc.pid, signal.SIGINT)
        text, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, text
    assert "interrupted: 0 of 3 jobs done" in text and "Traceback" not in text, text
    assert _table(out / "results.csv") == []
    (hold / "release").write_text("")
    assert sweep_main([str(p), "--out", str(out), "--scheduler", client.scheduler.address,
                       "--quiet"]) == 0
    assert sorted(float(r["value"]) for r in _table(out / "results.csv")) == [1.0, 2.0, 3.0]

"""Summary table, plot and sequential groups (jobs run in this process, no cluster)."""

from __future__ import annotations

from neurram.sweeps import engine, report
from neurram.sweeps.spec import load


def _run(tmp_path, body: str):
    p = tmp_path / "s.toml"
    p.write_text('kind = "probe"\n' + body)
    spec = load(p)
    return spec, engine.run(spec, tmp_path / "out", client=None, progress=False)


def test_summary_is_mean_and_std_over_seeds_per_grid_point(tmp_path):
    spec, res = _run(tmp_path, 'seeds = [0, 2]\n[axes]\nvalue = [1.0, 5.0]\nsleep_s = [0.0]\n')
    lines = report.summary(spec, res.store.rows()).splitlines()
    assert lines[0].split()[:5] == ["value", "sleep_s", "jobs", "ok", "failed"]
    # value + seed over seeds 0 and 2: mean value + 1, sample std sqrt(2)
    assert "2 ± 1.4" in lines[1] and "6 ± 1.4" in lines[2]


def test_plot_writes_a_png_with_one_line_per_other_axis_value(tmp_path):
    spec, res = _run(tmp_path, 'seeds = 3\n[axes]\nvalue = [1.0, 2.0, 4.0]\nfail = [false, true]\n')
    png = report.plot(spec, res.store.rows(), tmp_path / "p.png", "value")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sequential_axis_runs_groups_in_order_and_times_each(tmp_path):
    spec, res = _run(tmp_path, 'sequential = "value"\n[axes]\nvalue = [3.0, 1.0, 2.0]\n')
    assert list(res.group_wall_s) == [3.0, 1.0, 2.0]
    order = sorted(res.store.records.values(), key=lambda r: r["started"])
    assert [r["job"]["point"]["value"] for r in order] == [3.0, 1.0, 2.0]

"""Sweep specs: expansion into jobs and one clear error per bad spec (no cluster)."""

from __future__ import annotations

import textwrap

import pytest

from neurram.sweeps.spec import SpecError, load, locate

GOOD = """\
name = "demo"
kind = "mvm"
seeds = 3
[fixed]
vectors = 5
rows = 8
[axes]
r_driver = [2.0, 20.0]
n_parallel_cores = [1, 4]
in_bits = [4, 6]
"""


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_expands_grid_times_seeds_with_stable_distinct_keys(tmp_path):
    spec = load(_write(tmp_path, GOOD))
    assert spec.name == "demo" and spec.kind == "mvm" and spec.metric == "rmse"
    assert len(spec.jobs) == 2 * 2 * 2 * 3
    assert len({j.key for j in spec.jobs}) == len(spec.jobs)
    j = spec.jobs[0]
    assert j.point == {"r_driver": 2.0, "n_parallel_cores": 1, "in_bits": 4}
    assert j.params == {"r_driver": 2.0, "n_parallel_cores": 1}
    assert j.args["in_bits"] == 4 and j.args["vectors"] == 5 and j.args["cols"] == 64
    assert [x.seed for x in spec.jobs[:3]] == [0, 1, 2]
    again = load(_write(tmp_path, GOOD, "copy.toml"))
    assert [x.key for x in again.jobs] == [x.key for x in spec.jobs]


def test_seed_list_and_default_name(tmp_path):
    spec = load(_write(tmp_path, 'kind = "probe"\nseeds = [5, 9]\n[axes]\nvalue = [1.0]\n', "mine.toml"))
    assert spec.name == "mine" and [j.seed for j in spec.jobs] == [5, 9]


@pytest.mark.parametrize("text, key, line, words", [
    ('kind = "mvm"\ncolour = 1\n', "colour", 2, "unknown key"),
    ('kind = "nope"\n', "kind", 1, "unknown job kind 'nope'"),
    ('kind = "mvm"\n[axes]\nr_driver = [1.0]\nr_drivr = [2.0]\n', "axes.r_drivr", 4, "unknown field 'r_drivr'"),
    ('kind = "mvm"\n[fixed]\nvectors = "ten"\n', "fixed.vectors", 3, "must be an int"),
    ('kind = "mvm"\n[axes]\n\nin_bits = []\n', "axes.in_bits", 4, "empty axis"),
    ('kind = "mvm"\n[axes]\nin_bits = [4, 9]\n', "axes.in_bits", 3, "<= 8"),
    ('kind = "mvm"\n[axes]\nrelaxation = [true, 1]\n', "axes.relaxation", 3, "must be a bool"),
    ('kind = "mvm"\n[axes]\nr_driver = [2.0, -1.0]\n', "axes.r_driver", 3, "r_driver must be >= 0"),
    ('kind = "mvm"\n[fixed]\ng_min = 50.0\n[axes]\nr_driver = [1.0]\n', "fixed.g_min", 3, "g_min < g_max"),
    ('kind = "mvm"\nseeds = 0\n', "seeds", 2, "seed count"),
    ('kind = "mvm"\nsequential = "rows"\n', "sequential", 2, "must name an axis"),
    ('kind = "probe"\n[fixed]\nvalue = 1.0\n[axes]\nvalue = [2.0]\n', "axes.value", 5, "both fixed"),
    ('kind = "regress"\n[fixed]\nr_driver = 3.0\n', "fixed.r_driver", 3, "unknown field"),
])
def test_bad_spec_names_key_and_line(tmp_path, text, key, line, words):
    with pytest.raises(SpecError) as e:
        load(_write(tmp_path, text))
    assert (e.value.key, e.value.line) == (key, line)
    assert words in str(e.value) and f"s.toml:{line}" in str(e.value)


def test_toml_syntax_error_has_its_line(tmp_path):
    with pytest.raises(SpecError, match=r"not valid TOML.*line 2"):
        load(_write(tmp_path, 'kind = "mvm"\nseeds = = 3\n'))


def test_locate_dotted_and_quoted_keys():
    text = 'kind = "x"\naxes.r_driver = [1]\n[fixed]\n"rows" = 3\n'
    assert locate(text, "axes.r_driver") == 2
    assert locate(text, "fixed.rows") == 4
    assert locate(text, "fixed.cols") == 3     # its table's header when the key is absent

"""``neurram sweep SPEC.toml``: run a sweep or Monte-Carlo study on a Dask cluster.

Without ``--scheduler`` a LocalCluster (one worker process per core, on 127.0.0.1, no
dashboard) is started for the run and stopped after it. Results go to ``--out`` (default
``build/sweeps/<spec name>/``); running the same spec into the same directory again runs
only the jobs without a successful result. Exit code 0 when every job succeeded, 1 when
any failed, 2 for a bad spec, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import engine, report
from .spec import SpecError, load
from .store import atomic_write


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurram sweep", description=__doc__.splitlines()[0])
    p.add_argument("spec", type=Path, help="the sweep spec (TOML; see docs/sweeps.md)")
    p.add_argument("--out", type=Path, default=None,
                   help="results directory (default build/sweeps/<spec name>/)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="submit to this running Dask scheduler (e.g. tcp://host:8786) "
                        "instead of starting a LocalCluster")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the LocalCluster (default: one per core)")
    p.add_argument("--plot", action="store_true",
                   help="PNG of the spec's metric vs the first axis (error bars over seeds)")
    p.add_argument("--metric", action="append", default=None,
                   help="metric to summarise and plot instead of the spec's (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:   # while the cluster starts or stops; results are on disk
        print("neurram sweep: interrupted; run again to resume", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    a = _parser().parse_args(argv)
    if a.workers is not None and a.workers < 1:
        print(f"neurram sweep: error: --workers must be >= 1, got {a.workers}", file=sys.stderr)
        return 2
    try:
        spec = load(a.spec)
    except SpecError as e:
        print(f"neurram sweep: error: {e}", file=sys.stderr)
        return 2
    out = a.out or Path("build") / "sweeps" / spec.name
    atomic_write(out / "spec.toml", a.spec.read_text())
    n_todo = len(spec.jobs) - len(engine.ResultStore(out, spec).finished() & set(
        j.key for j in spec.jobs))
    where = a.scheduler or f"a LocalCluster of {a.workers or 'one worker per core'}"
    print(f"neurram sweep: {spec.name}: {len(spec.jobs)} {spec.kind} jobs, {n_todo} to run "
          f"on {where}; results in {out}/")
    if n_todo:
        with engine.connect(a.scheduler, a.workers) as client:
            res = engine.run(spec, out, client=client, progress=not a.quiet)
    else:
        res = engine.run(spec, out, client=None, progress=False)
    rows = res.store.rows()
    metrics = a.metric or [spec.metric]
    print(report.summary(spec, rows, a.metric))
    if res.group_wall_s:
        first = next(iter(res.group_wall_s.values()))
        print(f"wall time per {spec.sequential} (run one after another):")
        for v, w in res.group_wall_s.items():
            print(f"  {spec.sequential}={v}: {w:.1f} s (x{first / w:.2f} vs the first)")
    print(f"{res.completed} run now, {res.skipped} from before; {res.wall_s:.1f} s; "
          f"table {res.store.table}")
    if a.plot and not spec.axes:
        print("no axes: nothing to plot")
    elif a.plot:
        for m in metrics:
            print(f"plot {report.plot(spec, rows, out / f'{m}_vs_{spec.axis_names[0]}.png', m)}")
    failed = res.failed
    for r in failed[:10]:
        err = (r["error"] or "").splitlines()[0] if r["error"] else ""
        print(f"FAILED {r['job']['key']} {r['job']['point']} seed {r['job']['seed']}: {err} "
              f"({res.store.jobs_dir / (r['job']['key'] + '.json')})", file=sys.stderr)
    if len(failed) > 10:
        print(f"... and {len(failed) - 10} more failed jobs", file=sys.stderr)
    if res.interrupted:
        print(f"interrupted: {len(res.store.finished() & set(res.store.spec_keys))} of "
              f"{len(spec.jobs)} jobs done; run again to resume", file=sys.stderr)
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The results of a sweep on disk: one JSON per job and one CSV table.

``DIR/jobs/<key>.json`` is the full record of a job (its parameters, metrics, extra
results, error and traceback, worker, timing), written when the job completes;
``DIR/results.csv`` has one row per job of the spec that has a record. Both are written to
a temporary file and renamed over the old one, so an interrupted sweep (Ctrl-C, a killed
client) leaves every file either as it was or complete, never half written.

Why CSV and not Parquet: the table is a few thousand rows of scalars, it is read by
people and by every tool (pandas, a spreadsheet, ``column -t``) without extra
libraries, and Parquet would add pyarrow (~100 MB) to the ``sweep`` extra for no gain at
this size. The typed truth (lists, nested results) is in the per-job JSON.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import tempfile
from pathlib import Path

from .spec import Spec

log = logging.getLogger(__name__)

#: Columns of every row, before the parameters and after them the metrics.
HEAD = ("key", "status", "seed")
TAIL = ("wall_s", "worker", "started", "finished", "error")


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # The rename is what makes the write atomic against an interrupted or killed
        # client; no fsync: surviving a power cut is not worth ~5 ms per job.
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class ResultStore:
    """Results of one spec in ``out_dir``; ``records`` maps job key -> record."""

    def __init__(self, out_dir: Path, spec: Spec):
        self.dir = Path(out_dir)
        self.spec = spec
        self.jobs_dir = self.dir / "jobs"
        self.table = self.dir / "results.csv"
        self.records: dict[str, dict] = {}
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        for p in sorted(self.jobs_dir.glob("*.json")):
            try:
                rec = json.loads(p.read_text())
                self.records[rec["job"]["key"]] = rec
            except (json.JSONDecodeError, KeyError) as e:   # only a hand-edited file can be
                log.warning("ignoring unreadable job record %s: %s", p, e)

    @property
    def spec_keys(self) -> list[str]:
        return [j.key for j in self.spec.jobs]

    def finished(self) -> set[str]:
        """Keys of jobs that completed successfully (a rerun skips these)."""
        return {k for k, r in self.records.items() if r["status"] == "ok"}

    def add(self, rec: dict) -> None:
        key = rec["job"]["key"]
        atomic_write(self.jobs_dir / f"{key}.json", json.dumps(rec, indent=1, default=str))
        self.records[key] = rec

    def rows(self) -> list[dict]:
        """One row per job of the spec that has a record, in the spec's order."""
        out = []
        for job in self.spec.jobs:
            rec = self.records.get(job.key)
            if rec is None:
                continue
            row = {"key": job.key, "status": rec["status"], "seed": job.seed}
            row.update(job.point)
            for k, v in self.spec.fixed.items():
                row.setdefault(k, v)
            for k, v in rec["metrics"].items():
                row[k if k not in row else f"metric.{k}"] = v
            row.update({k: rec.get(k) for k in TAIL})
            out.append(row)
        return out

    def write_table(self) -> Path:
        rows = self.rows()
        cols: list[str] = list(HEAD)
        for r in rows:
            for k in r:
                if k not in cols and k not in TAIL:
                    cols.append(k)
        cols += TAIL
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        atomic_write(self.table, buf.getvalue())
        return self.table

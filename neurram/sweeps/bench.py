"""``make bench`` section ``sweep``: what the engine costs per job.

The same trivial jobs (``probe``) run twice through :func:`neurram.sweeps.engine.run`,
once on a 2-worker LocalCluster already started and once one after another in this
process; both paths write every job's JSON and the table, so the difference per job is
the price of Dask (serialisation, scheduling, the round trips). A real job (an MVM job
takes seconds) dwarfs it.

The wall-time figure depends on how quickly the host schedules the client, the
scheduler and the workers for each round trip; ``sweep.overhead_cpu_per_job_ms`` (CPU
of this process and the worker processes, the same difference) does not, and is the
steadier figure on a loaded machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import engine
from .spec import from_dict


def _tree_cpu_s() -> float:
    """CPU seconds of this process and its live children (the cluster's workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me] + me.children(recursive=True):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total

GOALS = {"sweep.overhead_per_job_ms": ("<=", 20)}


def run(jobs: int = 200, workers: int = 2) -> dict:
    spec = from_dict({"kind": "probe", "seeds": jobs, "axes": {"value": [1.0]}}, "bench.toml")
    with tempfile.TemporaryDirectory(prefix="neurram-sweep-bench-") as tmp:
        t0 = time.perf_counter()
        with engine.local_cluster(workers) as client:
            client.wait_for_workers(workers)
            start_s = time.perf_counter() - t0
            warm = from_dict({"kind": "probe", "seeds": 2 * workers,
                              "axes": {"value": [0.0]}}, "warm.toml")
            engine.run(warm, Path(tmp) / "warm", client=client, progress=False)
            t, c = time.perf_counter(), _tree_cpu_s()
            r = engine.run(spec, Path(tmp) / "cluster", client=client, progress=False)
            cluster_s, cluster_cpu = time.perf_counter() - t, _tree_cpu_s() - c
        t, c = time.perf_counter(), _tree_cpu_s()
        r1 = engine.run(spec, Path(tmp) / "inline", client=None, progress=False)
        inline_s, inline_cpu = time.perf_counter() - t, _tree_cpu_s() - c
    assert not r.failed and not r1.failed and len(r.submitted) == len(r1.submitted) == jobs
    return {
        "sweep.overhead_per_job_ms": (cluster_s - inline_s) / jobs * 1e3,
        "sweep.overhead_cpu_per_job_ms": (cluster_cpu - inline_cpu) / jobs * 1e3,
        "sweep.cluster_job_ms": cluster_s / jobs * 1e3,
        "sweep.inline_job_ms": inline_s / jobs * 1e3,
        "sweep.cluster_start_s": start_s,
    }

"""Run a spec's jobs on Dask: a LocalCluster started here, or any existing cluster.

Reliability rests on three things. Each job is a pure function of its parameters, so
Dask may rerun it after a worker died (the scheduler reschedules the tasks a dead worker
held; a job is given up only after it took ``distributed.scheduler.allowed-failures``
workers down with it). The client writes each result as soon as its future completes,
keyed by the job's hash, so every job appears once however often it ran. And a rerun
submits only the jobs without a successful record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .jobs import execute
from .spec import Job, Spec
from .store import ResultStore

#: Seconds between refreshes of the progress bar's running count and of the table.
REFRESH_S = 0.5


@dataclass
class SweepRun:
    """What one invocation did (the store holds every record, old and new)."""

    store: ResultStore
    submitted: list[str] = field(default_factory=list)   # keys sent by this invocation
    completed: int = 0                                    # of those, results recorded
    skipped: int = 0                                      # finished before
    wall_s: float = 0.0
    group_wall_s: dict = field(default_factory=dict)      # sequential axis value -> wall
    interrupted: bool = False

    @property
    def failed(self) -> list[dict]:
        return [r for r in (self.store.records.get(k) for k in self.store.spec_keys)
                if r is not None and r["status"] != "ok"]


@contextlib.contextmanager
def _workers_ignore_sigint():
    """Ctrl-C in a terminal signals the whole process group; the client handles it and
    closes the cluster, so the worker processes should not die of it first (each with
    a traceback). An ignored signal stays ignored across the exec of a spawned process,
    so ignore SIGINT while the cluster spawns its workers. (Dask has no option for it.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def local_cluster(n_workers: int | None = None):
    """A LocalCluster, one single-threaded worker process per core, everything on
    127.0.0.1 and no dashboard; closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    n = n_workers or os.cpu_count() or 1
    # One task per worker thread at a time (Dask queues tasks on the scheduler for groups
    # of more than twice the threads): a long job does not wait behind another on a busy
    # worker while one is idle, and the progress bar's "running" is what executes.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        # No dashboard; the scheduler's remaining HTTP routes (health, metrics) on a free
        # port of 127.0.0.1 rather than 8787, which another sweep may hold.
        with _workers_ignore_sigint():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   worker_dashboard_address=None, silence_logs=logging.WARNING)
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def connect(scheduler: str | None, n_workers: int | None = None):
    """A client of ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``), or of a
    LocalCluster started for the duration when None."""
    if scheduler is None:
        with local_cluster(n_workers) as client:
            yield client
    else:
        from distributed import Client

        with Client(scheduler) as client:
            yield client


def _error_record(job: Job, future, exc: BaseException) -> dict:
    tb = future.traceback() if future is not None else None
    return {"job": job.to_dict(), "status": "failed", "metrics": {}, "extra": {},
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_tb(tb)) if tb else None,
            "wall_s": None, "worker": None, "host": None, "pid": None,
            "started": None, "finished": time.time()}


def _groups(spec: Spec, jobs: list[Job]) -> list[tuple[object, list[Job]]]:
    if not spec.sequential:
        return [(None, jobs)]
    order = dict(spec.axes)[spec.sequential]
    return [(v, [j for j in jobs if j.group == v]) for v in order]


def run(spec: Spec, out_dir: Path, client=None, progress: bool = True) -> SweepRun:
    """Run every job of ``spec`` without a successful record in ``out_dir``.

    ``client`` is a :class:`distributed.Client`, or None to run the jobs one after another
    in this process (the benchmark's baseline; no Dask involved).
    """
    from tqdm import tqdm

    store = ResultStore(out_dir, spec)
    done_before = store.finished()
    todo = [j for j in spec.jobs if j.key not in done_before]
    res = SweepRun(store=store, skipped=len(spec.jobs) - len(todo))
    bar = tqdm(total=len(spec.jobs), initial=res.skipped, desc=spec.name, unit="job",
               disable=not progress, dynamic_ncols=True)
    counts = {"done": res.skipped, "running": 0, "failed": 0}
    bar.set_postfix(counts)
    t0 = time.perf_counter()
    last_table = 0.0

    def finish(rec: dict) -> None:
        nonlocal last_table
        store.add(rec)
        res.completed += 1
        counts["done"] += 1
        counts["failed"] += rec["status"] != "ok"
        bar.update(1)
        bar.set_postfix(counts)
        if time.perf_counter() - last_table > REFRESH_S:
            store.write_table()
            last_table = time.perf_counter()

    try:
        for value, jobs in _groups(spec, todo):
            g0 = time.perf_counter()
            res.submitted += [j.key for j in jobs]
            if client is None:
                for j in jobs:
                    finish(execute(j.to_dict()))
            else:
                _run_on_cluster(client, jobs, finish, counts, bar)
            if spec.sequential:
                res.group_wall_s[value] = time.perf_counter() - g0
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        res.wall_s = time.perf_counter() - t0
        store.write_table()
        bar.close()
    return res


def _run_on_cluster(client, jobs: list[Job], finish, counts: dict, bar) -> None:
    from distributed import as_completed

    nonce = uuid.uuid4().hex[:8]
    # One map: one graph update for all jobs (a submit per job costs the scheduler a
    # graph update each).
    fs = client.map(execute, [j.to_dict() for j in jobs], pure=False,
                    key=[f"neurram-sweep-{j.key}-{nonce}" for j in jobs])
    futures = dict(zip(fs, jobs))
    keys = {f.key for f in futures}
    stop = threading.Event()

    def show_running():   # a scheduler round trip: on a timer, not per finished job
        while not stop.wait(REFRESH_S):
            try:
                procs = client.processing()
            except Exception:   # the cluster is going away; the main loop will see it
                return
            counts["running"] = sum(len(keys.intersection(ks)) for ks in procs.values())
            bar.set_postfix(counts)

    ticker = threading.Thread(target=show_running, name="sweep-progress", daemon=True)
    if not bar.disable:
        ticker.start()
    remaining = set(futures)
    try:
        # with_results: results are fetched on the client's event loop as they arrive,
        # not by a blocking round trip per future.
        for batch in as_completed(futures, with_results=True, raise_errors=False).batches():
            for f, result in batch:
                remaining.discard(f)
                if f.status == "finished":
                    finish(result)
                elif f.status == "error":   # e.g. KilledWorker: it took too many workers down
                    finish(_error_record(futures[f], f, f.exception()))
                else:
                    finish(_error_record(futures[f], None, RuntimeError(f"future {f.status}")))
    finally:
        stop.set()
        if remaining:
            client.cancel(list(remaining))
        counts["running"] = 0

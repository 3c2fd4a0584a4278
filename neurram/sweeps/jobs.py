"""The functions workers run: one per job kind, plus :func:`execute`, the wrapper that
turns any outcome of a job into one result record.

Every function is a pure function of its arguments and ``seed``: the same job gives the
same metrics on any worker, so a job retried after a worker died, or rerun on resume, is
the same job.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import socket
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


class JobFailed(RuntimeError):
    """A job that ran to the end but failed its own check (e.g. a test shard with failing
    tests); ``metrics`` are recorded with the failure."""

    def __init__(self, message: str, metrics: dict):
        super().__init__(message)
        self.metrics = metrics


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def execute(job: dict) -> dict:
    """Run one job (``neurram.sweeps.spec.Job.to_dict()``); never raises.

    Returns the record written to the job's JSON: the job, ``status`` (``ok`` / ``failed``),
    ``metrics`` (scalars), ``extra`` (the rest of the function's result), ``error`` and
    ``traceback`` on failure, ``wall_s``, ``worker``, ``host``, ``pid``, ``started`` and
    ``finished`` (Unix time).
    """
    from .registry import KINDS

    kind = KINDS[job["kind"]]
    started = time.time()
    t0 = time.perf_counter()
    rec = {"job": job, "status": "ok", "metrics": {}, "extra": {}, "error": None,
           "traceback": None}
    try:
        from cosim.session import resolve

        func = resolve(kind.entry)
        kw = dict(job["args"])
        if kind.analog_params:
            kw["params"] = dict(job["params"])
        out = func(seed=job["seed"], **kw)
        rec["metrics"], rec["extra"] = split_metrics(out)
    except JobFailed as e:
        rec.update(status="failed", error=str(e), traceback=traceback.format_exc())
        rec["metrics"], rec["extra"] = split_metrics(e.metrics)
    except Exception as e:   # a failing job is a result; the sweep goes on
        rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc())
    rec.update(wall_s=time.perf_counter() - t0, worker=_worker_name(), host=socket.gethostname(),
               pid=os.getpid(), started=started, finished=time.time())
    return rec


def split_metrics(out: dict) -> tuple[dict, dict]:
    """Scalars (numbers, bools, None, one-line strings) are metrics, i.e. table columns;
    everything else (lists, dicts, long text such as logs) is extra, in the JSON only."""
    from cosim.session import to_jsonable

    if not isinstance(out, dict):
        raise TypeError(f"a job function must return a dict, got {type(out).__name__}")
    metrics, extra = {}, {}
    for k, v in to_jsonable(out).items():
        scalar = v is None or isinstance(v, (bool, int, float)) or (
            isinstance(v, str) and len(v) <= 120 and "\n" not in v)
        (metrics if scalar else extra)[k] = v
    return metrics, extra


# ---------------------------------------------------------------------------------------
# mvm: the job of `neurram mvm`
# ---------------------------------------------------------------------------------------
def _golden(kwargs: dict, n_cores: int, seed: int, params: dict) -> dict:
    from cosim.transport import GoldenTransport
    from neurram.mvm_cli import job

    from .spec import analog_params

    t = GoldenTransport(n_cores=n_cores, params=analog_params(params), seed=seed)
    try:
        return job(t, **kwargs)
    finally:
        t.close()


def _cosim(kwargs: dict, n_cores: int, seed: int, params: dict) -> dict:
    import tempfile

    from cosim.session import run_with_cosim

    # The simulator writes its log to the inherited stdout, which on a Dask worker is the
    # terminal of the sweep: send it to a file (named in the error if the job fails).
    with tempfile.NamedTemporaryFile("w", prefix="neurram-cosim-", suffix=".log",
                                     delete=False) as log, _stdout_to(log.fileno()):
        try:
            res = run_with_cosim("neurram.mvm_cli:job", kwargs, n_cores=n_cores, seed=seed,
                                 params=params)
        except Exception as e:
            raise RuntimeError(f"{e} (simulator log {log.name})") from e
    os.unlink(log.name)
    return res


@contextlib.contextmanager
def _stdout_to(fd: int):
    """File descriptor 1 (this process's and its children's stdout) points to ``fd``."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(fd, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


#: backend name -> f(job kwargs, n_cores, seed, params) -> result of neurram.mvm_cli.job
MVM_BACKENDS = {"model": _golden, "golden": _golden, "cosim": _cosim}


def mvm(*, seed: int, params: dict, backend: str, rows: int, cols: int, vectors: int,
        in_bits: int, out_bits: int, direction: str, two_phase: str, program: str,
        calibrate: bool, n_cores: int | None) -> dict:
    """``neurram mvm`` as a sweep job: RMSE against ``W x`` (and golden agreement for cosim)."""
    import base64

    from neurram.mvm_cli import needed_cores

    n = n_cores or needed_cores(rows, cols)
    kwargs = dict(rows=rows, cols=cols, vectors=vectors, in_bits=in_bits, out_bits=out_bits,
                  direction="FWD" if direction == "forward" else "BWD", seed=seed,
                  program=program, backend="cosim" if backend == "cosim" else "model",
                  params=params, calibrate=calibrate, progress=False,
                  two_phase={"auto": None, "on": True, "off": False}[two_phase])
    res = MVM_BACKENDS[backend](kwargs, n, seed, params)
    y, ideal = np.asarray(res["y"]), np.asarray(res["ideal"])
    out = {
        "rmse": float(np.sqrt(np.mean((y - ideal) ** 2))),
        "rmse_vs_quantised_inputs": float(np.sqrt(np.mean(
            (y - np.asarray(res["ideal_quantised_inputs"])) ** 2))),
        "ideal_std": float(ideal.std()), "n_cores_used": res["placement"]["cores_used"],
        "program_method": res["program"], "spi_frames": res["frames"],
        "program_s": res["time_s"]["program"], "mvm_s": res["time_s"]["mvm"],
        "codes_sha256": res["codes_sha256"], "placement": res["placement"],
        "calibration": res["calibration"],
    }
    if res["programming"]:
        p = res["programming"]
        out.update(wv_mean_pulses=p["mean_pulses"], wv_in_window=p["in_window"] / p["cells"],
                   wv_rms_error_uS=p["rms_error_uS"])
    if backend == "cosim":
        gold = _golden({**kwargs, "backend": "model"}, n, seed, params)
        a, b = (np.frombuffer(base64.b64decode(r["codes_b64"]), np.int16) for r in (res, gold))
        out["golden_match"] = bool(a.shape == b.shape and np.array_equal(a, b))
    return out


# ---------------------------------------------------------------------------------------
# fidelity: one experiment of `neurram fidelity`
# ---------------------------------------------------------------------------------------
def fidelity(*, seed: int, params: dict, experiment: str, n_cells: int, iterations: int,
             tol: float, max_reversals: int, max_pulses: int, n_vectors: int, in_bits: int,
             out_bits: int, two_phase: bool, direction: str) -> dict:
    """``write_verify``: the programming experiment on ``n_cells`` cells with window
    ``+-tol`` and timeout ``max_reversals``; ``mvm``: one MVM-accuracy configuration on the
    64 x 64 benchmark matrix (the core's ``n_parallel_cores`` cores share the rails)."""
    from analog_models import fidelity as F

    from .spec import analog_params

    p = analog_params(params)
    if experiment == "write_verify":
        r = F.programming_experiment(p, n_cells=n_cells, seed=seed, iterations=iterations,
                                     tol=tol, max_reversals=max_reversals, max_pulses=max_pulses)
        return {k: r[k] for k in ("mean_pulses", "success_rate", "std_mean", "std_max",
                                  "mean_shift", "std_reduction", "std_after")}
    bench = F.MVMBench(p, seed=seed, n_vectors=n_vectors)
    r = bench.run(in_bits, out_bits, two_phase=two_phase, backward=direction == "backward",
                  parallel_cores=p.n_parallel_cores)
    return {k: r[k] for k in ("rmse", "rmse_vs_target", "vread_code", "vdecr_code", "gain")}


# ---------------------------------------------------------------------------------------
# regress: shards of the cocotb regression
# ---------------------------------------------------------------------------------------
def _pytest(args: list[str], timeout_s: float | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    # xdist off: a shard is one process; the cluster is the parallelism.
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:xdist", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def plan_regress(args: dict) -> list[tuple[dict, dict]]:
    """Collect the selected tests (in the client) and deal them into ``shards`` shards.

    ``paths`` are relative to the repository (node ids are, so every worker's checkout
    runs the same tests)."""
    for p in args["paths"]:
        full = (REPO / p).resolve()
        if not full.is_relative_to(REPO) or not full.exists():
            raise ValueError(f"regress path {p!r} is not a path inside the repository {REPO}")
    r = _pytest(["--collect-only", "-q", "-m", args["marker"], *args["paths"]], timeout_s=300)
    ids = [ln.strip() for ln in r.stdout.splitlines() if "::" in ln and not ln.startswith(" ")]
    if r.returncode not in (0, 5) or not ids:
        tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"pytest selected no tests from {args['paths']} with "
                           f"-m {args['marker']!r}: {' | '.join(tail)}")
    n = min(args["shards"], len(ids))
    # Round-robin keeps each file's tests spread over the shards (the long ones too).
    return [({"shard": i}, {**args, "shard": i, "nodeids": ids[i::n]}) for i in range(n)]


@functools.cache
def cosim_build(n_cores: int = 1) -> dict:
    """The worker's Verilator build: made (or found in the worker's build cache) once per
    worker process and reused by every shard that runs there.

    Every call the sweep makes into :mod:`cosim.runner` is in this function, so a change
    of the runner's public API is one edit here.
    """
    from cosim import runner

    b = runner.build_core(n_cores)
    return {"build_dir": str(b.dir), "built_now": b.built_now, "build_s": b.elapsed_s,
            "build_root": str(runner.BUILD_ROOT)}


def regress(*, seed: int, paths: list[str], marker: str, shards: int, timeout_s: float,
            prebuild: int, shard: int, nodeids: list[str]) -> dict:
    """Run one shard (a list of pytest node ids) in one pytest process on this worker."""
    import tempfile

    t0 = time.perf_counter()
    build = cosim_build(prebuild) if prebuild else {"build_dir": None}
    build_s = time.perf_counter() - t0          # ~0 once this worker has its build
    with tempfile.TemporaryDirectory(prefix="neurram-shard-") as tmp:
        xml = Path(tmp) / "junit.xml"
        t1 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = _pytest(["-q", "-m", marker, f"--junitxml={xml}", *nodeids], timeout_s=timeout_s)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        pytest_s = time.perf_counter() - t1
        counts = _junit_counts(xml) if xml.exists() else {}
    # CPU of the shard's process tree (pytest and its simulators): with the wall time it
    # tells a shard slowed by sharing its core from one that does more work.
    cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out = {"tests": len(nodeids), "pytest_s": pytest_s, "cpu_s": cpu_s, "worker_build_s": build_s,
           "build_dir": build["build_dir"], "exit_code": r.returncode, **counts,
           "nodeids": nodeids}
    if r.returncode != 0:
        out["output_tail"] = (r.stdout + r.stderr)[-4000:]
        raise JobFailed(f"pytest exit code {r.returncode}: {counts.get('failed', '?')} failed, "
                        f"{counts.get('errors', '?')} errors in shard {shard}", out)
    return out


def _junit_counts(xml: Path) -> dict:
    suites = ET.parse(xml).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    tot = {"junit_tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    for s in suites:
        tot["junit_tests"] += int(s.get("tests", 0))
        tot["failed"] += int(s.get("failures", 0))
        tot["errors"] += int(s.get("errors", 0))
        tot["skipped"] += int(s.get("skipped", 0))
    tot["passed"] = tot["junit_tests"] - tot["failed"] - tot["errors"] - tot["skipped"]
    return tot


# ---------------------------------------------------------------------------------------
# probe: the engine's own test and benchmark job
# ---------------------------------------------------------------------------------------
def probe(*, seed: int, value: float, sleep_s: float, fail: bool, hold_dir: str) -> dict:
    """Returns ``value + seed``; optionally sleeps, raises, or holds at a rendezvous.

    ``hold_dir``: the job writes ``started-<value>-<seed>-<pid>`` there (so a test knows
    the job is running and in which process) and then waits for ``release``.
    """
    if hold_dir:
        from .store import atomic_write

        d = Path(hold_dir)
        # Atomic: whoever sees the file can read the pid from it.
        atomic_write(d / f"started-{value:g}-{seed}-{os.getpid()}", str(os.getpid()))
        while not (d / "release").exists():
            time.sleep(0.01)
    if sleep_s:
        time.sleep(sleep_s)
    if fail:
        raise ValueError(f"probe asked to fail (value={value!r}, seed={seed})")
    return {"value": value + seed}

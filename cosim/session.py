"""Run a firmware function against the cosimulated chip and get its result back.

``run_with_cosim("neurram.mvm_cli:job", {"rows": 64}, n_cores=1, seed=3)`` builds the chip
(cached), starts the simulator, and inside it calls ``job(transport, rows=64)`` in a
``cocotb.bridge`` thread with a :class:`cosim.transport.CosimTransport`; the function's
return value (anything JSON-able; numpy arrays and scalars are converted) comes back to the
caller. Used by ``neurram mvm --backend cosim`` and ``make demo``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np


def to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def resolve(entry: str):
    """``"package.module:function"`` -> the function."""
    import importlib

    if ":" not in entry:
        raise ValueError(f"entry must be 'module:function', got {entry!r}")
    mod, fn = entry.split(":", 1)
    obj = importlib.import_module(mod)
    for part in fn.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{entry!r} is not callable")
    return obj


def run_with_cosim(entry: str, kwargs: dict | None = None, n_cores: int = 1, seed: int = 0,
                   waves: bool = False, params: dict | None = None, sim_timeout_ms: float = 60_000.0):
    """Call ``entry(transport, **kwargs)`` against the cosimulated chip; return its result.

    Parameters
    ----------
    entry : str
        ``"module:function"``; the function takes the transport as first argument.
    kwargs : dict
        JSON-able keyword arguments for the function.
    n_cores : int
        Cores of the simulated chip (one build per value, cached).
    seed : int
        Seed of the analog models and of cocotb (same seed = same run).
    waves : bool
        Record an FST waveform (``dump.fst`` in the run directory, logged).
    params : dict, optional
        :class:`analog_models.params.AnalogParams` overrides (``{"ideal": true}`` for the
        ideal core).
    sim_timeout_ms : float
        Simulated-time limit of the whole job.
    """
    from cosim import runner

    resolve(entry)   # fail early, in the caller's process, on a bad entry
    build = runner.build_core(n_cores, waves=waves)
    runs = runner.BUILD_ROOT / "sessions"
    runs.mkdir(parents=True, exist_ok=True)
    tdir = Path(tempfile.mkdtemp(prefix="session-", dir=runs))
    job = {"entry": entry, "kwargs": to_jsonable(kwargs or {}), "seed": int(seed),
           "params": params or {}, "out": str(tdir / "result.json")}
    (tdir / "job.json").write_text(json.dumps(job))
    env = {"NEURRAM_SESSION": str(tdir / "job.json"),
           "NEURRAM_SESSION_TIMEOUT_MS": str(sim_timeout_ms)}
    out = tdir / "result.json"
    try:
        runner.run_cocotb("cosim.tb.session_tb", build, seed=seed, extra_env=env,
                          test_dir=tdir, waves=waves)
    except runner.CosimRunError as e:
        err = (tdir / "error.txt").read_text() if (tdir / "error.txt").exists() else str(e)
        raise RuntimeError(f"cosimulation job {entry} failed: {err} "
                           f"(log {tdir / runner.SIM_LOG})") from e
    if not out.exists():
        raise RuntimeError(f"cosimulation job {entry} left no result (log {tdir / runner.SIM_LOG})")
    return json.loads(out.read_text())["result"]

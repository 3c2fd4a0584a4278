"""Job kinds of ``neurram sweep``: name -> importable function + parameter schema.

A kind is data only (no imports of the code it runs), so a spec is checked against every
kind's schema in the client before anything is submitted, and the worker imports the
function by its ``"module:function"`` path when the job runs. Adding a kind is one entry::

    KINDS["net"] = Kind(
        entry="neurram.nets.sweep:evaluate",
        args={"network": Arg(str, "lenet"), "images": Arg(int, 1000, low=1)},
        metrics=("accuracy",), analog_params=True)

The function is called as ``fn(seed=..., params={...AnalogParams overrides...}, **args)``
(``params`` only when ``analog_params`` is true) and returns a dict; its scalar values are
the job's metrics (the table's columns), anything else goes into the job's JSON only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

_MISSING = object()


@dataclass(frozen=True)
class Arg:
    """One job argument: its type, default and allowed values.

    ``type`` is ``int``, ``float``, ``bool``, ``str`` or ``list`` (of strings);
    ``optional`` admits the TOML-less value None (only as a default: TOML has no null).
    """

    type: type
    default: object = _MISSING
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    optional: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def check(self, value) -> str | None:
        """None if ``value`` is allowed, else the reason it is not."""
        if value is None and self.optional:
            return None
        t = self.type
        if t is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif t is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, t)
        if not ok:
            what = {int: "an int", float: "a number", bool: "a bool", str: "a string",
                    list: "a list of strings"}[t]
            return f"must be {what}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        if self.low is not None and value < self.low:
            return f"must be >= {self.low}, got {value!r}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high}, got {value!r}"
        return None


@dataclass(frozen=True)
class Kind:
    """A job kind.

    entry : ``"module:function"`` run on a worker for each job.
    args : the function's keyword arguments (besides ``seed`` and ``params``).
    metrics : the metrics the summary shows by default (the first is plotted).
    analog_params : the job takes :class:`analog_models.params.AnalogParams` overrides, so
        every field and non-ideality switch of it (and ``ideal``) is a valid spec key.
    plan : optional ``"module:function"`` run in the client to turn one point of the
        grid into the argument dicts of its jobs (e.g. split a test list into shards).
    """

    entry: str
    args: dict[str, Arg] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    analog_params: bool = False
    plan: str | None = None
    help: str = ""


_BITS_IN = dict(low=1, high=8)
_BITS_OUT = dict(low=1, high=10)

KINDS: dict[str, Kind] = {
    "mvm": Kind(
        entry="neurram.sweeps.jobs:mvm",
        help="the job of `neurram mvm`: program a random matrix, run MVMs, RMSE vs W x",
        args={
            "backend": Arg(str, "model", choices=("model", "golden", "cosim"),
                           help="golden model (model = golden) or cocotb cosimulation"),
            "rows": Arg(int, 64, low=1), "cols": Arg(int, 64, low=1),
            "vectors": Arg(int, 100, low=1),
            "in_bits": Arg(int, 4, **_BITS_IN), "out_bits": Arg(int, 6, **_BITS_OUT),
            "direction": Arg(str, "forward", choices=("forward", "backward")),
            "two_phase": Arg(str, "auto", choices=("auto", "on", "off")),
            "program": Arg(str, "auto", choices=("auto", "write-verify", "backdoor")),
            "calibrate": Arg(bool, True),
            "n_cores": Arg(int, None, low=1, high=48, optional=True,
                           help="cores of the simulated chip (default: what the placement needs)"),
        },
        metrics=("rmse", "rmse_vs_quantised_inputs"), analog_params=True),
    "fidelity": Kind(
        entry="neurram.sweeps.jobs:fidelity",
        help="one experiment of `neurram fidelity` (write-verify population or MVM accuracy)",
        args={
            "experiment": Arg(str, "mvm", choices=("write_verify", "mvm")),
            # write_verify
            "n_cells": Arg(int, 20000, low=1), "iterations": Arg(int, 3, low=0),
            "tol": Arg(float, 1.0, low=1e-6, help="acceptance window +-tol (uS)"),
            "max_reversals": Arg(int, 30, low=0, help="timeout: polarity reversals"),
            "max_pulses": Arg(int, 100, low=1),
            # mvm
            "n_vectors": Arg(int, 1000, low=10),
            "in_bits": Arg(int, 4, **_BITS_IN), "out_bits": Arg(int, 6, **_BITS_OUT),
            "two_phase": Arg(bool, False),
            "direction": Arg(str, "forward", choices=("forward", "backward")),
        },
        metrics=("rmse", "mean_pulses", "success_rate"), analog_params=True),
    "regress": Kind(
        entry="neurram.sweeps.jobs:regress",
        plan="neurram.sweeps.jobs:plan_regress",
        help="one shard of the cocotb regression (pytest node ids), one build per worker",
        args={
            "paths": Arg(list, ["tests/cosim"], help="pytest paths, relative to the repo"),
            "marker": Arg(str, "cosim and not slow", help="pytest -m expression"),
            "shards": Arg(int, 4, low=1, help="shards the selected tests are split into"),
            "timeout_s": Arg(float, 1800.0, low=1.0, help="wall-time limit of one shard"),
            "prebuild": Arg(int, 1, low=0, high=48,
                            help="cores of the chip build each worker makes (or finds in its "
                                 "build cache) once, before its first shard; 0: none"),
        },
        metrics=("pytest_s", "cpu_s", "passed", "tests")),
    "net": Kind(
        entry="neurram.nets.sweep:evaluate",
        help="test accuracy of a trained CNN (neurram net) on one simulated chip instance",
        args={
            "data": Arg(str, "mnist", choices=("mnist", "digits")),
            "train_noise": Arg(float, 0.2, low=0.0, high=1.0,
                               help="weight noise of noise-resilient training (checkpoint cache)"),
            "epochs": Arg(int, None, low=1, optional=True, help="training epochs (default: TrainConfig's)"),
            "test_images": Arg(int, None, low=1, optional=True, help="default: the whole test split"),
            "calibrate": Arg(bool, True, help="calibrate every layer on training activations"),
            "shared_vread": Arg(bool, True, help="one Vread for cores started together"),
            "program": Arg(str, "write-verify", choices=("write-verify", "backdoor")),
            "out_bits": Arg(int, 6, **_BITS_OUT),
            "out": Arg(str, "build/mnist", help="experiment directory (its caches are shared)"),
        },
        metrics=("acc", "acc_uncalibrated", "acc_software", "cores_used"), analog_params=True),
    "rbm": Kind(
        entry="neurram.rbm.sweep:recover",
        help="RBM image recovery (neurram rbm) on one simulated chip instance",
        args={
            "dataset": Arg(str, "mnist", choices=("mnist", "digits")),
            # neurram.rbm.model.CORRUPTIONS (a test keeps the two equal)
            "corruption": Arg(str, "noise20", choices=("noise20", "occlude_bottom")),
            "hidden": Arg(int, 120, low=1),
            "epochs": Arg(int, 30, low=1),
            "lr": Arg(float, 0.01, low=0.0),
            "train_noise": Arg(float, 0.35, low=0.0, high=2.0,
                               help="weight noise of noise-resilient training, x wmax (cache key)"),
            "train_seed": Arg(int, 0, low=0, help="training seed (cache key)"),
            "test_images": Arg(int, 200, low=1),
            "steps": Arg(int, 10, low=1, help="Gibbs steps"),
            "visible_mode": Arg(str, "3bit", choices=("3bit", "stochastic")),
            "program": Arg(str, "write-verify", choices=("write-verify", "backdoor")),
            "lfsr_seed": Arg(int, 1, low=0),
            "cache": Arg(str, "build/rbm/cache", help="trained-model cache (shared with neurram rbm)"),
        },
        metrics=("l2_reduction", "l2_reduction_software", "l2_error", "cores_used"),
        analog_params=True),
    "probe": Kind(
        entry="neurram.sweeps.jobs:probe",
        help="a trivial job exercising the engine (benchmark, failure handling)",
        args={
            "value": Arg(float, 0.0), "sleep_s": Arg(float, 0.0, low=0.0),
            "fail": Arg(bool, False, help="raise ValueError"),
            "hold_dir": Arg(str, "", help="write <dir>/started-<value>-<pid> on start, then "
                                          "wait until <dir>/release exists"),
        },
        metrics=("value",)),
}


def analog_fields() -> dict[str, Arg]:
    """Every AnalogParams field (and ``ideal``) as an :class:`Arg` (imported lazily)."""
    from analog_models.params import AnalogParams, NONIDEALITY_SWITCHES

    out = {"ideal": Arg(bool, False, help="every non-ideality switch off first")}
    for f in dataclasses.fields(AnalogParams):
        if f.name in NONIDEALITY_SWITCHES:
            out[f.name] = Arg(bool, f.default)
        elif f.name == "n_parallel_cores":
            out[f.name] = Arg(int, f.default, low=1, high=48)
        else:
            out[f.name] = Arg(float, f.default)
    return out

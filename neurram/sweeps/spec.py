"""Sweep specs: a TOML file naming a job kind, fixed arguments, axes and seeds.

::

    name = "mvm_rdriver_cores"      # optional: default the file's stem
    kind = "mvm"                    # a key of neurram.sweeps.registry.KINDS
    seeds = 10                      # Monte-Carlo seeds 0..9, or a list [3, 7, 11]
    metric = "rmse"                 # summarised and plotted (default: the kind's first)
    sequential = "shards"           # optional: run the jobs one value of this axis at a time

    [fixed]                         # the same for every job
    vectors = 50

    [axes]                          # the grid: cartesian product, first axis = plot x axis
    r_driver = [2.0, 20.0, 50.0]
    n_parallel_cores = [1, 4, 8]

A key in ``[fixed]`` or ``[axes]`` is a job argument of the kind or, for kinds that take
analog parameters, any :class:`analog_models.params.AnalogParams` field or non-ideality
switch (plus ``ideal``). Everything is checked before anything runs; a problem raises one
:class:`SpecError` naming the key and its line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .registry import KINDS, Arg, Kind, analog_fields

TOP_KEYS = ("name", "kind", "seeds", "metric", "sequential", "description", "fixed", "axes")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SpecError(ValueError):
    """A bad spec: ``key`` (dotted) and ``line`` (1-based, or None) locate it."""

    def __init__(self, path: Path | str, key: str | None, line: int | None, message: str):
        self.path, self.key, self.line = str(path), key, line
        where = f"{self.path}" + (f":{line}" if line else "")
        super().__init__(f"{where}: {'[' + key + '] ' if key else ''}{message}")


@dataclass
class Job:
    """One job: a pure function of ``kind``, ``args``, ``params`` and ``seed``."""

    kind: str
    seed: int
    point: dict              # axis name -> value (the table's parameter columns)
    args: dict               # every argument of the kind's function, defaults filled in
    params: dict             # AnalogParams overrides (kinds with analog_params)
    group: object = None     # value of the spec's ``sequential`` axis
    key: str = ""

    def __post_init__(self):
        if not self.key:
            self.key = job_key(self.kind, self.args, self.params, self.seed)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Spec:
    path: Path
    name: str
    kind: str
    seeds: list[int]
    metric: str
    axes: list[tuple[str, list]]
    fixed: dict
    sequential: str | None = None
    description: str = ""
    jobs: list[Job] = field(default_factory=list)

    @property
    def axis_names(self) -> list[str]:
        return [a for a, _ in self.axes]


def job_key(kind: str, args: dict, params: dict, seed: int) -> str:
    """Hash of everything a job's result depends on (its resume key)."""
    blob = json.dumps({"kind": kind, "args": args, "params": params, "seed": seed},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------
def locate(text: str, dotted: str) -> int | None:
    """Line (1-based) where the key ``a.b.c`` is set in TOML ``text``, else its table's."""
    want = tuple(dotted.split("."))
    table: tuple = ()
    header_line = None
    header_re = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    key_re = re.compile(r"^\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=")
    for n, line in enumerate(text.splitlines(), 1):
        m = header_re.match(line)
        if m:
            table = tuple(_split_key(m.group(1)))
            if table == want[: len(table)] and header_line is None and table:
                header_line = n
            if table == want:
                return n
            continue
        m = key_re.match(line)
        if m and table + tuple(_split_key(m.group(1))) == want:
            return n
    return header_line


def _split_key(k: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", k)]


def load(path: str | Path, plan: bool = True) -> Spec:
    """Parse, check and expand a spec file into its jobs (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(path, None, None, f"cannot read the spec: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(path, None, None, f"not valid TOML: {e}") from None
    return from_dict(raw, path, text, plan=plan)


def from_dict(raw: dict, path: Path | str = "<spec>", text: str = "", plan: bool = True) -> Spec:
    path = Path(path)

    def fail(key, msg):
        raise SpecError(path, key, locate(text, key) if (text and key) else None, msg)

    for k in raw:
        if k not in TOP_KEYS:
            fail(k, f"unknown key; a spec has {', '.join(TOP_KEYS)}")
    if "kind" not in raw:
        fail(None, f"missing 'kind' (one of {', '.join(KINDS)})")
    kind_name = raw["kind"]
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        fail("kind", f"unknown job kind {kind_name!r}; known kinds: {', '.join(KINDS)}")
    kind = KINDS[kind_name]
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        fail("name", f"must be a file-name-safe string, got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        fail("description", f"must be a string, got {description!r}")

    seeds = raw.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list)):
        fail("seeds", f"must be a count or a list of integers, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            fail("seeds", f"the seed count must be >= 1, got {seeds}")
        seeds = list(range(seeds))
    if not seeds:
        fail("seeds", "empty list of seeds")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        fail("seeds", f"seeds must be non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        fail("seeds", f"repeated seeds in {seeds!r}")

    schema: dict[str, Arg] = dict(kind.args)
    pschema = analog_fields() if kind.analog_params else {}
    fixed, axes = raw.get("fixed", {}), raw.get("axes", {})
    for sec, val in (("fixed", fixed), ("axes", axes)):
        if not isinstance(val, dict):
            fail(sec, f"must be a table ([{sec}]), got {val!r}")

    def check(key, name, value):
        arg = schema.get(name) or pschema.get(name)
        if arg is None:
            import difflib

            close = difflib.get_close_matches(name, list(schema) + list(pschema), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = sorted(schema) + (["<any AnalogParams field or switch>", "ideal"] if pschema else [])
            fail(key, f"unknown field {name!r} for kind {kind_name!r}; {hint}known: {', '.join(known)}")
        why = arg.check(value)
        if why:
            fail(key, why)

    for k, v in fixed.items():
        check(f"fixed.{k}", k, v)
    axis_list = []
    for k, vals in axes.items():
        if k in fixed:
            fail(f"axes.{k}", f"{k!r} is both fixed and an axis")
        if not isinstance(vals, list):
            fail(f"axes.{k}", f"an axis is a list of values, got {vals!r}")
        if not vals:
            fail(f"axes.{k}", "empty axis")
        for v in vals:
            check(f"axes.{k}", k, v)
        if len({json.dumps(v) for v in vals}) != len(vals):
            fail(f"axes.{k}", f"repeated values in {vals!r}")
        axis_list.append((k, vals))
    for n, a in schema.items():
        if a.required and n not in fixed and n not in axes:
            fail("fixed", f"kind {kind_name!r} needs {n!r}")

    metric = raw.get("metric", kind.metrics[0] if kind.metrics else None)
    if not isinstance(metric, str):
        fail("metric", f"must be a string, got {metric!r}")
    sequential = raw.get("sequential")
    if sequential is not None and sequential not in axes:
        fail("sequential", f"must name an axis ({', '.join(axes) or 'none defined'}), got {sequential!r}")

    spec = Spec(path=path, name=name, kind=kind_name, seeds=list(seeds), metric=metric,
                axes=axis_list, fixed=dict(fixed), sequential=sequential, description=description)
    spec.jobs = expand(spec, kind, schema, pschema, fail, plan=plan)
    return spec


def expand(spec: Spec, kind: Kind, schema, pschema, fail, plan: bool = True) -> list[Job]:
    """Every job of the spec, in grid order (first axis slowest), seeds innermost."""
    names = spec.axis_names
    from cosim.session import resolve

    planner = resolve(kind.plan) if (plan and kind.plan) else None
    jobs: list[Job] = []
    for combo in itertools.product(*[vals for _, vals in spec.axes]):
        point = dict(zip(names, combo))
        values = {**spec.fixed, **point}
        args = {n: a.default for n, a in schema.items()}
        params = {}
        for k, v in values.items():
            (args if k in schema else params)[k] = v
        if pschema:
            try:
                analog_params(params)
            except (TypeError, ValueError) as e:
                # The key the error names (AnalogParams messages start with the field).
                named = [n for n in params if re.search(rf"\b{n}\b", str(e))] or list(params)
                bad = next((f"axes.{n}" for n in named if n in point), None) or next(
                    (f"fixed.{n}" for n in named if n in spec.fixed), None)
                fail(bad, f"invalid analog parameters {params!r}: {e}")
        variants = [({}, args)]
        if planner is not None:
            try:
                variants = planner(dict(args))
            except (ValueError, RuntimeError) as e:
                fail("fixed", f"cannot plan the {spec.kind!r} jobs for {point!r}: {e}")
        for extra, a in variants:
            for seed in spec.seeds:
                jobs.append(Job(kind=spec.kind, seed=seed, point={**point, **extra}, args=a,
                                params=dict(params),
                                group=point.get(spec.sequential) if spec.sequential else None))
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        fail("axes", "two grid points give the same job (an axis repeats a fixed default?)")
    return jobs


def analog_params(overrides: dict):
    """AnalogParams from spec overrides (``ideal = true``: every switch off first)."""
    from analog_models.params import AnalogParams

    o = dict(overrides)
    return AnalogParams.ideal(**o) if o.pop("ideal", False) else AnalogParams(**o)

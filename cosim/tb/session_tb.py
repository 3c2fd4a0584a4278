"""cocotb side of :func:`cosim.session.run_with_cosim`: one test that runs a firmware job."""

from __future__ import annotations

import json
import os
import traceback

import cocotb
from cocotb.task import bridge

from cosim.harness import ChipTB
from cosim.session import resolve, to_jsonable
from cosim.transport import CosimTransport

_TIMEOUT_MS = float(os.environ.get("NEURRAM_SESSION_TIMEOUT_MS", "60000"))


def make_params(spec: dict):
    """AnalogParams from a JSON spec: ``{"ideal": bool, **overrides}``."""
    if not spec:
        return None
    from analog_models.params import AnalogParams

    spec = dict(spec)
    ideal = spec.pop("ideal", False)
    return AnalogParams.ideal(**spec) if ideal else AnalogParams(**spec)


@cocotb.test(timeout_time=_TIMEOUT_MS, timeout_unit="ms")
async def run_entry(dut):
    with open(os.environ["NEURRAM_SESSION"], encoding="utf-8") as f:
        job = json.load(f)
    dut._log.info("session: %s seed %d", job["entry"], job["seed"])
    tb = ChipTB(dut, params=make_params(job["params"]), seed=job["seed"])
    await tb.init()
    fn = resolve(job["entry"])
    transport = CosimTransport(tb)
    out_dir = os.path.dirname(job["out"])
    try:
        result = await bridge(fn)(transport, **job["kwargs"])
    except BaseException:
        with open(os.path.join(out_dir, "error.txt"), "w") as fh:
            fh.write(traceback.format_exc())
        raise
    tb.check_adapters()
    with open(job["out"], "w") as fh:
        json.dump({"result": to_jsonable(result), "wakeups": tb.wakes.n,
                   "frames": transport.frames, "cycles": tb.cycles()}, fh)

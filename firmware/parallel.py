"""Rules for cores started together: one set of bias voltages for the whole chip.

The read and noise voltages of every core come from one set of bias sources (board DACs
and the shared read rails; Methods, "multi-core parallel MVM": the read voltage cannot
be optimised for each core separately). Cores that run an MVM together must therefore
use the same Vread code, and those with stochastic activation the same Vnoise. Vdecr is
not a shared bias: each core's neurons take their decrement levels from the core's own
DAC (SPEC §4: one DAC shared by the neurons of the core; the VDECR register is per core).
:func:`check_shared_bias` refuses a parallel start that asks for per-core values, and
:func:`can_share_bias` tells a scheduler which jobs may be grouped.
"""

from __future__ import annotations

from collections.abc import Mapping


class SharedBiasError(ValueError):
    """Cores started together asked for different bias voltages."""


def _biases(cfg) -> dict[str, int]:
    out = {"vread": int(cfg.vread)}
    if int(cfg.noise_steps) > 0:
        out["vnoise"] = int(cfg.vnoise)
    return out


def can_share_bias(a, b) -> bool:
    """Whether configurations ``a`` and ``b`` may run on cores started together."""
    ba, bb = _biases(a), _biases(b)
    return all(ba[k] == bb[k] for k in ba.keys() & bb.keys())


def check_shared_bias(configs: Mapping[int, object]) -> None:
    """Raise :class:`SharedBiasError` unless every core's configuration uses the same bias
    codes (``vread``; ``vnoise`` among the stochastic ones).

    Parameters
    ----------
    configs : mapping core -> configuration with ``vread``, ``vdecr``, ``noise_steps``
        and ``vnoise`` (e.g. :class:`firmware.midlevel.MvmConfig`)
    """
    if not isinstance(configs, Mapping):
        raise TypeError(f"configs must map core -> configuration, not {configs!r}")
    per_core = {core: _biases(cfg) for core, cfg in configs.items()}
    for name in ("vread", "vnoise"):
        values = {core: b[name] for core, b in per_core.items() if name in b}
        if len(set(values.values())) > 1:
            raise SharedBiasError(
                f"cores started together share one {name} bias, but the configurations ask for "
                f"{', '.join(f'core {c}: {v}' for c, v in sorted(values.items()))}; "
                f"choose one {name} for the parallel run (or run the cores one after another)")

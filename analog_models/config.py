"""What the analog models need of the chip contract: configuration checks, the MVM step
schedule of the vectorised path, input drive and output codes.

The configuration type and its rules are the contract's (:mod:`rtl.contract.config`):
:func:`CoreConfig` builds one in MVM mode (the models only run MVM / neuron-test
sequences), :func:`check_config` refuses what the controller would refuse. :func:`steps`
is the controller's MVM event sequence as compact tuples, which the vectorised path runs
on a whole batch; the event path answers the real events of ``rtl.controller_model``.
"""

from __future__ import annotations

import numpy as np

from rtl.contract import config as _contract
from rtl.contract.config import (decode_outputs, entry_sign_magnitude, line_sign_magnitude,
                                 output_codes)
from rtl.contract.config import levels_from_signs as signs_to_levels
from rtl.contract.constants import ENTRY_BITS, N_LINES
from rtl.contract.corelet import NEURON_SL, SL_NEURON
from rtl.contract.registers import Dir, Mode
from rtl.contract.registers import Dir as Direction  # noqa: F401 - the name the models use

__all__ = ["CoreConfig", "NEURON_SL", "SL_NEURON", "check_config", "check_entries", "code_value",
           "entry_sign_magnitude", "lfsr_bits", "line_sign_magnitude", "magnitude_bits", "output_codes", "plane_signs",
           "route", "row_mask", "segments", "signed", "signs_to_levels", "steps"]


def CoreConfig(**fields) -> _contract.CoreConfig:   # noqa: N802 - the type's name, kept for callers
    """A :class:`rtl.contract.CoreConfig` in MVM mode unless ``mode`` is given."""
    return _contract.CoreConfig.mvm(**fields)


def check_config(cfg: _contract.CoreConfig) -> _contract.CoreConfig:
    """Raise ``ValueError`` unless the controller accepts ``cfg`` for an MVM / neuron test.

    The check is the controller's (:meth:`rtl.contract.CoreConfig.validate`); the models
    run neither programming through this path nor the unused direction code 3.
    """
    if not isinstance(cfg, _contract.CoreConfig):
        raise TypeError(f"cfg must be an rtl.contract.CoreConfig, not {type(cfg).__name__}")
    if cfg.mode not in (Mode.NEURON_TEST, Mode.MVM):
        raise ValueError(f"mode must be NEURON_TEST (2) or MVM (3) for the analog models, "
                         f"got {cfg.mode!r}")
    if cfg.dir not in (Dir.FWD, Dir.BWD, Dir.REC):
        raise ValueError(f"dir must be 0..2 (FWD, BWD, REC), got {cfg.dir!r}")
    return cfg.check()


def signed(cfg) -> bool:
    return cfg.signed


def magnitude_bits(cfg) -> int:
    """Magnitude bits of the input (a 1-bit input is unsigned binary)."""
    return cfg.mag_bits


def segments(cfg) -> list[_contract.Segment]:
    """The conversions of one MVM, MSB first (:meth:`rtl.contract.CoreConfig.segments`)."""
    return cfg.segments()


def check_entries(x, name="inputs") -> np.ndarray:
    """Validate register-file entries: integer array (..., 256) of 10-bit values."""
    a = np.asarray(x)
    top = (1 << ENTRY_BITS) - 1
    if a.ndim == 0 or a.shape[-1] != N_LINES:
        raise ValueError(f"{name} must have a last axis of length {N_LINES}, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must be integer codes 0..{top} (no NaN/inf/fractions)")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{name} must be integer codes 0..{top}, got dtype {a.dtype}")
    if a.dtype.kind == "b" or a.dtype.itemsize > 2:
        a = a.astype(np.int64, copy=False)    # (16-bit entries, e.g. a batch of register images, stay)
    if a.size and (a.min() < 0 or a.max() > top):
        raise ValueError(f"{name} must be within 0..{top} ({ENTRY_BITS}-bit entries), "
                         f"got [{a.min()}, {a.max()}]")
    return a


def plane_signs(entries: np.ndarray, cfg, plane: int) -> np.ndarray:
    """Ternary drive (-1, 0, +1) of every input line for one magnitude bit-plane."""
    sgn, mag = line_sign_magnitude(entries, cfg)
    return (((mag >> plane) & 1) * sgn).astype(np.int8)


def row_mask(cfg) -> np.ndarray:
    """WLs pulsed (:meth:`rtl.contract.CoreConfig.wl_rows`)."""
    return cfg.wl_rows()


def steps(cfg) -> list[tuple]:
    """The controller's event sequence for one MVM as compact tuples (docs/analog_bus.md).

    Kinds: ("RESET",), ("WL", seg_index, plane), ("SAMPLE",), ("INTEG",), ("NOISE", i),
    ("COMPARE",), ("LATCH",), ("WR", seg_index, bit), ("DECR", vdecr_code, decr_step).
    """
    out: list[tuple] = []
    for si, seg in enumerate(cfg.segments()):
        out.append(("RESET",))
        for q in range(seg.planes):
            out.append(("WL", si, seg.base + q))
            out += [("SAMPLE",), ("INTEG",)] * (2 ** q)
        if cfg.stoch:
            out += [("NOISE", i) for i in range(int(cfg.noise_steps))]
        out += [("COMPARE",), ("LATCH",), ("WR", si, 0)]
        for c in range(1, seg.out_bits):
            out += [("DECR", int(cfg.vdecr), c - 1), ("INTEG",), ("COMPARE",), ("LATCH",),
                    ("WR", si, c)]
    return out


def lfsr_bits(seed_a: int, seed_b: int, n_steps: int) -> np.ndarray:
    """Neuron-indexed noise bits (n_steps, 256) after an LFSR load, from the RTL's golden
    model (:func:`rtl.lfsr_model.generate`), so the vectorised path injects the chip's bits."""
    from rtl.lfsr_model import generate
    return generate(int(seed_a), int(seed_b), int(n_steps)).astype(bool)


def route(codes_by_neuron: np.ndarray, cfg, seg_index: int = 0) -> np.ndarray:
    """Reorder neuron-indexed codes (B, 256) into the entry order of the segment's
    destination file (:meth:`rtl.contract.CoreConfig.segments`): through the SL switch
    (entry ``NEURON_SL[k]`` <- neuron ``k``) when it is the SL file."""
    if cfg.segments()[seg_index].dest == _contract.SL_FILE:
        return codes_by_neuron[:, SL_NEURON]      # SL entry j holds neuron sl^-1(j)
    return codes_by_neuron


def code_value(codes, out_bits: int, act: int = 0) -> np.ndarray:
    """Signed value in LSB units of register-file codes
    (:func:`rtl.contract.decode_outputs`)."""
    return decode_outputs(codes, int(out_bits), act)

"""Core configuration, input encoding, the controller's step sequence and output codes.

:class:`CoreConfig` is ``rtl.controller.CoreConfig`` with an MVM default mode; any object
with these attributes can be passed to :meth:`analog_models.CoreModel.mvm` (duck typing).

:func:`steps` is the MVM/neuron-test sequence of docs/analog_bus.md as compact tuples;
the vectorised path runs it on a whole batch and :func:`events` turns it into
:class:`rtl.analog_bus.AnalogEvent` objects for one vector (the event path of the
tests, until ``rtl.controller`` produces the real sequence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtl.controller import CoreConfig as ControllerConfig
from rtl.analog_bus import (N_LINES, Activation, AnalogEvent, DecrMode, Direction,
                            EventKind, Level, Mode, neuron_sl)

# SL entry written by neuron k, and its inverse (neuron on SL s).
NEURON_SL = np.array([neuron_sl(k) for k in range(N_LINES)])
SL_NEURON = np.argsort(NEURON_SL)


@dataclass
class CoreConfig(ControllerConfig):
    """The controller's register fields (``rtl.controller.CoreConfig``), defaulting to MVM mode.

    The analog models only ever run MVM / neuron-test sequences, so the mode defaults to
    MVM instead of the register reset value IDLE; every field name is the controller's.
    """

    mode: int = int(Mode.MVM)


def _int_in(cfg, name, lo, hi):
    v = getattr(cfg, name)
    if isinstance(v, (bool, np.bool_)) and name not in ("stoch", "diff_in", "in_signed", "two_phase"):
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}") from None
    if iv != v or not lo <= iv <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    return iv


def check_config(cfg) -> None:
    """Raise ``ValueError`` naming the field and its allowed range if ``cfg`` is invalid."""
    _int_in(cfg, "mode", 2, 3)
    _int_in(cfg, "dir", 0, 2)
    _int_in(cfg, "act", 0, 3)
    _int_in(cfg, "in_bits", 1, 8)
    _int_in(cfg, "out_bits", 1, 10)
    _int_in(cfg, "out_bits_lsb", 1, 10)
    _int_in(cfg, "n_rows", 1, 256)
    _int_in(cfg, "vread", 0, 255)
    _int_in(cfg, "vdecr", 0, 4095)
    _int_in(cfg, "wl_ns", 1, 10)
    _int_in(cfg, "noise_steps", 0, 255)
    _int_in(cfg, "vnoise", 0, 255)
    _int_in(cfg, "seed_a", 0, 0xFFFF)
    _int_in(cfg, "seed_b", 0, 0xFFFF)
    if cfg.two_phase:
        m = magnitude_bits(cfg)
        _int_in(cfg, "split", 1, max(1, m - 1))
        if not 1 <= int(cfg.split) < m:
            raise ValueError(f"split must be in 1..{m - 1} (magnitude bits - 1) for two-phase, "
                             f"got {cfg.split!r}")


def signed(cfg) -> bool:
    return bool(cfg.in_signed) and int(cfg.in_bits) > 1


def magnitude_bits(cfg) -> int:
    """Magnitude bits of the input (a 1-bit input is unsigned binary)."""
    n = int(cfg.in_bits)
    return n - 1 if signed(cfg) else n


def segments(cfg) -> list[tuple[int, int, int]]:
    """(first plane, number of planes, out_bits) of each converted segment, MSB first."""
    m = magnitude_bits(cfg)
    if cfg.two_phase:
        s = int(cfg.split)
        return [(s, m - s, int(cfg.out_bits)), (0, s, int(cfg.out_bits_lsb))]
    return [(0, m, int(cfg.out_bits))]


def check_entries(x, name="inputs") -> np.ndarray:
    """Validate register-file entries: integer array (..., 256) of 10-bit values."""
    a = np.asarray(x)
    if a.ndim == 0 or a.shape[-1] != N_LINES:
        raise ValueError(f"{name} must have a last axis of length 256, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must be integer codes 0..1023 (no NaN/inf/fractions)")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{name} must be integer codes 0..1023, got dtype {a.dtype}")
    if a.dtype.kind == "b" or a.dtype.itemsize > 2:
        a = a.astype(np.int64)    # (16-bit entries, e.g. a batch of register images, stay)
    if a.size and (a.min() < 0 or a.max() > 1023):
        raise ValueError(f"{name} must be within 0..1023 (10-bit entries), "
                         f"got [{a.min()}, {a.max()}]")
    return a


def plane_signs(entries: np.ndarray, cfg, plane: int) -> np.ndarray:
    """Ternary drive (-1, 0, +1) of every input line for one magnitude bit-plane.

    ``entries`` is (B, 256) in the order of the driven file (BL file for forward and
    recurrent, SL file for backward). Differential input (``diff_in``, as the RTL applies
    it in every direction): line 2i carries entry 2i, line 2i+1 the opposite polarity of
    the same entry. Every line is driven from its entry, also rows whose WL stays off.
    """
    sgn, mag = line_sign_magnitude(entries, cfg)
    return (((mag >> plane) & 1) * sgn).astype(np.int8)


def line_sign_magnitude(entries: np.ndarray, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Per input line: polarity (+1/-1, int8) and magnitude bits (int16), with the
    differential pairing applied."""
    e = np.asarray(entries)
    if cfg.diff_in:
        e = np.repeat(e[..., 0::2], 2, axis=-1)
    sgn, mag = entry_sign_magnitude(e, cfg)
    if cfg.diff_in:
        sgn[..., 1::2] *= -1
    return sgn, mag


def entry_sign_magnitude(entries: np.ndarray, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Per register-file entry: polarity (+1/-1, int8) and magnitude bits (int16), as
    the entry drives its own line (line ``2i`` of a differential pair)."""
    e = np.asarray(entries)
    n = int(cfg.in_bits)
    if signed(cfg):
        sgn = ((((e >> (n - 1)) & 1) << 1) - 1).astype(np.int8)
        mag = (e & ((1 << (n - 1)) - 1)).astype(np.int16)
    else:
        sgn = np.ones(e.shape, dtype=np.int8)
        mag = (e & ((1 << n) - 1)).astype(np.int16)
    return sgn, mag


def signs_to_levels(d: np.ndarray) -> np.ndarray:
    """Ternary drive -> :class:`Level` codes."""
    return np.choose(d + 1, [int(Level.VREF_N), int(Level.VREF), int(Level.VREF_P)]).astype(np.uint8)


def row_mask(cfg) -> np.ndarray:
    """WLs pulsed: forward/recurrent rows 0..n_rows-1, backward all rows."""
    m = np.zeros(N_LINES, dtype=bool)
    if int(cfg.mode) == int(Mode.NEURON_TEST):
        return m
    if int(cfg.dir) == int(Direction.BWD):
        m[:] = True
    else:
        m[: int(cfg.n_rows)] = True
    return m


def steps(cfg) -> list[tuple]:
    """The controller's event sequence for one MVM as compact tuples (docs/analog_bus.md).

    Kinds: ("RESET",), ("WL", seg_index, plane), ("SAMPLE",), ("INTEG",), ("NOISE", i),
    ("COMPARE",), ("LATCH",), ("WR", seg_index, bit), ("DECR", vdecr_code).
    """
    out: list[tuple] = []
    for si, (first, n_planes, k) in enumerate(segments(cfg)):
        out.append(("RESET",))
        for q in range(n_planes):
            out.append(("WL", si, first + q))
            out += [("SAMPLE",), ("INTEG",)] * (2 ** q)
        if cfg.stoch:
            out += [("NOISE", i) for i in range(int(cfg.noise_steps))]
        out += [("COMPARE",), ("LATCH",), ("WR", si, 0)]
        for c in range(1, k):
            out += [("DECR", int(cfg.vdecr) >> (c - 1)), ("INTEG",), ("COMPARE",), ("LATCH",),
                    ("WR", si, c)]
    return out


def lfsr_bits(seed_a: int, seed_b: int, n_steps: int) -> np.ndarray:
    """Neuron-indexed noise bits (n_steps, 256) after an LFSR load, from the RTL's golden
    model (:func:`rtl.lfsr.generate`), so the vectorised path injects the chip's bits."""
    from rtl.lfsr import generate
    return generate(int(seed_a), int(seed_b), int(n_steps)).astype(bool)


def output_codes(bits: np.ndarray, act: int) -> np.ndarray:
    """Register-file codes from the comparator bits of one conversion.

    ``bits`` is (B, k, 256) bool, comparison ``c`` of every neuron (c = 0 the sign).
    Implements docs/architecture.md §5: NONE sign-magnitude (magnitudes inverted when
    the sign is 0), RELU zero when negative, SIGMOID the raw comparator bits (offset
    binary), TANH the two's complement (offset binary with its MSB flipped).
    """
    b = bits.astype(np.int16)
    k = b.shape[1]
    s = b[:, 0, :]
    raw = np.zeros_like(s)
    for c in range(1, k):
        raw <<= 1
        raw |= b[:, c, :]
    full = np.int16((1 << (k - 1)) - 1)
    msb = np.int16(1 << (k - 1)) if k > 1 else np.int16(1)
    act = int(act)
    if act == int(Activation.SIGMOID):
        return ((s << (k - 1)) | raw).astype(np.int64)
    if act == int(Activation.TANH):
        return (((s << (k - 1)) | raw) ^ msb).astype(np.int64)
    mag = np.where(s == 1, raw, full & ~raw)
    code = (s << (k - 1)) | mag
    if act == int(Activation.RELU):
        code = np.where(s == 1, code, 0)
    return code.astype(np.int64)


def route(codes_by_neuron: np.ndarray, cfg, seg_index: int = 0) -> np.ndarray:
    """Reorder neuron-indexed codes (B, 256) into the destination file's entry order.

    Destination (architecture §5): forward MSB/only segment -> SL file, backward -> BL,
    recurrent -> BL; a two-phase LSB segment goes to the other file.
    """
    d = int(cfg.dir)
    to_sl = d == int(Direction.FWD)
    if cfg.two_phase and seg_index == 1:
        to_sl = d == int(Direction.BWD)
    elif d == int(Direction.REC) and cfg.two_phase:
        to_sl = True
    if to_sl:
        return codes_by_neuron[:, SL_NEURON]      # SL entry j holds neuron sl^-1(j)
    return codes_by_neuron


def code_value(codes, out_bits: int, act: int = 0) -> np.ndarray:
    """Signed value in LSB units of register-file codes: ``(2 sign - 1)(mag + 1/2)``.

    Valid for NONE, SIGMOID and TANH codes (RELU: negative results read as 0).
    """
    c = np.asarray(codes, dtype=np.int64)
    k = int(out_bits)
    act = int(act)
    if act == int(Activation.SIGMOID):
        return c - (1 << (k - 1)) + 0.5
    if act == int(Activation.TANH):
        c = c ^ (1 << (k - 1))
        return c - (1 << (k - 1)) + 0.5
    s = (c >> (k - 1)) & 1
    mag = c & ((1 << (k - 1)) - 1)
    v = (2 * s - 1) * (mag + 0.5)
    if act == int(Activation.RELU):
        v = np.where(s == 1, v, 0.0)
    return v


def events(cfg, bl_entries, sl_entries, noise_bits: np.ndarray | None = None) -> list[AnalogEvent]:
    """The analog-bus events of one MVM (or neuron test) for one vector.

    A stand-in for ``rtl.controller``'s sequencing model, written from
    docs/analog_bus.md, used to drive the event path in tests.
    """
    check_config(cfg)
    bl = check_entries(bl_entries, "bl_entries")[None]
    sl = check_entries(sl_entries, "sl_entries")[None]
    d = int(cfg.dir)
    mode = int(cfg.mode)
    bwd = d == int(Direction.BWD)
    src = sl if bwd else bl
    wl = row_mask(cfg)
    st = steps(cfg)
    if noise_bits is None and cfg.stoch:
        noise_bits = lfsr_bits(int(cfg.seed_a), int(cfg.seed_b), int(cfg.noise_steps))
    out = []
    bl_drv = np.full(N_LINES, int(Level.VREF), dtype=np.uint8)
    sl_drv = np.full(N_LINES, int(Level.FLOAT), dtype=np.uint8)
    if bwd:
        bl_drv, sl_drv = sl_drv.copy(), bl_drv.copy()
    # MVM: neurons take the floating side; neuron test: the driven side itself.
    take_bl = bwd if mode == int(Mode.MVM) else not bwd
    sel = dict(bl_sel=take_bl, sl_sel=not take_bl)
    for s in st:
        kind = s[0]
        if kind == "RESET":
            out.append(AnalogEvent(EventKind.RESET, mode=mode))
        elif kind == "WL":
            lv = signs_to_levels(plane_signs(src, cfg, s[2]))[0]
            if bwd:
                sl_drv = lv
            else:
                bl_drv = lv
            out.append(AnalogEvent(EventKind.WL_PULSE, mode=mode, bl_drv=bl_drv.copy(),
                                   sl_drv=sl_drv.copy(), wl_en=wl.copy(), vread=int(cfg.vread),
                                   width_ns=float(cfg.wl_ns)))
        elif kind == "SAMPLE":
            out.append(AnalogEvent(EventKind.SAMPLE, mode=mode, bl_drv=bl_drv.copy(),
                                   sl_drv=sl_drv.copy(), vread=int(cfg.vread), **sel))
        elif kind == "INTEG":
            out.append(AnalogEvent(EventKind.INTEG))
        elif kind == "NOISE":
            out.append(AnalogEvent(EventKind.NOISE, noise=noise_bits[s[1]].copy(),
                                   vnoise=int(cfg.vnoise)))
        elif kind == "COMPARE":
            out.append(AnalogEvent(EventKind.COMPARE))
        elif kind == "LATCH":
            out.append(AnalogEvent(EventKind.LATCH))
        elif kind == "WR":
            out.append(AnalogEvent(EventKind.WR, **sel))
        elif kind == "DECR":
            out.append(AnalogEvent(EventKind.DECR, vdecr=s[1], decr_mode=int(DecrMode.LATCH)))
    return out

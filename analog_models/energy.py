"""Energy and latency of one MVM from its activity (SPEC §7, paper Extended Data Fig. 12).

Every switched capacitance costs ``C V_swing V_supply`` drawn from the supply (``C V²``
when the swing equals the supply), every amplifier costs its bias power for the time it
is on, and the cells dissipate ``G ΔV²`` during the WL pulse. Parameters (all in
:class:`EnergyParams`, with their origin):

* WL capacitance ``256 x 1.5 fF`` (access transistors) ``+ 48 fF`` (driver) ``+ 20%``
  inter-line coupling -- paper's simulation numbers; swing ``V_WL`` (thick-oxide gates).
* BL/SL capacitance and the read/reference levels from :class:`AnalogParams`.
* Neuron amplifier bias ``i_amp`` at ``vdd`` while sampling/integrating/comparing (choice:
  1 µA, a low-power single-stage OTA), Csample charging per sample/decrement.
* Noise injection: 121 fJ per neuron per step (paper, measured).
* Timing: WL pulse ``wl_ns``, sample 10 ns, integrate 240 ns, compare/latch/write 30 ns
  (paper: 100 MHz board clock; 240 ns integration).

The count of operations follows the controller's sequence (:func:`config.steps`), so
input energy grows as ``2^n`` with the input bits (super-linear) unless two-phase is
used, and output energy grows linearly with the output bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import config as C
from .params import AnalogParams


@dataclass
class EnergyParams:
    c_wl_cell: float = 1.5      #: fF per access transistor gate on a WL (paper)
    c_wl_driver: float = 48.0   #: fF of the WL driver (paper)
    wl_coupling: float = 0.2    #: extra WL capacitance from neighbouring lines (fraction)
    v_wl: float = 3.3           #: V, WL swing (thick-oxide I/O transistors)
    vdd: float = 1.8            #: V, neuron supply (choice)
    i_amp: float = 1.0e-6       #: A, neuron amplifier bias (choice)
    e_noise_step: float = 121e-15  #: J per neuron per noise-injection step (paper)
    e_digital_bit: float = 20e-15  #: J per latched/written output bit per neuron (choice)
    t_sample_ns: float = 10.0
    t_integ_ns: float = 240.0
    t_compare_ns: float = 30.0  #: compare + latch + write-back


def mvm_energy(cfg, n_in: int = 256, n_out: int = 256, params: AnalogParams | None = None,
               ep: EnergyParams | None = None, G: np.ndarray | None = None,
               input_density: float = 0.5) -> dict:
    """Energy (J), latency (s) and TOPS/W of one MVM of ``n_in`` inputs x ``n_out`` outputs.

    Parameters
    ----------
    cfg : CoreConfig-like (in_bits, out_bits, two_phase, split, out_bits_lsb, vread, wl_ns,
        stoch, noise_steps, ...)
    G : (n_in, n_out) conductances (µS) for the cell dissipation; default 10 µS everywhere
    input_density : fraction of input lines driven away from Vref in a bit-plane
    """
    C.check_config(cfg)
    if not 1 <= n_in <= 256 or not 1 <= n_out <= 256:
        raise ValueError(f"n_in and n_out must be in 1..256, got {n_in}, {n_out}")
    if not 0.0 <= input_density <= 1.0:
        raise ValueError(f"input_density must be in 0..1, got {input_density!r}")
    p = params or AnalogParams()
    ep = ep or EnergyParams()
    vread = p.vread_volts(int(cfg.vread))
    g_sum = float(np.sum(G)) if G is not None else 10.0 * n_in * n_out
    st = C.steps(cfg)
    n_wl = sum(1 for s in st if s[0] == "WL")
    n_sample = sum(1 for s in st if s[0] == "SAMPLE")
    n_decr = sum(1 for s in st if s[0] == "DECR")
    n_cmp = sum(1 for s in st if s[0] == "COMPARE")
    n_noise = sum(1 for s in st if s[0] == "NOISE")
    c_wl = (256 * ep.c_wl_cell + ep.c_wl_driver) * (1 + ep.wl_coupling) * 1e-15
    # WL switching: every enabled WL rises and falls once per pulse (C V² per cycle).
    e_wl = n_wl * n_in * c_wl * ep.v_wl**2
    # Input lines: a driven line swings by Vread from the rail Vref±Vread and back.
    c_in = p.c_bl * 1e-15
    e_in_lines = n_wl * input_density * n_in * c_in * vread * (p.vref + vread)
    # Cells: G ΔV² for the pulse width (ΔV ~ Vread on the driven fraction).
    e_cells = n_wl * input_density * g_sum * 1e-6 * vread**2 * float(cfg.wl_ns) * 1e-9
    # Neurons: amplifier on while integrating, Csample charging per sample/decrement.
    t_int = (n_sample + n_decr) * ep.t_integ_ns * 1e-9
    e_amp = n_out * ep.i_amp * ep.vdd * t_int
    e_cs = n_out * (n_sample + n_decr) * p.c_sample * 1e-15 * ep.vdd * p.vref
    e_cmp = n_out * n_cmp * (ep.i_amp * ep.vdd * ep.t_compare_ns * 1e-9 + ep.e_digital_bit)
    e_noise = n_out * n_noise * ep.e_noise_step
    input_stage = e_wl + e_in_lines + e_cells + n_out * n_sample * (
        ep.i_amp * ep.vdd * ep.t_integ_ns * 1e-9 + p.c_sample * 1e-15 * ep.vdd * p.vref)
    output_stage = (n_out * n_decr * (ep.i_amp * ep.vdd * ep.t_integ_ns * 1e-9
                                      + p.c_sample * 1e-15 * ep.vdd * p.vref) + e_cmp)
    total = e_wl + e_in_lines + e_cells + e_amp + e_cs + e_cmp + e_noise
    latency = (n_wl * float(cfg.wl_ns) + (n_sample + n_decr) * (ep.t_sample_ns + ep.t_integ_ns)
               + n_cmp * ep.t_compare_ns + n_noise * ep.t_sample_ns) * 1e-9
    ops = 2.0 * n_in * n_out
    return {
        "energy_J": total,
        "breakdown_J": {"wl_switching": e_wl, "input_lines": e_in_lines, "cells": e_cells,
                        "neuron_amplifiers": e_amp, "csample_charging": e_cs,
                        "compare_latch_write": e_cmp, "noise_injection": e_noise},
        "input_stage_J": input_stage,
        "output_stage_J": output_stage,
        "latency_s": latency,
        "tops_per_w": ops / total / 1e12,
        "gops": ops / latency / 1e9,
    }

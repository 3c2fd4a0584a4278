"""Which cores start together, seen from the host's SPI frames, for the shared rails.

The analog models see only their own core's bus, so the chip's shared read rails
(:mod:`analog_models.rails`) are told by this observer which cores an MVM start sets
running: a ``CHIP_CMD.start_sel`` write starts the cores selected in ``CORE_SEL0-2``
together, a ``CMD.start`` write one core alone (or every core, broadcast). The golden
chip and the cosimulation harness both pass every frame through it *before* the chip
acts on it, so both give the models the same group at the same point of the run.

A start ends the previous group: the rails assume the host waits for a run to finish
before it starts the next (as the firmware always does). A core started while others
still run would couple to them in the cosimulation but not in the golden model, whose
runs take no time.
"""

from __future__ import annotations

from firmware import lowlevel as ll
from firmware import registers as R

_SEL = {reg.ADDR: i for i, reg in enumerate((R.CORE_SEL0, R.CORE_SEL1, R.CORE_SEL2))}
_PER_REG = R.CORE_SEL0.MASK.width
_REG_WRITE_LEN = len(ll.encode_reg_write(0, 0, 0))


class StartObserver:
    """Follows CORE_SEL0-2 and the start commands of the host's frames."""

    def __init__(self, n_cores: int):
        self.n_cores = n_cores
        self.sel = [0] * len(_SEL)

    def starts(self, mosi: bytes) -> list[int] | None:
        """The cores ``mosi`` starts (None: it starts nothing)."""
        if len(mosi) != _REG_WRITE_LEN or mosi[0] != ll.Opcode.REG_WRITE:
            return None
        core, addr, value = mosi[1], mosi[2], (mosi[3] << 8) | mosi[4]
        if core == ll.CHIP:
            if addr in _SEL:
                self.sel[_SEL[addr]] = R.CORE_SEL0.MASK.get(value)
            elif addr == R.CHIP_CMD.ADDR and R.CHIP_CMD.START_SEL.get(value):
                mask = sum(m << (_PER_REG * i) for i, m in enumerate(self.sel))
                return [c for c in range(self.n_cores) if mask >> c & 1]
        elif addr == R.CMD.ADDR and R.CMD.START.get(value):
            if core == ll.BROADCAST:
                return list(range(self.n_cores))
            if core < self.n_cores:
                return [core]
        return None

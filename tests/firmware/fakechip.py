"""A tiny register-level fake chip for unit-testing the low-level driver.

It decodes the frames of docs/architecture.md §2 independently of firmware.lowlevel (so a
wrong encoder is caught), records every frame, and finishes any started operation
immediately. It has no analog behaviour: MVM results come from the golden model tests.
"""

from __future__ import annotations

import numpy as np

from firmware.transport import Transport

CORE_ADDR = {"ID": 0, "CTRL": 1, "BITS": 2, "STATUS": 14, "CMD": 13, "POWER": 15}


class FakeTransport(Transport):
    def __init__(self, n_cores: int = 2):
        self.n_cores = n_cores
        self.frames: list[bytes] = []
        self.regs = np.zeros((n_cores, 256), dtype=np.int64)
        self.regs[:, 0] = 0x4E43
        self.regs[:, 1] = 0x100
        self.regs[:, 2] = 0x5364      # BITS reset: in 4, out 6, split 3, out_lsb 5
        self.regs[:, 3] = 256
        self.regs[:, 4] = 100
        self.regs[:, 5] = 2048
        self.regs[:, 6] = (24 << 8) | (1 << 4) | 10
        self.regs[:, 8] = 0xACE1
        self.regs[:, 9] = 0x1D0F
        self.regs[:, 12] = 100
        self.regs[:, 15] = 1
        self.chip = np.zeros(256, dtype=np.int64)
        self.chip[0] = 0x4E52
        self.chip[1] = n_cores
        self.rf = np.zeros((n_cores, 2, 256), dtype=np.int64)
        self.waited = 0.0
        self.started: list[int] = []
        self.never_done = False

    def _bits(self, data: bytes, count: int, width: int):
        bits = "".join(f"{b:08b}" for b in data)
        return [int(bits[i * width:(i + 1) * width], 2) for i in range(count)]

    def spi(self, mosi: bytes) -> bytes:
        mosi = bytes(mosi)
        self.frames.append(mosi)
        op, core = mosi[0], mosi[1]
        miso = bytearray(len(mosi))
        cores = range(self.n_cores) if core == 0xFF else [core]
        if op == 1:
            addr, val = mosi[2], (mosi[3] << 8) | mosi[4]
            if core == 0xFE:
                if addr == 3 and val & 1:   # start_sel
                    mask = self.chip[4] | (self.chip[5] << 16) | (self.chip[6] << 32)
                    for c in range(self.n_cores):
                        if mask >> c & 1:
                            self._start(c)
                else:
                    self.chip[addr] = val
            else:
                for c in cores:
                    if addr == 13:
                        if val & 1:
                            self._start(c)
                    else:
                        self.regs[c, addr] = val
        elif op == 2:
            addr = mosi[2]
            val = self.chip[addr] if core == 0xFE else self.regs[core, addr]
            miso[-2], miso[-1] = val >> 8, val & 0xFF
        elif op == 3:
            f, start, count, width = mosi[2], mosi[3], mosi[4] + 1, mosi[5]
            vals = self._bits(mosi[6:], count, width)
            for c in cores:
                self.rf[c, f, start:start + count] = vals
        elif op == 4:
            f, start, count, width = mosi[2], mosi[3], mosi[4] + 1, mosi[5]
            bits = "".join(f"{int(v) & ((1 << width) - 1):0{width}b}" for v in self.rf[core, f, start:start + count])
            bits += "0" * (-len(bits) % 8)
            data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
            miso[7:7 + len(data)] = data
        return bytes(miso)

    def _start(self, c: int) -> None:
        self.started.append(c)
        self.regs[c, 14] = 1 if self.never_done else 2   # busy forever, or done

    def wait_ns(self, ns: float) -> None:
        self.waited += ns

    def board_adc_uS(self, core: int) -> float:
        return 12.5

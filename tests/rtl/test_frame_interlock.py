"""The register-file interlock: a burst into a busy core is refused (SPI_ERR CORE_BUSY,
nothing committed, in any addressed core); reads and register writes are served.

FrameDecoder + CoreDouble cores (busy from start to abort) against the golden FrameModel.
"""

import numpy as np

from rtl import regmap
from rtl.frame import SpiErr, frame_reg_read, frame_reg_write, frame_rf_read, frame_rf_write
from test_frame import CHIP, CHIPMAP, CORE, run_frames

BCAST = regmap.CORE_BROADCAST


def test_burst_into_busy_core_is_refused():
    rng = np.random.default_rng(13)
    sel0, cmd = CHIPMAP.reg("CORE_SEL0").addr, CHIPMAP.reg("CHIP_CMD").addr
    core_cmd, spi_err = CORE.reg("CMD").addr, CHIPMAP.reg("SPI_ERR").addr
    values = [rng.integers(1, 1024, 20) for _ in range(4)]
    burst = [frame_rf_write(c, f, 3, v.tolist(), 10)
             for (c, f), v in zip(((0, 0), (1, 1), (BCAST, 0), (0, 1)), values)]
    frames = [
        frame_reg_write(CHIP, sel0, 0b001),
        frame_reg_write(CHIP, cmd, 0b01),            # core 0 busy, core 1 idle
        burst[0],                                    # refused
        frame_reg_read(CHIP, spi_err),
        burst[1],                                    # idle core: committed
        burst[2],                                    # broadcast with core 0 busy: refused
        frame_rf_read(0, 0, 0, 30, 10),              # reads are served while busy
        frame_reg_write(0, CORE.reg("BITS").addr, 0x1234),   # so are register writes
        frame_reg_write(0, core_cmd, 0b10),          # abort: core 0 idle again
        burst[3],                                    # now committed
        frame_rf_read(0, 1, 0, 30, 10),
        frame_reg_read(CHIP, spi_err),
    ]
    log, model, target = run_frames(2, [(f, 0) for f in frames])
    errs = [e for _, _, e in log]
    assert errs[2] == errs[5] == SpiErr.CORE_BUSY
    assert errs[4] == errs[6] == errs[7] == errs[9] == 0
    assert log[3][1][4:] == bytes([1, SpiErr.CORE_BUSY])     # count 1, code 9
    assert log[11][1][4:] == bytes([2, SpiErr.CORE_BUSY])
    # Nothing of the refused bursts reached a live slot (the broadcast's idle core 1
    # included); the accepted ones did (run_frames compared every live slot with the
    # model after each frame as well).
    assert not target.files[0][0].live.any() and not target.files[1][0].live.any()
    assert (target.files[1][1].live[3:23] == values[1]).all()
    assert (target.files[0][1].live[3:23] == values[3]).all()

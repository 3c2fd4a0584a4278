"""Networks on the chip: training, import into the firmware high level, co-optimisation, report."""

"""Sweeps and Monte Carlo over simulated chips on Dask (``neurram sweep``).

``spec.load(path)`` checks a TOML spec and expands it into jobs; ``engine.run(spec, dir,
client)`` runs them on a Dask cluster, writing each result as it completes
(``store.ResultStore``); ``registry.KINDS`` maps job kind names to the functions workers
run. See docs/sweeps.md.
"""

"""Shared marks of the analog-model tests."""

import pytest

from analog_models import _kernels

#: Tests of the compiled kernels against the numpy path they replace. numba is a
#: dependency of the project (pyproject), but the analog models run without it (the numpy
#: path, tested by every other test): a user's environment without numba has no kernels
#: to compare.
needs_kernels = pytest.mark.skipif(not _kernels.KERNELS,
                                   reason="numba is not installed: no compiled kernels to compare")

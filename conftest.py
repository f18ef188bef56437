"""Root pytest configuration: command-line options, markers and the hypothesis profiles.

Options live here (not in ``claims/conftest.py``) so that they exist whatever folder is named on
the command line.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Deterministic in CI (as SciPy does): the same examples every run, no example database, no
# deadline on shared 2-core machines. Locally, ``--hypothesis-profile=dev`` explores more.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


pytest_plugins = ["harness.pytest_plugin", "pytester"]

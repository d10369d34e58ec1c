import os

import pytest
from hypothesis import HealthCheck, settings

# "ci" runs the full example counts the project promises; "dev" is quicker.
settings.register_profile("ci", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CYCONV_HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))


def _required(var):
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes") or bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def torch():
    """torch for cross-checks.  In CI (CI=1 or CYCONV_REQUIRE_TORCH=1) a
    missing torch is a failure, never a silent skip."""
    try:
        import torch as _torch
    except ImportError:
        if _required("CYCONV_REQUIRE_TORCH"):
            pytest.fail("torch is required for the cross-checks in CI (pip install torch==2.13.0)")
        pytest.skip("torch not installed: cross-checks against torch skipped")
    _torch.set_num_threads(1)
    return _torch


@pytest.fixture(scope="session")
def scipy_signal():
    try:
        import scipy.signal as ss
    except ImportError:
        if _required("CYCONV_REQUIRE_SCIPY"):
            pytest.fail("scipy is required in CI (it is in the test extra)")
        pytest.skip("scipy not installed: scipy cross-checks skipped")
    return ss


@pytest.fixture(scope="session")
def sklearn():
    """scikit-learn (the digits data set); in the test extra, so required in CI."""
    try:
        import sklearn as _sklearn
    except ImportError:
        if _required("CYCONV_REQUIRE_SKLEARN"):
            pytest.fail("scikit-learn is required in CI (it is in the test extra)")
        pytest.skip("scikit-learn not installed: training tests skipped")
    return _sklearn

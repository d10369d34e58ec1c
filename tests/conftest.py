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
    """Set to 1 (or CI set): required.  Set to 0: optional even in CI (the
    wheel tests leave torch to the main CI)."""
    value = os.environ.get(var, "").strip().lower()
    if value in ("0", "false", "no"):
        return False
    return value in ("1", "true", "yes") or bool(os.environ.get("CI"))


def _optional(module, require_var, install_hint):
    """Import an optional test dependency.  Required in CI (CI=1 or the
    given CYCONV_REQUIRE_* variable): missing it is a failure there, never a
    silent skip; elsewhere the tests using it skip with a visible reason."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        if _required(require_var):
            pytest.fail(f"{module} is required in CI ({install_hint})")
        pytest.skip(f"{module} not installed: the tests that need it are skipped")


@pytest.fixture(scope="session")
def torch():
    """torch for the cross-checks."""
    t = _optional("torch", "CYCONV_REQUIRE_TORCH", "pip install torch==2.13.0")
    t.set_num_threads(1)
    return t


@pytest.fixture(scope="session")
def scipy_signal():
    return _optional("scipy.signal", "CYCONV_REQUIRE_SCIPY", "it is in the test extra")


@pytest.fixture(scope="session")
def sklearn():
    """scikit-learn (the digits data set)."""
    return _optional("sklearn", "CYCONV_REQUIRE_SKLEARN", "it is in the test extra")


# ---------------------------------------------------------------------------
# SIMD variants: every test runs once per kernel build this CPU can execute
# (CYCONV_TEST_SIMD=all, the default), or only with the variant the import
# chose (CYCONV_TEST_SIMD=active), or with a comma-separated list.
# ---------------------------------------------------------------------------

def _variants_to_test():
    from cyconv import _dispatch
    want = os.environ.get("CYCONV_TEST_SIMD", "all").strip().lower()
    if want == "active":
        return [_dispatch.variant]
    if want in ("", "all"):
        return _dispatch.runnable_variants()
    return [v.strip() for v in want.split(",") if v.strip()]


@pytest.fixture(scope="session", autouse=True, params=_variants_to_test())
def simd_variant(request):
    """Route every cyconv call of the test through one SIMD variant."""
    from cyconv import _dispatch
    with _dispatch.using(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def threads_as_asked(request, monkeypatch):
    """Small calls run on one thread (layers.SERIAL_WORK, signal.SERIAL_WORK);
    the tests use small shapes, so the thresholds are set to 0 here and a
    test's num_threads=2, 3, 4 really runs that many threads (the
    bitwise-determinism checks would otherwise compare one thread with
    itself).  Tests marked serial_policy keep the thresholds."""
    if request.node.get_closest_marker("serial_policy") is None:
        from cyconv import layers, signal
        monkeypatch.setattr(layers, "SERIAL_WORK", 0)
        monkeypatch.setattr(signal, "SERIAL_WORK", 0)
    yield


def pytest_report_header(config):
    import cyconv
    from cyconv import _dispatch
    return [f"cyconv {cyconv.__version__} from {os.path.dirname(cyconv.__file__)}",
            f"SIMD variants under test: {', '.join(_variants_to_test())} "
            f"(import chose {_dispatch.variant}; built: {', '.join(_dispatch.available)})"]

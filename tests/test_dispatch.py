"""SIMD variants: CPU feature detection, the choice at import, CYCONV_SIMD.

(The numerical tests run once per runnable variant: see conftest.py.)
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv import _cpuinfo, _dispatch

X86_V3 = {"arch": "x86_64", "levels": ["x86-64", "x86-64-v2", "x86-64-v3"], "flags": {}}
X86_V4 = dict(X86_V3, levels=X86_V3["levels"] + ["x86-64-v4"])
X86_V1 = dict(X86_V3, levels=["x86-64"])
ALL = ["avx512", "avx2", "baseline"]


@pytest.mark.parametrize("requested, cpu, want, warns", [
    (None, X86_V4, "avx512", False),
    ("", X86_V3, "avx2", False),
    ("auto", X86_V1, "baseline", False),
    ("baseline", X86_V4, "baseline", False),
    ("AVX2", X86_V4, "avx2", False),
    ("avx512", X86_V3, "avx2", True),        # the CPU lacks AVX-512: fall back
    ("avx2", X86_V1, "baseline", True),
    ("sse9", X86_V4, "avx512", True),        # not a variant
])
def test_choice(requested, cpu, want, warns):
    got, warning = _dispatch.choose(requested, ALL, cpu)
    assert got == want
    assert (warning is not None) == warns
    if warns:
        assert repr(requested.lower()) in warning and repr(want) in warning


def test_choice_falls_back_when_a_variant_is_not_built():
    got, warning = _dispatch.choose("avx512", ["avx2", "baseline"], X86_V4)
    assert got == "avx2" and "not a built variant" in warning


def test_no_runnable_variant_is_an_import_error():
    with pytest.raises(ImportError, match="no kernel build this CPU can run"):
        _dispatch.choose(None, ["avx512"], X86_V3)


def test_arm64_runs_the_baseline():
    cpu = {"arch": "aarch64", "levels": ["neon"], "flags": {}}
    assert _dispatch.choose(None, ["baseline"], cpu) == ("baseline", None)
    assert _dispatch.choose("avx2", ["baseline"], cpu)[0] == "baseline"


def _proc_cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


@pytest.mark.skipif(_cpuinfo.features()["arch"] != "x86_64" or _proc_cpuinfo_flags() is None,
                    reason="the cross-check reads Linux's /proc/cpuinfo on x86-64")
def test_cpuid_agrees_with_the_kernel():
    """CPUID as read by _cpuinfo against the flags Linux reports."""
    linux = _proc_cpuinfo_flags()
    ours = _cpuinfo.x86_features()
    names = {"sse3": "pni", "lzcnt": "abm", "sse4_1": "sse4_1", "bmi1": "bmi1"}
    for feat in ("sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "fma",
                 "movbe", "avx", "f16c", "bmi1", "avx2", "bmi2", "avx512f", "avx512dq",
                 "avx512cd", "avx512bw", "avx512vl", "lzcnt"):
        assert ours[feat] == (names.get(feat, feat) in linux), feat
    # Linux lists avx / avx512f only when it saves their register state
    assert ours["os_avx"] == ("avx" in linux)
    assert ours["os_avx512"] == ("avx512f" in linux)


def test_levels_are_cumulative():
    cpu = _cpuinfo.features()
    order = ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
    if cpu["arch"] == "x86_64":
        assert cpu["levels"] == order[:len(cpu["levels"])]
        assert "x86-64" in cpu["levels"]


def test_required_variants_are_runnable():
    """CI names the variants this machine must run (CYCONV_REQUIRE_SIMD)."""
    need = [v for v in os.environ.get("CYCONV_REQUIRE_SIMD", "").split(",") if v]
    missing = [v for v in need if v not in _dispatch.runnable_variants()]
    assert not missing, (f"required SIMD variants {missing} are not runnable here "
                         f"(built: {_dispatch.available}, CPU: {_dispatch.cpu['levels']})")


def test_every_runnable_variant_imports_directly():
    for v in _dispatch.runnable_variants():
        mod = _dispatch.load(v)
        assert mod.SIMD_VARIANT == v
        assert mod.lanes(np.float32) * 4 == mod.VECTOR_BYTES
        assert mod.lanes(np.float64) * 8 == mod.VECTOR_BYTES
    expect = {"baseline": 16, "avx2": 32, "avx512": 64}
    for v in set(expect) & set(_dispatch.runnable_variants()):
        assert _dispatch.load(v).VECTOR_BYTES == expect[v]


def test_variants_agree():
    """The same problem through every runnable variant: equal up to
    rounding (FMA contraction and summation order differ per tile shape)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 19, 13, 17))
    w = rng.standard_normal((23, 19, 3, 3))
    gy = rng.standard_normal((2, 23, 13, 17))       # conv2d(x, w, padding=1)'s shape
    outs = {}
    for v in _dispatch.runnable_variants():
        with _dispatch.using(v):
            outs[v] = (cyconv.conv2d(x, w, padding=1),
                       cyconv.conv2d_backward_input(gy, w, x.shape, padding=1),
                       cyconv.conv2d_backward_weight(x, gy, w.shape, padding=1),
                       cyconv.conv2d(x, w[:19, :1], padding=1, groups=19))
    first = next(iter(outs.values()))
    for v, got in outs.items():
        for a, b in zip(got, first):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=v)


def test_use_rejects_unknown_variants():
    with pytest.raises(ValueError, match="not built or not runnable"):
        _dispatch.use("sse9")


def _import_with(env_value):
    env = dict(os.environ, CYCONV_SIMD=env_value)
    code = "import cyconv; from cyconv import _dispatch as d; print(d.variant)"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["baseline", "avx2", "avx512"])
def test_cyconv_simd_forces_a_variant(name):
    if name not in _dispatch.runnable_variants():
        pytest.skip(f"{name} does not run on this CPU (test_required_variants_are_runnable "
                    "fails in CI if it must)")
    out = _import_with(name)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [name]
    assert "RuntimeWarning" not in out.stderr


def test_cyconv_simd_unknown_warns_and_uses_the_best():
    out = _import_with("sse9")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [_dispatch.runnable_variants()[0]]
    assert "RuntimeWarning" in out.stderr and "sse9" in out.stderr


def test_show_config_reports_the_variant_and_cpu(capsys):
    cyconv.show_config()
    text = capsys.readouterr().out
    assert f"SIMD     : {_dispatch.variant} (" in text
    assert "CPU      :" in text and "variants : built" in text
    info = cyconv._config.config()
    assert info["simd"] == _dispatch.variant
    assert info["vector_bytes"] == _dispatch.kernels.VECTOR_BYTES


def test_the_forced_variant_is_the_one_in_use():
    """CYCONV_SIMD naming a runnable variant: the import chose exactly it."""
    forced = os.environ.get("CYCONV_SIMD", "").strip().lower()
    if forced not in _dispatch.runnable_variants():
        pytest.skip("CYCONV_SIMD does not name a runnable variant in this run")
    chosen, _ = _dispatch.choose(forced, _dispatch.available, _dispatch.cpu)
    assert chosen == forced
    if os.environ.get("CYCONV_TEST_SIMD", "all").strip().lower() == "active":
        assert _dispatch.variant == forced


def test_the_installed_package_is_under_test():
    """tools/check_wheel.sh names the environment the package must come from."""
    where = os.environ.get("CYCONV_TEST_INSTALLED_UNDER")
    if not where:
        pytest.skip("CYCONV_TEST_INSTALLED_UNDER not set (a source-tree run)")
    assert os.path.realpath(cyconv.__file__).startswith(os.path.realpath(where))

"""Which SIMD build of the kernels runs: chosen once, at import.

setup.py compiles the kernels (``cyconv/_kernels.pxi``) once per SIMD variant
into ``cyconv._kernels_<variant>``.  This module reads the CPU's features
(``cyconv._cpuinfo``, built for the baseline, so safe to import anywhere) and
imports the best variant the CPU can execute, in the order of ``PREFERENCE``.
No variant module is imported before its requirement is checked: an AVX-512
build may use AVX-512 instructions anywhere, even while it initializes.

``CYCONV_SIMD=baseline|avx2|avx512`` (or ``native`` where built) asks for one
variant; when it is not built or the CPU cannot run it, cyconv warns and uses
the best variant it can.  ``cyconv.show_config()`` reports the choice.

The rest of the package calls the kernels through ``kernels`` (a module).
Tests switch variants with ``using(name)``.
"""
import contextlib
import importlib
import importlib.util
import os
import warnings

from cyconv import _cpuinfo

# best first; "native" exists only in a CYCONV_NATIVE=1 developer build
PREFERENCE = ("native", "avx512", "avx2", "baseline")

# the CPU level each variant is compiled for (setup.py's table, per target)
REQUIRES = {
    "x86_64": {"avx512": "x86-64-v4", "avx2": "x86-64-v3", "baseline": "x86-64"},
    "aarch64": {"baseline": "neon"},
}


def built():
    """The variants present in this installation, best first."""
    return [v for v in PREFERENCE
            if importlib.util.find_spec(f"cyconv._kernels_{v}") is not None]


def requirement(variant, cpu):
    """The CPU level `variant` needs (None: nothing beyond the platform)."""
    if variant == "native":
        from cyconv._config import build_info
        return build_info().get("simd_variants", {}).get("native", {}).get("requires")
    return REQUIRES.get(cpu["arch"], {}).get(variant)


def runnable(variant, cpu):
    """True when this CPU can execute `variant`."""
    need = requirement(variant, cpu)
    return need is None or need in cpu["levels"]


def choose(requested, available, cpu):
    """(variant, warning or None): `requested` if it is built and runnable,
    else the best available variant the CPU runs."""
    usable = [v for v in available if runnable(v, cpu)]
    if not usable:
        raise ImportError(f"cyconv: no kernel build this CPU can run (built: {available}, "
                          f"CPU levels: {cpu['levels']}); reinstall cyconv for this machine")
    requested = (requested or "").strip().lower()
    if requested in ("", "auto", "best"):
        return usable[0], None
    if requested not in available:
        return usable[0], (f"CYCONV_SIMD={requested!r} is not a built variant "
                           f"(built: {', '.join(available)}); using {usable[0]!r}")
    if requested not in usable:
        return usable[0], (f"CYCONV_SIMD={requested!r}: this CPU lacks "
                           f"{requirement(requested, cpu)}; using {usable[0]!r}")
    return requested, None


def load(variant):
    """Import and return the kernels module of `variant` (no CPU check)."""
    return importlib.import_module(f"cyconv._kernels_{variant}")


cpu = _cpuinfo.features()
available = built()
requested = os.environ.get("CYCONV_SIMD") or None
variant, _warning = choose(requested, available, cpu)
if _warning:
    warnings.warn(_warning, RuntimeWarning, stacklevel=2)
kernels = load(variant)


def runnable_variants():
    """The built variants this CPU can execute, best first."""
    return [v for v in available if runnable(v, cpu)]


def use(name):
    """Make `name` the variant every call runs (tests, benchmarks)."""
    global kernels, variant
    if name not in runnable_variants():
        raise ValueError(f"SIMD variant {name!r} is not built or not runnable here "
                         f"(runnable: {runnable_variants()})")
    kernels, variant = load(name), name


@contextlib.contextmanager
def using(name):
    """Run the enclosed calls with variant `name`, then restore."""
    before = variant
    use(name)
    try:
        yield kernels
    finally:
        use(before)

"""Build script for cyconv's compiled kernels.

What it does, in order:

1. generates, for each SIMD variant of the target (x86-64: ``baseline``,
   ``avx2`` = x86-64-v3, ``avx512`` = x86-64-v4; arm64 and others:
   ``baseline``), the micro-kernels ``cyconv/_microkernels_<variant>.pxd``
   from the Tempita template (every accumulator of a register tile its own
   variable, tile shapes sized to the variant's vectors and registers) and a
   stub ``cyconv/_kernels_<variant>.pyx`` that cimports them and includes the
   one kernel source ``cyconv/_kernels.pxi``.  Each variant is compiled with
   its own target flags; ``cyconv._dispatch`` picks one at import from the
   CPU's features (``cyconv/_cpuinfo.pyx``, built for the baseline);
2. probes the C compiler for OpenMP with a compile-and-run test program
   (gcc/clang ``-fopenmp``, MSVC ``/openmp``, Apple clang ``-Xpreprocessor
   -fopenmp`` + libomp).  Without OpenMP the package builds serial and warns;
   ``CYCONV_REQUIRE_OPENMP=1`` makes that an error;
3. sets the Cython compiler directives once, here.  ``CYCONV_DEBUG_BUILD=1``
   turns bounds checking (and initialization checks) back on and compiles with
   ``-O1 -g`` for debugging and sanitizer runs;
4. writes ``cyconv/_build_info.json`` (compiler, flags, OpenMP, variants) that
   ``cyconv.show_config()`` prints.

The default build and the wheels never use ``-march=native``.

Environment switches:

``CYCONV_REQUIRE_OPENMP=1``  fail the build when OpenMP is unusable.
``CYCONV_DEBUG_BUILD=1``     bounds checks on, ``-O1 -g``.
``CYCONV_NATIVE=1``          also build a ``native`` variant (``-march=native``,
                             tiles sized for the build machine); the dispatcher
                             prefers it.  For local development only.
``CYCONV_SIMD_VARIANTS``     comma-separated subset of the variants to build
                             (e.g. ``baseline`` for a quick debug build).
``CYCONV_EXTRA_CFLAGS``      appended to the compile flags (e.g. sanitizers).
``CYCONV_EXTRA_LDFLAGS``     appended to the link flags.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "cyconv")

OPENMP_PROBE = textwrap.dedent(
    r"""
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d %d\n", n, omp_get_max_threads());
        return n < 1;
    }
    """
)


def env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# SIMD variants: vector bytes and vector registers for the tile shapes,
# target flags for gcc/clang and for MSVC, and what the CPU must have to run
# them (checked at import by cyconv._dispatch, which has the same table).
X86_VARIANTS = {
    "baseline": dict(vbytes=16, nregs=16, flags=[], msvc=[], level="x86-64"),
    "avx2": dict(vbytes=32, nregs=16, flags=["-march=x86-64-v3"], msvc=["/arch:AVX2"],
                 level="x86-64-v3"),
    "avx512": dict(vbytes=64, nregs=32, flags=["-march=x86-64-v4"], msvc=["/arch:AVX512"],
                   level="x86-64-v4"),
}
# AArch64: Advanced SIMD (NEON) is always there, with 32 registers.
ARM64_VARIANTS = {"baseline": dict(vbytes=16, nregs=32, flags=[], msvc=[], level="neon")}
# anything else: the vector extension lowered to whatever the target has
OTHER_VARIANTS = {"baseline": dict(vbytes=16, nregs=16, flags=[], msvc=[], level=None)}


def target_arch():
    """x86_64, aarch64 or another machine name, for the platform being built
    (macOS cross builds name theirs in ARCHFLAGS)."""
    arch = None
    if sys.platform == "darwin":
        archs = shlex.split(os.environ.get("ARCHFLAGS", ""))[1::2]
        if len(archs) == 1:
            arch = archs[0]
    if arch is None:
        plat = sysconfig.get_platform()
        arch = plat.rsplit("-", 1)[-1] if "-" in plat else plat
        if arch.startswith("universal"):
            arch = os.uname().machine if hasattr(os, "uname") else arch
    arch = arch.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "win_amd64": "x86_64",
            "arm64": "aarch64"}.get(arch, arch)


def native_variant():
    """Parameters of a -march=native build, from the compiler's macros."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    out = subprocess.run(cc + ["-march=native", "-dM", "-E", "-x", "c", os.devnull],
                         capture_output=True, text=True, check=True).stdout
    macros = set(line.split()[1] for line in out.splitlines() if line.startswith("#define"))
    if "__AVX512F__" in macros:
        base = X86_VARIANTS["avx512"]
    elif "__AVX2__" in macros and "__FMA__" in macros:
        base = X86_VARIANTS["avx2"]
    elif "__aarch64__" in macros:
        base = ARM64_VARIANTS["baseline"]
    else:
        base = OTHER_VARIANTS["baseline"]
    return dict(base, flags=["-march=native"], msvc=[])


def simd_variants():
    """{name: parameters} of the kernel variants to build."""
    arch = target_arch()
    table = dict(X86_VARIANTS if arch == "x86_64" else
                 ARM64_VARIANTS if arch == "aarch64" else OTHER_VARIANTS)
    only = [v.strip() for v in os.environ.get("CYCONV_SIMD_VARIANTS", "").split(",") if v.strip()]
    if only:
        unknown = sorted(set(only) - set(table))
        if unknown:
            raise ValueError(f"CYCONV_SIMD_VARIANTS: unknown {unknown} for {arch}; "
                             f"known: {sorted(table)}")
        table = {k: v for k, v in table.items() if k in only}
    if env_flag("CYCONV_NATIVE"):
        table["native"] = native_variant()
    return table


def write_if_changed(path, text):
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if text != old:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


STUB = """\
# Generated by setup.py: the {name!r} SIMD build of the kernels
# ({vbytes}-byte vectors, {nregs} vector registers, flags: {flags}).
# Edit cyconv/_kernels.pxi and cyconv/_microkernels.pxd.tp, never this file.
\"\"\"cyconv's convolution kernels, {name} SIMD build (see cyconv/_kernels.pxi).\"\"\"
from cyconv._microkernels_{name} cimport *

SIMD_VARIANT = {name!r}
VECTOR_BYTES = {vbytes}

include "_kernels.pxi"
"""


def render_sources(variants):
    """Write every variant's micro-kernels and stub; remove stale ones."""
    from Cython import Tempita

    with open(os.path.join(PKG, "_microkernels.pxd.tp"), encoding="utf-8") as f:
        template = f.read()
    for name, v in variants.items():
        write_if_changed(os.path.join(PKG, f"_microkernels_{name}.pxd"),
                         Tempita.sub(template, VBYTES=v["vbytes"], NREGS=v["nregs"]))
        write_if_changed(os.path.join(PKG, f"_kernels_{name}.pyx"),
                         STUB.format(name=name, vbytes=v["vbytes"], nregs=v["nregs"],
                                     flags=" ".join(v["flags"]) or "none"))
    for fname in os.listdir(PKG):
        for prefix, suffix in (("_kernels_", ".pyx"), ("_kernels_", ".c"),
                               ("_microkernels_", ".pxd")):
            if fname.startswith(prefix) and fname.endswith(suffix):
                if fname[len(prefix):-len(suffix)] not in variants:
                    os.remove(os.path.join(PKG, fname))


def openmp_candidates(compiler_type):
    if compiler_type == "msvc":
        return [("msvc /openmp", ["/openmp"], [])]
    cands = [("-fopenmp", ["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        prefixes = [os.environ.get("LIBOMP_PREFIX", ""), "/opt/homebrew/opt/libomp",
                    "/usr/local/opt/libomp", "/opt/local"]
        for p in filter(None, prefixes):
            cands.append((
                f"-Xpreprocessor -fopenmp (libomp at {p})",
                ["-Xpreprocessor", "-fopenmp", f"-I{p}/include"],
                [f"-L{p}/lib", "-lomp", f"-Wl,-rpath,{p}/lib"],
            ))
    return cands


def probe_openmp(compiler):
    """Return (description, cflags, ldflags) of the first OpenMP setup that
    compiles, links and runs, or None."""
    tmp = tempfile.mkdtemp(prefix="cyconv-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for desc, cflags, ldflags in openmp_candidates(compiler.compiler_type):
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                exe = os.path.join(tmp, "probe")
                compiler.link_executable(objs, exe, extra_postargs=ldflags)
                if compiler.compiler_type == "msvc":
                    exe += ".exe"
                out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
                if out.returncode == 0:
                    return desc, cflags, ldflags
            except Exception:  # noqa: BLE001 - any failure means "not this one"
                continue
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:          # the variants compile side by side
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        debug = env_flag("CYCONV_DEBUG_BUILD")
        omp = probe_openmp(self.compiler)
        if omp is None:
            msg = ("cyconv: no working OpenMP found for this compiler; building the "
                   "kernels SERIAL (single-threaded). Install OpenMP (libgomp / libomp) "
                   "for multi-threaded kernels.")
            if env_flag("CYCONV_REQUIRE_OPENMP"):
                raise RuntimeError(msg + " (CYCONV_REQUIRE_OPENMP=1 makes this an error)")
            print("WARNING: " + msg, file=sys.stderr)
            omp_desc, omp_c, omp_l = "off", [], []
        else:
            omp_desc, omp_c, omp_l = omp

        if ctype == "msvc":
            cflags = ["/O2", "/fp:contract"] if not debug else ["/Od", "/Zi"]
        else:
            # -g0: no debug info in the release modules (python's CFLAGS carry -g)
            cflags = ["-O3", "-g0", "-ffp-contract=fast", "-fno-math-errno"]
            if debug:
                cflags = ["-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=fast"]
        cflags += shlex.split(os.environ.get("CYCONV_EXTRA_CFLAGS", ""))
        ldflags = shlex.split(os.environ.get("CYCONV_EXTRA_LDFLAGS", ""))
        variants = {}
        for ext in self.extensions:
            name = ext.name.rpartition("._kernels_")[2] if "._kernels_" in ext.name else None
            v = VARIANTS.get(name)
            vflags = [] if v is None else (v["msvc"] if ctype == "msvc" else v["flags"])
            ext.extra_compile_args = cflags + vflags + (omp_c if v is not None else [])
            ext.extra_link_args = ldflags + (omp_l if v is not None else [])
            if v is not None:
                variants[name] = {"flags": " ".join(vflags), "vector_bytes": v["vbytes"],
                                  "vector_registers": v["nregs"], "requires": v["level"]}
        info = {
            "compiler": " ".join(getattr(self.compiler, "compiler_so", [ctype])),
            "compiler_type": ctype,
            "cflags": " ".join(cflags + omp_c),
            "ldflags": " ".join(ldflags + omp_l),
            "openmp": omp_desc,
            "debug_build": debug,
            "target": target_arch(),
            "simd_variants": variants,
        }
        self._cyconv_info = info
        super().build_extensions()

    def run(self):
        super().run()
        info = getattr(self, "_cyconv_info", None)
        if info is None:      # nothing was compiled (up to date)
            return
        dirs = [os.path.join(self.build_lib, "cyconv")]
        if self.inplace or getattr(self, "editable_mode", False):
            dirs.append(PKG)
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "_build_info.json"), "w") as f:
                json.dump(info, f, indent=1)


def extensions(variants):
    import numpy
    from Cython.Build import cythonize

    render_sources(variants)
    debug = env_flag("CYCONV_DEBUG_BUILD")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": False,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    exts = [Extension("cyconv._cpuinfo", ["cyconv/_cpuinfo.pyx"])]
    for name, v in variants.items():
        exts.append(Extension(
            f"cyconv._kernels_{name}",
            [f"cyconv/_kernels_{name}.pyx"],
            include_dirs=[numpy.get_include(), PKG],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION"),
                           ("CY_VBYTES", str(v["vbytes"]))],
        ))
    return cythonize(exts, compiler_directives=directives, force=debug,
                     nthreads=0 if sys.platform == "win32" else (os.cpu_count() or 1))


VARIANTS = simd_variants()
setup(ext_modules=extensions(VARIANTS), cmdclass={"build_ext": BuildExt})

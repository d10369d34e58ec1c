"""Build script for cyconv's compiled kernels.

What it does, in order:

1. renders the Tempita templates (``*.pxd.tp``) into Cython sources; the
   micro-kernels are generated so that every accumulator of a register tile is
   its own variable (one source, many unrolled tile shapes);
2. probes the C compiler for OpenMP with a compile-and-run test program
   (gcc/clang ``-fopenmp``, MSVC ``/openmp``, Apple clang ``-Xpreprocessor
   -fopenmp`` + libomp).  Without OpenMP the package builds serial and warns;
   ``CYCONV_REQUIRE_OPENMP=1`` makes that an error;
3. sets the Cython compiler directives once, here.  ``CYCONV_DEBUG_BUILD=1``
   turns bounds checking (and initialization checks) back on and compiles with
   ``-O1 -g`` for debugging and sanitizer runs;
4. writes ``cyconv/_build_info.json`` (compiler, flags, OpenMP) that
   ``cyconv.show_config()`` prints.

Environment switches:

``CYCONV_REQUIRE_OPENMP=1``  fail the build when OpenMP is unusable.
``CYCONV_DEBUG_BUILD=1``     bounds checks on, ``-O1 -g``.
``CYCONV_MARCH=<arch>``      value for ``-march`` (default ``native``; ``none``
                             leaves the compiler's default target).
``CYCONV_EXTRA_CFLAGS``      appended to the compile flags (e.g. sanitizers).
``CYCONV_EXTRA_LDFLAGS``     appended to the link flags.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
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


def render_templates():
    """Render ``cyconv/*.tp`` into the file named without ``.tp``."""
    from Cython import Tempita

    for name in sorted(os.listdir(PKG)):
        if not name.endswith(".tp"):
            continue
        src = os.path.join(PKG, name)
        dst = src[:-3]
        with open(src, encoding="utf-8") as f:
            text = Tempita.sub(f.read())
        old = None
        if os.path.exists(dst):
            with open(dst, encoding="utf-8") as f:
                old = f.read()
        if text != old:
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)


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
            cflags = ["-O3", "-ffp-contract=fast", "-fno-math-errno"]
            if debug:
                cflags = ["-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=fast"]
            march = os.environ.get("CYCONV_MARCH", "native").strip()
            if march and march != "none":
                cflags.append(f"-march={march}")
        cflags += shlex.split(os.environ.get("CYCONV_EXTRA_CFLAGS", ""))
        ldflags = shlex.split(os.environ.get("CYCONV_EXTRA_LDFLAGS", ""))
        for ext in self.extensions:
            ext.extra_compile_args = cflags + omp_c
            ext.extra_link_args = ldflags + omp_l
        info = {
            "compiler": " ".join(getattr(self.compiler, "compiler_so", [ctype])),
            "compiler_type": ctype,
            "cflags": " ".join(cflags + omp_c),
            "ldflags": " ".join(ldflags + omp_l),
            "openmp": omp_desc,
            "debug_build": debug,
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


def extensions():
    import numpy
    from Cython.Build import cythonize

    render_templates()
    debug = env_flag("CYCONV_DEBUG_BUILD")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": False,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    exts = [
        Extension(
            "cyconv._kernels",
            ["cyconv/_kernels.pyx"],
            include_dirs=[numpy.get_include(), PKG],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION")],
        )
    ]
    return cythonize(exts, compiler_directives=directives, force=debug)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})

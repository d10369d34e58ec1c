"""Build and runtime configuration (``cyconv.show_config()``)."""
import json
import os
import platform
import sys

import numpy as np


def build_info():
    """Compiler, flags and OpenMP setup recorded when the extension was built."""
    path = os.path.join(os.path.dirname(__file__), "_build_info.json")
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return {}


def config():
    """The configuration as a dict."""
    from cyconv import __version__, _dispatch
    info = build_info()
    _kernels = _dispatch.kernels
    variants = info.get("simd_variants", {})
    cpu = _dispatch.cpu
    return {
        "cyconv": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "openmp": _kernels.openmp_enabled(),
        "openmp_flags": info.get("openmp", "unknown"),
        "threads": _kernels.max_threads(),
        "compiler": info.get("compiler", "unknown"),
        "cflags": info.get("cflags", "unknown"),
        "ldflags": info.get("ldflags", ""),
        "debug_build": info.get("debug_build", False),
        "simd": _dispatch.variant,
        "simd_requested": _dispatch.requested,
        "simd_flags": variants.get(_dispatch.variant, {}).get("flags", "unknown"),
        "vector_bytes": _kernels.VECTOR_BYTES,
        "simd_built": _dispatch.available,
        "simd_runnable": _dispatch.runnable_variants(),
        "cpu_arch": cpu["arch"],
        "cpu_levels": cpu["levels"],
        "cpu_features": sorted(f for f, on in cpu["flags"].items() if on),
    }


def show_config(file=None):
    """Print version, OpenMP on/off and thread count, compiler and flags,
    numpy, the SIMD variant in use and the CPU features seen."""
    c = config()
    lines = [
        f"cyconv {c['cyconv']} (python {c['python']}, numpy {c['numpy']})",
        f"  platform : {c['platform']}",
        f"  OpenMP   : {'on' if c['openmp'] else 'OFF (serial build)'}"
        f" ({c['openmp_flags']}), threads = {c['threads']}",
        f"  compiler : {c['compiler']}",
        f"  cflags   : {c['cflags']}",
        f"  ldflags  : {c['ldflags']}",
        f"  debug    : {c['debug_build']}",
        f"  SIMD     : {c['simd']} ({c['vector_bytes']}-byte vectors, flags: "
        f"{c['simd_flags'] or 'none'}); CYCONV_SIMD={c['simd_requested'] or 'unset'}",
        f"  variants : built {', '.join(c['simd_built'])}; this CPU runs "
        f"{', '.join(c['simd_runnable'])}",
        f"  CPU      : {c['cpu_arch']}, levels {', '.join(c['cpu_levels']) or 'none'}",
        f"             features {' '.join(c['cpu_features']) or '-'}",
    ]
    print("\n".join(lines), file=file or sys.stdout)

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
    from cyconv import __version__, _kernels
    info = build_info()
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
    }


def show_config(file=None):
    """Print version, OpenMP on/off and thread count, compiler and flags, numpy."""
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
    ]
    print("\n".join(lines), file=file or sys.stdout)

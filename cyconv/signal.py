"""Signal and image convolution with numpy / scipy semantics.

``convolve`` and ``correlate`` take 1-, 2- or 3-D arrays and a ``mode``:

* 1-D inputs follow ``numpy.convolve`` / ``numpy.correlate`` exactly
  (output lengths, centering, and the handling of ``len(v) > len(a)``);
* 2-D and 3-D inputs follow ``scipy.signal.convolve`` / ``correlate``.

Every mode is a crop of the 'full' result, the sum of shifted copies of one
input scaled by the other's values: an inf or NaN in either reaches only the
copies it scales (as numpy.convolve; scipy's N-D direct method also
multiplies its zero fill, NaN at the borders there).

Integer, bool and mixed inputs promote like numpy (``np.result_type``); the
result is float32 when that type is float32 or float16 and float64
otherwise.  Complex inputs are rejected.  Both run on the same tiled kernel
as the layer API.
"""
import numpy as np

from cyconv import _dispatch
from cyconv._geometry import SIZE_LIMIT, check_size
from cyconv.layers import threads_for

__all__ = ["convolve", "correlate"]

MODES = ("full", "same", "valid")
# Below this many multiply-adds a call runs on one thread (its own line, not
# the layers': one channel splits into even runs of positions; float64, 31
# taps, 2 threads against 1 on AVX2 Zen 3: 4096 samples (0.13M) 1.01x,
# 16384 (0.5M) 1.23x)
SERIAL_WORK = 1 << 17
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _result_dtype(a, v):
    dt = np.result_type(a, v)
    if dt.kind == "c":
        raise TypeError(f"complex inputs are not supported (got {a.dtype} and {v.dtype})")
    if dt.kind not in "biuf":
        raise TypeError(f"inputs must be numeric arrays, got {a.dtype} and {v.dtype}")
    return np.dtype(np.float32) if dt in (np.float16, np.float32) else np.dtype(np.float64)


def _crop(n, m, mode, flip, numpy_1d):
    """(start in the 'full' output, output length) along one axis.

    ``flip`` is True for convolve.  numpy's 1-D 'same' is as long as the
    longer input and centres on the shorter one; scipy's is as long as in1.
    """
    full = n + m - 1
    if mode == "full":
        return 0, full
    if mode == "valid":
        return min(n, m) - 1, abs(n - m) + 1
    if not numpy_1d:
        return (m - 1) // 2, n
    if n >= m:
        return (m - 1) // 2, n
    # numpy swaps the inputs: convolve is symmetric, correlate comes out reversed
    return ((n - 1) // 2 if flip else n // 2), m


def _apply(a, v, mode, flip, num_threads, name):
    # straight-line on purpose: after a large call's kernel this runs from
    # memory, and every helper called costs microseconds then
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    a = np.asarray(a)
    v = np.asarray(v)
    dt = a.dtype
    if dt is not v.dtype or dt not in _FLOATS:
        dt = _result_dtype(a, v)
    nd = a.ndim
    if nd != v.ndim:
        raise ValueError(f"{name}: a and v must have the same number of dims, "
                         f"got {a.ndim} and {v.ndim}")
    if nd not in (1, 2, 3):
        raise ValueError(f"{name}: inputs must be 1-, 2- or 3-D, got {a.ndim}-D")
    if a.size == 0 or v.size == 0:
        if nd == 1:
            raise ValueError(f"{name}: a and v must not be empty")
        return np.array([], dtype=dt)
    if mode == "valid" and nd > 1:
        if not (all(n >= m for n, m in zip(a.shape, v.shape))
                or all(n <= m for n, m in zip(a.shape, v.shape))):
            raise ValueError(f"{name}: in 'valid' mode one input must be at least as large "
                             f"as the other in every dim, got {a.shape} and {v.shape}")
    crops = []
    size = 1
    for n, m in zip(a.shape, v.shape):
        crop = _crop(n, m, mode, flip, nd == 1)
        crops.append(crop)
        size *= crop[1]
    if size * dt.itemsize > SIZE_LIMIT:
        check_size(tuple(length for _, length in crops), dt.itemsize, "output")
    nt = threads_for(num_threads, size * v.size, SERIAL_WORK)
    return _dispatch.kernels.correlate_signal(a, v, tuple(crops), flip, nt, dt)


def convolve(a, v, mode="full", *, num_threads=None):
    """Convolution of two 1-, 2- or 3-D arrays.

    ``mode`` is 'full' (default), 'same' or 'valid'.  1-D follows
    ``numpy.convolve``; 2-D and 3-D follow ``scipy.signal.convolve``.

    The worked example of the lecture notes, a sum of shifted copies:

    >>> import cyconv
    >>> cyconv.convolve([2, -1, 1, 1], [1, 1, 2, 1])
    array([2., 1., 4., 2., 2., 3., 1.])
    """
    return _apply(a, v, mode, True, num_threads, "convolve")


def correlate(a, v, mode="full", *, num_threads=None):
    """Cross-correlation of two 1-, 2- or 3-D arrays.

    ``mode`` is 'full' (default), 'same' or 'valid'.  1-D follows
    ``numpy.correlate`` (whose own default mode is 'valid'); 2-D and 3-D
    follow ``scipy.signal.correlate``.
    """
    return _apply(a, v, mode, False, num_threads, "correlate")

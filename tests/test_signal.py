"""Signal API against numpy (1-D), scipy.signal (N-D) and the shifted-copies definition."""
import doctest
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import cyconv
import cyconv.signal
import reference as ref

MODES = ["full", "same", "valid"]


def _tol(a, v, dtype):
    """Rounding bound of a length-len(v) sum, from the absolute full result."""
    return ref.sum_abs_bound(ref.full_convolve(np.abs(a), np.abs(v)).max(), v.size, dtype)


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(MODES),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31 - 1))
def test_1d_matches_numpy(n, m, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    v = rng.standard_normal(m).astype(dtype)
    for ours, theirs in ((cyconv.convolve, np.convolve), (cyconv.correlate, np.correlate)):
        got = ours(a, v, mode)
        want = theirs(a.astype(np.float64), v.astype(np.float64), mode)
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=_tol(a, v, dtype))


@given(st.integers(2, 3), st.sampled_from(MODES), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**31 - 1), st.booleans())
def test_nd_matches_scipy(scipy_signal, nd, mode, dtype, seed, bigger_in2):
    rng = np.random.default_rng(seed)
    top = 9 if nd == 2 else 5
    a_shape = tuple(rng.integers(1, top, nd))
    v_shape = tuple(rng.integers(1, top, nd))
    if mode == "valid":     # scipy needs one input >= the other in every dim
        lo = np.minimum(a_shape, v_shape)
        hi = np.maximum(a_shape, v_shape)
        a_shape, v_shape = (tuple(lo), tuple(hi)) if bigger_in2 else (tuple(hi), tuple(lo))
    a = rng.standard_normal(a_shape).astype(dtype)
    v = rng.standard_normal(v_shape).astype(dtype)
    for ours, theirs in ((cyconv.convolve, scipy_signal.convolve),
                         (cyconv.correlate, scipy_signal.correlate)):
        got = ours(a, v, mode)
        want = theirs(a.astype(np.float64), v.astype(np.float64), mode, method="direct")
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=_tol(a, v, dtype))


@given(st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_full_is_sum_of_shifted_copies(nd, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(tuple(rng.integers(1, 7, nd)))
    v = rng.standard_normal(tuple(rng.integers(1, 5, nd)))
    np.testing.assert_allclose(cyconv.convolve(a, v), ref.full_convolve(a, v),
                               rtol=0, atol=_tol(a, v, np.float64))
    # correlation is convolution with the flipped kernel
    flipped = v[(slice(None, None, -1),) * nd]
    np.testing.assert_allclose(cyconv.correlate(a, v), ref.full_convolve(a, flipped),
                               rtol=0, atol=_tol(a, v, np.float64))


@given(st.integers(1, 3), st.floats(-3, 3), st.floats(-3, 3), st.integers(0, 2**31 - 1))
def test_linearity(nd, l1, l2, seed):
    """a * (l1 b + l2 c) = l1 (a * b) + l2 (a * c)  (lecture notes)."""
    rng = np.random.default_rng(seed)
    shape_a = tuple(rng.integers(5, 9, nd))   # >= the kernel: every mode applies
    shape_b = tuple(rng.integers(1, 5, nd))
    a, b, c = (rng.standard_normal(s) for s in (shape_a, shape_b, shape_b))
    for mode in MODES:
        lhs = cyconv.convolve(a, l1 * b + l2 * c, mode)
        rhs = l1 * cyconv.convolve(a, b, mode) + l2 * cyconv.convolve(a, c, mode)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_lecture_notes_example():
    """(2, -1, 1, 1) * (1, 1, 2, 1) is the sum of shifted copies of the vector."""
    shifted = (2 * np.array([1, 1, 2, 1, 0, 0, 0]) - np.array([0, 1, 1, 2, 1, 0, 0])
               + np.array([0, 0, 1, 1, 2, 1, 0]) + np.array([0, 0, 0, 1, 1, 2, 1]))
    got = cyconv.convolve([2, -1, 1, 1], [1, 1, 2, 1])
    np.testing.assert_array_equal(got, shifted)
    np.testing.assert_array_equal(got, np.convolve([2, -1, 1, 1], [1, 1, 2, 1]))
    # an M x M image with a k x k kernel gives (M + k - 1) x (M + k - 1)
    assert cyconv.convolve(np.ones((6, 6)), np.ones((3, 3))).shape == (8, 8)


@pytest.mark.parametrize("a_dtype,v_dtype,want", [
    (np.int64, np.int64, np.float64), (np.int8, np.int8, np.float64),
    (np.bool_, np.bool_, np.float64), (np.float32, np.float32, np.float32),
    (np.float16, np.float16, np.float32), (np.int8, np.float32, np.float32),
    (np.int32, np.float32, np.float64), (np.float32, np.float64, np.float64),
])
def test_dtype_promotion(a_dtype, v_dtype, want):
    a = np.array([1, 0, 1, 1], dtype=a_dtype)
    v = np.array([1, 1], dtype=v_dtype)
    got = cyconv.convolve(a, v)
    assert got.dtype == want
    np.testing.assert_array_equal(got, np.convolve(a.astype(np.float64), v.astype(np.float64)))


def test_bad_inputs():
    with pytest.raises(TypeError, match="complex"):
        cyconv.convolve(np.ones(3, complex), np.ones(2))
    with pytest.raises(ValueError, match="mode"):
        cyconv.correlate(np.ones(3), np.ones(2), mode="circular")
    with pytest.raises(ValueError, match="empty"):
        cyconv.convolve(np.ones(0), np.ones(2))
    with pytest.raises(ValueError, match="same number of dims"):
        cyconv.convolve(np.ones((3, 3)), np.ones(2))
    with pytest.raises(ValueError, match="1-, 2- or 3-D"):
        cyconv.convolve(np.ones((2, 2, 2, 2)), np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="at least as large"):
        cyconv.convolve(np.ones((5, 2)), np.ones((2, 5)), mode="valid")


@given(st.integers(1, 3), st.sampled_from(["strided", "fortran", "swapped", "readonly",
                                            "list", "unaligned"]),
       st.sampled_from(MODES), st.booleans(), st.integers(0, 2**31 - 1))
def test_input_layouts(nd, layout, mode, conv, seed):
    """Inputs that are not C-contiguous native arrays (strided views,
    Fortran order, byte-swapped, read-only, nested lists, data off its
    itemsize alignment) give the result of their contiguous copies, and are
    left unchanged (convolve reverses v into a buffer of its own)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(tuple(rng.integers(1, 9, nd)))
    v = rng.standard_normal(tuple(rng.integers(1, 6, nd)))
    if mode == "valid" and nd > 1:
        v = v[tuple(slice(0, min(m, n)) for n, m in zip(a.shape, v.shape))]

    def layout_of(arr):
        if layout == "strided":
            big = np.repeat(arr, 2, axis=-1)
            return big[..., ::2]
        if layout == "fortran":
            return np.asfortranarray(arr)
        if layout == "swapped":
            return arr.astype(arr.dtype.newbyteorder())
        if layout == "readonly":
            arr = arr.copy()
            arr.flags.writeable = False
            return arr
        if layout == "list":
            return arr.tolist()
        raw = np.empty(arr.nbytes + 1, np.uint8)[1:]          # 1 byte off alignment
        out = raw.view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out

    fa, fv = layout_of(a), layout_of(v)
    before = (np.array(fa, copy=True), np.array(fv, copy=True))
    ours = cyconv.convolve if conv else cyconv.correlate
    got = ours(fa, fv, mode)
    want = ours(np.ascontiguousarray(a), np.ascontiguousarray(v), mode)
    assert got.dtype == np.float64 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(fa), before[0])
    np.testing.assert_array_equal(np.asarray(fv), before[1])
    if nd == 1:
        theirs = np.convolve if conv else np.correlate
        np.testing.assert_allclose(got, theirs(a, v, mode), rtol=0, atol=_tol(a, v, np.float64))


def test_large_signal_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(100_003)
    v = rng.standard_normal(31)
    for mode in MODES:
        np.testing.assert_allclose(cyconv.convolve(a, v, mode), np.convolve(a, v, mode),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(1100, 2048), (1000, 2101)])
def test_large_image_streamed_output(shape):
    """Outputs of 2 MiB and more are written with streaming stores (rows
    aligned or not, row-end outputs from padded copies): the same as
    the sum of shifted copies, through the signal API and the layer API
    (both allocate outputs this large aligned)."""
    rng = np.random.default_rng(3)
    img = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal((5, 5)).astype(np.float32)
    pad = np.pad(img.astype(np.float64), 2)
    want = sum(k[i, j] * pad[i:i + shape[0], j:j + shape[1]]
               for i in range(5) for j in range(5))
    bound = ref.sum_abs_bound(np.abs(pad).max() * np.abs(k).sum(), 25, np.float32)
    got = cyconv.correlate(img, k, "same")
    assert got.nbytes >= 2 << 20 and got.ctypes.data % 64 == 0
    assert np.abs(got - want).max() <= bound
    y = cyconv.conv2d(img[None, None], k[None, None], padding=2)[0, 0]
    assert np.abs(y - want).max() <= bound


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [700_001, 700_016])
def test_long_signal_streamed_output(n, dtype, num_threads):
    """A 1-D output of 2 MiB and more (streaming stores where a vector is
    64-byte aligned, the input read ahead by prefetches that run past its
    end) against numpy.convolve, through the signal API (aligned output) and
    the layer API into an aligned ``out`` and one a float off alignment
    (plain stores), on one thread and on two (each fences its streamed
    stores)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal(n).astype(dtype)
    v = rng.standard_normal(31).astype(dtype)
    want = np.convolve(a.astype(np.float64), v.astype(np.float64), "same")
    bound = ref.sum_abs_bound(np.abs(a).max() * np.abs(v).sum(), 31, dtype)
    got = cyconv.convolve(a, v, "same", num_threads=num_threads)
    assert got.nbytes >= 2 << 20 and got.ctypes.data % 64 == 0
    assert got.dtype == dtype and np.abs(got - want).max() <= bound
    buf = cyconv._dispatch.kernels.aligned_empty((n + 1,), dtype)
    for off in (0, 1):
        out = buf[off:off + n].reshape(1, 1, n)
        out[...] = np.nan
        y = cyconv.conv1d(a[None, None], v[None, None, ::-1].copy(), padding=15,
                          num_threads=num_threads, out=out)
        assert y is out and (out.ctypes.data % 64 == 0) == (off == 0)
        assert np.abs(y[0, 0] - want).max() <= bound


def test_docstring_examples():
    failures, tried = doctest.testmod(cyconv.signal)
    assert tried > 0 and failures == 0


def test_readme_examples():
    readme = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")
    failures, tried = doctest.testfile(readme, module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0

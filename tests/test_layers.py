"""Layer API against the float64 numpy reference, on randomized problems."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cyconv
from cyconv import _dispatch
import reference as ref
from strategies import conv_problems, out_shape

FORWARD = {1: cyconv.conv1d, 2: cyconv.conv2d, 3: cyconv.conv3d}
BACKWARD_INPUT = {1: cyconv.conv1d_backward_input, 2: cyconv.conv2d_backward_input,
                  3: cyconv.conv3d_backward_input}
BACKWARD_WEIGHT = {1: cyconv.conv1d_backward_weight, 2: cyconv.conv2d_backward_weight,
                   3: cyconv.conv3d_backward_weight}
TRANSPOSE = {1: cyconv.conv_transpose1d, 2: cyconv.conv_transpose2d,
             3: cyconv.conv_transpose3d}


def assert_close(got, want, want_abs, length, dtype):
    """|got - want| within the rounding bound of a length-`length` sum of
    products in `dtype` (see reference.sum_abs_bound); shapes identical."""
    assert got.shape == want.shape
    assert got.dtype == dtype
    err = np.abs(got.astype(np.float64) - want)
    bound = ref.sum_abs_bound(want_abs, length, dtype)
    assert np.all(err <= bound), f"max err {err.max()} (bound there {bound.flat[err.argmax()]})"


def _nd(p):
    return p["w"].ndim - 2


def _grad_out(p):
    """A random output gradient of the problem's forward output shape."""
    x, w = p["x"], p["w"]
    shape = (x.shape[0], w.shape[0]) + out_shape(x, w, p["stride"], p["pads"], p["dilation"])
    return p["rng"].standard_normal(shape).astype(x.dtype)


@given(conv_problems(), st.booleans())
def test_forward(p, generic):
    x, w, b = p["x"], p["w"], p["b"]
    f = cyconv.conv if generic else FORWARD[_nd(p)]
    y = f(x, w, b, stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
          groups=p["groups"])
    want = ref.conv(x, w, b, p["stride"], p["pads"], p["dilation"], p["groups"])
    want_abs = ref.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b),
                        p["stride"], p["pads"], p["dilation"], p["groups"])
    assert_close(y, want, want_abs, w[0].size + 1, x.dtype)


@given(conv_problems(), st.booleans())
def test_backward_input(p, generic):
    x, w = p["x"], p["w"]
    gy = _grad_out(p)
    f = cyconv.conv_backward_input if generic else BACKWARD_INPUT[_nd(p)]
    dx = f(gy, w, x.shape, stride=p["stride"], padding=p["padding"],
           dilation=p["dilation"], groups=p["groups"])
    want = ref.backward_input(gy, w, x.shape, p["stride"], p["pads"], p["dilation"], p["groups"])
    want_abs = ref.backward_input(np.abs(gy), np.abs(w), x.shape, p["stride"], p["pads"],
                                  p["dilation"], p["groups"])
    assert_close(dx, want, want_abs, w.shape[0] * w[0, 0].size, x.dtype)


@given(conv_problems(), st.booleans())
def test_backward_weight(p, generic):
    x, w = p["x"], p["w"]
    gy = _grad_out(p)
    f = cyconv.conv_backward_weight if generic else BACKWARD_WEIGHT[_nd(p)]
    dw = f(x, gy, w.shape, stride=p["stride"], padding=p["padding"],
           dilation=p["dilation"], groups=p["groups"])
    want = ref.backward_weight(x, gy, w.shape, p["stride"], p["pads"], p["dilation"],
                               p["groups"])
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), w.shape, p["stride"], p["pads"],
                                   p["dilation"], p["groups"])
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, x.dtype)


@st.composite
def transpose_problems(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    Cin = groups * draw(st.integers(1, 3))
    Coutg = draw(st.sampled_from([1, 2, 5, 17, 33]))
    kernel = tuple(draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd)))
    padding = tuple(draw(st.lists(st.integers(0, 2), min_size=nd, max_size=nd)))
    opad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    spatial = tuple(draw(st.lists(st.integers(1, 6), min_size=nd, max_size=nd)))
    outs = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, s, p, d, k, o in zip(spatial, stride, padding, dilation, kernel, opad)]
    if any(o < 1 for o in outs):
        spatial = tuple(n + 2 * p for n, p in zip(spatial, padding))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), Cin) + spatial).astype(dtype)
    w = rng.standard_normal((Cin, Coutg) + kernel).astype(dtype)
    b = rng.standard_normal(Coutg * groups).astype(dtype) if draw(st.booleans()) else None
    return x, w, b, stride, padding, opad, groups, dilation


@given(transpose_problems(), st.booleans())
def test_conv_transpose(problem, generic):
    x, w, b, stride, padding, opad, groups, dilation = problem
    f = cyconv.conv_transpose if generic else TRANSPOSE[w.ndim - 2]
    y = f(x, w, b, stride=stride, padding=padding, output_padding=opad, groups=groups,
          dilation=dilation)
    pads = [(p, p) for p in padding]
    want = ref.conv_transpose(x, w, b, stride, pads, opad, groups, dilation)
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), None if b is None else np.abs(b),
                                  stride, pads, opad, groups, dilation)
    assert_close(y, want, want_abs, w.shape[0] * w[0, 0].size + 1, x.dtype)


@given(st.integers(1, 3), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31 - 1))
def test_backward_bias(nd, dtype, seed):
    rng = np.random.default_rng(seed)
    gy = rng.standard_normal((3, 5) + (4,) * nd).astype(dtype)
    got = cyconv.conv_backward_bias(gy)
    want = gy.astype(np.float64).sum(axis=(0,) + tuple(range(2, 2 + nd)))
    assert got.dtype == dtype and got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=0, atol=ref.sum_abs_bound(
        np.abs(gy).astype(np.float64).sum(axis=(0,) + tuple(range(2, 2 + nd))), gy[:, 0].size, dtype).max())


# ---------------------------------------------------------------- gradients

def _inner(a, b):
    return float(np.vdot(a.astype(np.float64).ravel(), b.astype(np.float64).ravel()))


@given(conv_problems())
def test_adjoint_identities(p):
    """<conv(x, w), g> = <x, backward_input(g, w)> = <w, backward_weight(x, g)>."""
    x, w = p["x"].astype(np.float64), p["w"].astype(np.float64)
    kw = dict(stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
              groups=p["groups"])
    y = cyconv.conv(x, w, **kw)
    g = p["rng"].standard_normal(y.shape)
    a = _inner(y, g)
    b = _inner(x, cyconv.conv_backward_input(g, w, x.shape, **kw))
    c = _inner(w, cyconv.conv_backward_weight(x, g, w.shape, **kw))
    scale = _inner(np.abs(y), np.abs(g)) + _inner(np.abs(x), np.abs(x)) + 1e-300
    scale = max(scale, ref.conv(np.abs(x), np.abs(w), None, p["stride"], p["pads"],
                                p["dilation"], p["groups"]).ravel() @ np.abs(g).ravel())
    assert abs(a - b) <= 1e-10 * scale
    assert abs(a - c) <= 1e-10 * scale


@pytest.mark.parametrize("nd,stride,padding,dilation,groups", [
    (1, 2, 1, 1, 1), (2, (2, 1), 1, (1, 2), 2), (3, 1, "full", 1, 1),
    (2, 1, "same", 2, 1), (2, 3, ((1, 0), (0, 2)), 1, 1)])
def test_finite_differences(nd, stride, padding, dilation, groups):
    """Central differences of L = <conv(x, w, b), g> match the analytic gradients."""
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 2 * groups) + (5,) * nd)
    w = rng.standard_normal((3 * groups, 2) + (2,) * nd)
    b = rng.standard_normal(3 * groups)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = rng.standard_normal(cyconv.conv(x, w, b, **kw).shape)
    loss = lambda x_, w_, b_: _inner(cyconv.conv(x_, w_, b_, **kw), g)
    grads = {"x": cyconv.conv_backward_input(g, w, x.shape, **kw),
             "w": cyconv.conv_backward_weight(x, g, w.shape, **kw),
             "b": cyconv.conv_backward_bias(g)}
    h = 1e-6
    for name, arr in (("x", x), ("w", w), ("b", b)):
        for flat in rng.choice(arr.size, size=min(arr.size, 12), replace=False):
            e = np.zeros_like(arr)
            e.flat[flat] = h
            args = {"x": x, "w": w, "b": b}
            plus = dict(args, **{name: arr + e})
            minus = dict(args, **{name: arr - e})
            num = (loss(plus["x"], plus["w"], plus["b"]) - loss(minus["x"], minus["w"], minus["b"])) / (2 * h)
            assert abs(num - grads[name].flat[flat]) <= 1e-6 * (1 + abs(num)), name


# ---------------------------------------------------------------- threads

DETERMINISM_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((4, 24, 30, 34), (40, 24, 3, 3), 1, 1, 1, 1),
    ((3, 8, 33, 29), (16, 4, 5, 3), 2, 2, 1, 2),
    ((2, 16, 300), (32, 16, 7), 1, 3, 2, 1),
    ((2, 8, 6, 14, 14), (12, 8, 3, 3, 3), 1, 1, 1, 1),
    ((16, 3, 32, 32), (16, 3, 3, 3), 1, 1, 1, 1),
    ((4, 32, 20, 20), (32, 1, 3, 3), 1, 1, 1, 32),
    ((6, 1, 3000), (12, 1, 31), 1, 15, 1, 1),
    ((2, 40, 203), (48, 40, 8), 4, 2, 1, 1),     # backward-input / transpose: 4 woven phases
    ((3, 17, 19, 21), (48, 17, 5, 5), 1, 2, 1, 1),  # weight gradient: 3 batch chunks, the
                                                     # last wave's channel blocks split
    ((3, 17, 19, 21), (33, 17, 5, 5), 1, 2, 1, 1),  # weight gradient: 32 channels on the
                                                     # channel tiles, 1 on the width path
    ((1, 16, 4, 1100), (128, 16, 3, 3), 1, 1, 1, 1),  # weight gradient: rows cut into
                                                       # segments (same for every thread count)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DETERMINISM_CASES)
def test_bitwise_identical_across_threads(case, dtype):
    xs, ws, s, p, d, g = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    y0 = cyconv.conv(x, w, b, **kw, num_threads=1)
    gy = rng.standard_normal(y0.shape).astype(dtype)
    ops = {
        "forward": lambda nt: cyconv.conv(x, w, b, **kw, num_threads=nt),
        "backward_input": lambda nt: cyconv.conv_backward_input(gy, w, x.shape, **kw, num_threads=nt),
        "backward_weight": lambda nt: cyconv.conv_backward_weight(x, gy, w.shape, **kw, num_threads=nt),
        "transpose": lambda nt: cyconv.conv_transpose(gy, w, None, stride=s, padding=p,
                                                      dilation=d, groups=g, num_threads=nt),
    }
    for name, op in ops.items():
        first = op(1)
        for nt in (1, 2, 3, 4):
            again = op(nt)
            assert again.tobytes() == first.tobytes(), f"{name} differs at num_threads={nt}"



@pytest.mark.serial_policy
def test_small_work_runs_on_one_thread(monkeypatch):
    """Below SERIAL_WORK multiply-adds a layer call runs on one thread
    whatever num_threads asks; from it on, on num_threads.  The signal API
    has its own line.  (The kernels are spied on: the team size is what
    they are handed.)"""
    from cyconv import layers, signal
    default = layers.SERIAL_WORK
    seen = []
    for name in ("conv_forward", "conv_backward_input", "conv_backward_weight",
                 "correlate_signal"):
        real = getattr(_dispatch.kernels, name)
        def spy(*args, _real=real, **kw):
            seen.append(args[-2] if _real.__name__ == "correlate_signal" else args[-1])
            return _real(*args, **kw)
        spy.__name__ = name
        monkeypatch.setattr(_dispatch.kernels, name, spy)
    rng = np.random.default_rng(3)

    def layer_calls(size):
        x = rng.standard_normal((1, 8, size, size)).astype(np.float32)
        w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
        macs = 8 * size * size * 8 * 9
        y = cyconv.conv2d(x, w, padding=1, num_threads=2)
        cyconv.conv2d_backward_input(y, w, x.shape, padding=1, num_threads=2)
        cyconv.conv2d_backward_weight(x, y, w.shape, padding=1, num_threads=2)
        cyconv.conv_transpose2d(y, w, padding=1, num_threads=2)
        return macs

    seen.clear()
    assert layer_calls(8) < layers.SERIAL_WORK
    assert seen == [1, 1, 1, 1]
    seen.clear()
    assert layer_calls(200) >= layers.SERIAL_WORK
    assert seen == [2, 2, 2, 2]
    seen.clear()
    monkeypatch.setattr(layers, "SERIAL_WORK", 1)    # the line is read at each call
    layer_calls(8)
    assert seen == [2, 2, 2, 2]

    # depthwise: the forward and input gradient count DEPTHWISE_WORK per
    # multiply-add, the weight gradient one
    x = rng.standard_normal((1, 64, 32, 32)).astype(np.float32)
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32)
    monkeypatch.setattr(layers, "SERIAL_WORK", default)
    assert 64 * 32 * 32 * 9 < layers.SERIAL_WORK <= 64 * 32 * 32 * 9 * layers.DEPTHWISE_WORK
    seen.clear()
    y = cyconv.conv2d(x, w, padding=1, groups=64, num_threads=2)
    cyconv.conv2d_backward_input(y, w, x.shape, padding=1, groups=64, num_threads=2)
    cyconv.conv_transpose2d(y, w, padding=1, groups=64, num_threads=2)
    cyconv.conv2d_backward_weight(x, y, w.shape, padding=1, groups=64, num_threads=2)
    assert seen == [2, 2, 2, 1]

    a, v = rng.standard_normal(8192), rng.standard_normal(31)
    seen.clear()
    cyconv.convolve(a[:100], v, "same", num_threads=2)
    cyconv.convolve(a, v, "same", num_threads=2)
    assert 100 * 31 < signal.SERIAL_WORK <= 8192 * 31
    assert seen == [1, 2]


def test_geometry_cache_never_aliases_arguments_that_must_fail():
    """Repeated calls reuse their validated geometry (an LRU cache keyed by
    shapes and arguments) only for plain ints / strs / tuples of them: an
    argument equal to a cached one but invalid (True == 1, 1.0 == 1) still
    raises, every time, and a non-plain valid one (a list, np.int64) gives
    the same result uncached."""
    from cyconv import layers
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    before = layers._forward_shapes.cache_info().hits
    y = cyconv.conv2d(x, w, stride=1, padding=1)
    assert np.array_equal(cyconv.conv2d(x, w, stride=1, padding=1), y)
    assert layers._forward_shapes.cache_info().hits > before
    for bad in (dict(stride=True), dict(stride=1.0), dict(padding=(1, True)),
                dict(padding=1.0), dict(groups=True), dict(dilation=(1, 1.0))):
        for _ in range(2):
            with pytest.raises(TypeError):
                cyconv.conv2d(x, w, **{"stride": 1, "padding": 1, **bad})
    for same in (dict(padding=[1, 1]), dict(padding=np.int64(1)), dict(stride=(np.int32(1), 1)),
                 dict(padding=((1, 1), [1, 1]))):
        assert np.array_equal(cyconv.conv2d(x, w, **{"stride": 1, "padding": 1, **same}), y)
    with pytest.raises(ValueError, match="channels"):
        cyconv.conv2d(x[:, :3], w, padding=1)
    with pytest.raises(ValueError, match="channels"):
        cyconv.conv2d(x[:, :3], w, padding=1)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = cyconv.conv2d_backward_input(gy, w, x.shape, padding=1)
    assert np.array_equal(cyconv.conv2d_backward_input(gy, w, list(x.shape), padding=1), dx)
    with pytest.raises(TypeError):
        cyconv.conv2d_backward_input(gy, w, (2, 4, 9, 9.0), padding=1)
    dw = cyconv.conv2d_backward_weight(x, gy, w.shape, padding=1)
    assert np.array_equal(cyconv.conv2d_backward_weight(x, gy, list(w.shape), padding=1), dw)
    with pytest.raises(TypeError):
        cyconv.conv2d_backward_weight(x, gy, (6, 4, 3, True), padding=1)
    with pytest.raises(ValueError, match="output_padding"):
        cyconv.conv_transpose2d(gy, w, output_padding=1)

# ---------------------------------------------------------------- input forms

def test_noncontiguous_byteswapped_readonly_inputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 20, 22))[:, ::2, ::2, ::2]          # non-contiguous
    w = rng.standard_normal((4, 3, 3, 3)).astype(">f8")                # big-endian
    w.flags.writeable = False
    b = rng.standard_normal(4)
    b.flags.writeable = False
    y = cyconv.conv2d(x, w, b, padding=1)
    want = ref.conv(x, w.astype(np.float64), b, (1, 1), [(1, 1)] * 2, (1, 1), 1)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert y.dtype == np.float64 and y.flags.c_contiguous


def test_inputs_never_modified():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    for a in (x, w):
        a.flags.writeable = False
    x0, w0 = x.copy(), w.copy()
    y = cyconv.conv2d(x, w, padding=1)
    cyconv.conv2d_backward_input(y, w, x.shape, padding=1)
    cyconv.conv2d_backward_weight(x, y, w.shape, padding=1)
    assert np.array_equal(x, x0) and np.array_equal(w, w0)
    assert not np.may_share_memory(y, x)


def test_out_parameter():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    out = np.full((2, 6, 9, 9), np.nan, dtype=np.float32)
    y = cyconv.conv2d(x, w, padding=1, out=out)
    assert y is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x, w, padding=1))
    for bad in (np.empty((2, 6, 9, 8), np.float32), np.empty((2, 6, 9, 9), np.float64),
                np.empty((2, 6, 9, 18), np.float32)[..., ::2]):
        with pytest.raises(ValueError, match="out"):
            cyconv.conv2d(x, w, padding=1, out=bad)
    with pytest.raises(ValueError, match="overlap"):
        big = np.empty((2, 6, 9, 9), np.float32)
        cyconv.conv2d(big[:, :4], w, padding=1, out=big)


def test_dtype_rules():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float64)
    with pytest.raises(TypeError, match="x and w"):
        cyconv.conv2d(x, w)
    for dt in (np.int32, np.bool_, np.complex64, np.float16, object):
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            cyconv.conv2d(x.astype(dt), w.astype(np.float32))
    with pytest.raises(TypeError, match="bias"):
        cyconv.conv2d(x, w.astype(np.float32), bias=np.ones(3, np.float64))


def test_padding_same_even_kernel_is_asymmetric_like_torch(torch):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 8, 9))
    w = rng.standard_normal((3, 2, 4, 2))
    got = cyconv.conv2d(x, w, padding="same", dilation=(1, 3))
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same",
                                      dilation=(1, 3)).numpy()
    assert got.shape == x.shape[:1] + (3,) + x.shape[2:]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_full_padding_gives_m_plus_k_minus_1():
    x = np.ones((1, 1, 6, 6))
    w = np.ones((1, 1, 3, 3))
    assert cyconv.conv2d(x, w, padding="full").shape == (1, 1, 8, 8)


@pytest.mark.parametrize("shape_x,shape_w,groups", [
    ((0, 4, 8, 8), (6, 4, 3, 3), 1),     # N = 0
    ((0, 6, 8, 8), (4, 3, 3, 3), 2),     # N = 0, grouped
])
def test_empty_dimensions_like_torch(torch, shape_x, shape_w, groups):
    x = np.ones(shape_x, np.float32)
    w = np.ones(shape_w, np.float32)
    b = np.arange(shape_w[0], dtype=np.float32)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      padding=1, groups=groups).numpy()
    got = cyconv.conv2d(x, w, b, padding=1, groups=groups)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    gy = np.ones(got.shape, np.float32)
    gyt, wt, xt = torch.from_numpy(gy), torch.from_numpy(w), torch.from_numpy(x)
    dx = cyconv.conv2d_backward_input(gy, w, x.shape, padding=1, groups=groups)
    dw = cyconv.conv2d_backward_weight(x, gy, w.shape, padding=1, groups=groups)
    np.testing.assert_array_equal(
        dx, torch.nn.grad.conv2d_input(x.shape, wt, gyt, padding=1, groups=groups).numpy())
    np.testing.assert_array_equal(
        dw, torch.nn.grad.conv2d_weight(xt, w.shape, gyt, padding=1, groups=groups).numpy())


def test_zero_output_channels():
    """K = 0 (torch 2.13 raises here): an empty output, a zero input gradient."""
    x = np.ones((2, 4, 8, 8), np.float32)
    w = np.ones((0, 4, 3, 3), np.float32)
    y = cyconv.conv2d(x, w, padding=1)
    assert y.shape == (2, 0, 8, 8)
    dx = cyconv.conv2d_backward_input(y, w, x.shape, padding=1)
    assert dx.shape == x.shape and np.all(dx == 0)
    assert cyconv.conv2d_backward_weight(x, y, w.shape, padding=1).shape == w.shape


def test_zero_input_channels_gives_bias():
    """C = 0: every output is an empty sum plus the bias.  (torch 2.13 returns
    an output with 0 channels here; cyconv keeps the K output maps.)"""
    x = np.ones((2, 0, 8, 8), np.float32)
    w = np.ones((6, 0, 3, 3), np.float32)
    b = np.arange(6, dtype=np.float32)
    y = cyconv.conv2d(x, w, b, padding=1)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], (2, 6, 8, 8)))
    assert np.all(cyconv.conv2d(x, w, padding=1) == 0)
    gy = np.ones(y.shape, np.float32)
    assert cyconv.conv2d_backward_input(gy, w, x.shape, padding=1).shape == x.shape
    assert cyconv.conv2d_backward_weight(x, gy, w.shape, padding=1).shape == w.shape


def channel_tile_blocks(Cg, Kg, taps, dtype):
    """Input-channel blocks the channel tiles split a reduction of ``Cg``
    channels x ``taps`` into, for ``Kg`` output channels, in this build."""
    k = _dispatch.kernels
    kb = k.choose_kv(Kg, dtype) * k.lanes(dtype)
    return k.input_channel_blocks(Cg, taps * kb * np.dtype(dtype).itemsize)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,groups,blocks", [
    ((2, 100, 9, 11), (3, 100, 3, 3), 1, 1, 1, False),      # long reduction, few outputs
    ((1, 400, 5, 20), (32, 400, 5, 5), 1, 2, 1, True),      # input-channel blocks (2-5)
    ((1, 800, 9, 6), (40, 400, 7, 7), (2, 1), 3, 2, True),  # blocks x groups
    ((2, 70, 40), (5, 70, 9), 1, "same", 1, False),           # 1-D, long rows
    ((1, 64, 300), (2, 64, 5), 2, 2, 1, False),               # rows longer than one segment
    ((2, 17, 9, 41), (33, 17, 5, 5), 1, 2, 1, False),         # 33 = 2 blocks + 1 on the width path
    ((1, 34, 6, 30), (66, 17, 3, 3), 1, 1, 2, False),         # the same split in each of 2 groups
])
def test_large_reductions(xs, ws, stride, padding, groups, blocks, dtype):
    """Reductions long enough to be split into input-channel blocks (partial
    sums carried between blocks, checked to be several in this build), rows
    split into segments, and channel counts whose last few channels run on
    the width path."""
    if blocks:
        assert channel_tile_blocks(ws[1], ws[0] // groups, int(np.prod(ws[2:])), dtype) >= 2
    rng = np.random.default_rng(11)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    nd = w.ndim - 2
    kw = dict(stride=stride, padding=padding, groups=groups)
    y = cyconv.conv(x, w, **kw)
    s = stride if isinstance(stride, tuple) else (stride,) * nd
    if padding == "same":
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in w.shape[2:]]
    else:
        pads = [(padding, padding)] * nd
    want = ref.conv(x, w, None, s, pads, (1,) * nd, groups)
    want_abs = ref.conv(np.abs(x), np.abs(w), None, s, pads, (1,) * nd, groups)
    assert_close(y, want, want_abs, w[0].size, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    dx = cyconv.conv_backward_input(gy, w, x.shape, **kw)
    want = ref.backward_input(gy, w, x.shape, s, pads, (1,) * nd, groups)
    want_abs = ref.backward_input(np.abs(gy), np.abs(w), x.shape, s, pads, (1,) * nd, groups)
    assert_close(dx, want, want_abs, w.shape[0] * w[0, 0].size, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,opad,dilation", [
    # (input channels x taps of a phase > 32: the channel tiles, not the width path)
    ((2, 20, 300), (20, 40, 16), 8, 4, 0, 1),          # 8 phases woven, rows > one segment
    ((1, 17, 131), (17, 33, 4), 2, 1, 1, 1),           # 2 phases woven, odd output length
    ((1, 9, 40), (9, 20, 64), 16, 3, 0, 1),            # 16 phases woven, 10 in the last position
    ((2, 9, 6, 70), (9, 17, 3, 8), (2, 4), (1, 2), (1, 3), 1),  # 4 phases woven, 3 at the end
    ((1, 12, 290), (12, 20, 7), 3, 2, 2, 1),           # phases of 3 and 2 taps, n_q differ
    ((1, 1100, 50), (1100, 64, 16), 2, 1, 1, 1),       # woven, two channel vectors, several blocks
    ((1, 1100, 37), (1100, 32, 64), 8, 4, 3, 1),       # woven, 8 phases, several blocks
    ((1, 700, 5, 17), (700, 64, 6, 16), (2, 4), (1, 2), (1, 1), 1),  # woven 2-D, several blocks
    ((1, 40, 60), (40, 33, 9), 4, 3, 1, 2),            # stride 4, odd residues only: not woven
    ((2, 6, 5, 140), (6, 21, 3, 3), (2, 4), 1, (1, 1), (1, 2)),  # w phases with no taps (width path)
    ((1, 5, 3, 4, 150), (5, 18, 2, 2, 5), (1, 2, 3), (0, 1, 2), 0, 1),  # 3-D
])
def test_transposed_phases(xs, ws, stride, padding, opad, dilation, dtype):
    """Strided transposed convolutions on the channel path: the stride phases
    along w run together per row segment (segments, uneven and empty phases),
    and where every residue has taps and the stride is 2, 4, 8 or 16 they are
    woven into the output by vectors (whole positions, then the last one,
    which only some phases reach).  The cases marked "several blocks" split
    each phase's reduction into input-channel blocks in this build."""
    nd = len(ws) - 2
    tup = lambda v: v if isinstance(v, tuple) else (v,) * nd
    if xs[1] >= 700:
        taps = int(np.prod([-(-k // s) for k, s in zip(ws[2:], tup(stride))]))
        assert channel_tile_blocks(ws[0], ws[1], taps, dtype) >= 2
    rng = np.random.default_rng(13)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1]).astype(dtype)
    y = cyconv.conv_transpose(x, w, b, stride=stride, padding=padding, output_padding=opad,
                              dilation=dilation)
    pads = [(p, p) for p in tup(padding)]
    args = (tup(stride), pads, tup(opad), 1, tup(dilation))
    want = ref.conv_transpose(x, w, b, *args)
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), np.abs(b), *args)
    assert_close(y, want, want_abs, w.shape[0] * w[0, 0].size + 1, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,groups,dilation", [
    ((2, 64, 512), (64, 32, 16), 8, 0, 1, 1),      # 8 phases, rows 2 KiB apart
    ((1, 48, 256), (48, 20, 6), 3, 2, 2, 1),       # groups: each group's channels
    ((2, 40, 300), (40, 36, 5), 2, 4, 1, 2),       # dilation, padding past the ends
    ((2, 40, 28), (40, 36, 2), 2, 1, 1, 3),        # phases starting before and after 0
])
def test_transposed_phase_windows(xs, ws, stride, padding, groups, dilation, dtype):
    """1-D stride phases on the channel path (every phase reads the same
    input positions of a row segment, in place): the first and last
    positions of the input, NaN and inf included, reach exactly the outputs
    the reference sends them to, on any thread count, and the strided
    backward-input (the same kernels) agrees too."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal(xs).astype(dtype)
    x[0, 0, 0] = np.nan
    x[-1, -1, -1] = np.inf
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    kw = dict(stride=stride, padding=padding, groups=groups, dilation=dilation)
    args = ((stride,), [(padding, padding)], (0,), groups, (dilation,))
    with np.errstate(invalid="ignore"):
        want = ref.conv_transpose(x, w, b, *args)
    bad = ~np.isfinite(want)
    clean = np.where(np.isfinite(x), x, 0)
    want_abs = ref.conv_transpose(np.abs(clean), np.abs(w), np.abs(b), *args)
    one = cyconv.conv_transpose1d(x, w, b, **kw, num_threads=1)
    assert np.array_equal(bad, ~np.isfinite(one)) and bad.any()
    assert_close(np.where(bad, 0, one), np.where(bad, 0, want), want_abs,
                 w.shape[0] // groups * w.shape[2] + 1, dtype)
    for nt in (2, 3):
        assert np.array_equal(cyconv.conv_transpose1d(x, w, b, **kw, num_threads=nt), one,
                              equal_nan=True)
    # conv1d's backward-input with that stride (w is that conv's weight):
    # the same phases
    gy = clean
    n_in = (xs[2] - 1) * stride - 2 * padding + dilation * (ws[2] - 1) + 1
    dx = cyconv.conv1d_backward_input(gy, w, (xs[0], ws[1] * groups, n_in), **kw)
    assert_close(dx, ref.conv_transpose(gy, w, None, *args), want_abs,
                 w.shape[0] // groups * w.shape[2] + 1, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding", [
    ((1, 32, 2048), (32, 32, 16), 8, 4),          # 16384-long rows: streamed
    ((1, 32, 2048), (32, 32, 16), 8, 3),          # 16386: rows off their lines
    ((1, 16, 32, 32), (16, 128, 4, 4), 2, 1),     # 2-D rows of 64: streamed
])
def test_transposed_streamed_output(xs, ws, stride, padding, dtype):
    """Woven stride phases writing 2 MiB or more store non-temporally where
    every output row starts on a cache line: the transposed convolution
    against the reference on 1 and 2 threads (bitwise the same), and the
    strided backward-input (the same kernels) into its aligned output."""
    rng = np.random.default_rng(22)
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1]).astype(dtype)
    args = ((stride,) * nd, [(padding, padding)] * nd, (0,) * nd, 1, (1,) * nd)
    want = ref.conv_transpose(x, w, b, *args)
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), np.abs(b), *args)
    transpose = {1: cyconv.conv_transpose1d, 2: cyconv.conv_transpose2d}[nd]
    y = transpose(x, w, b, stride=stride, padding=padding, num_threads=1)
    assert y.nbytes >= 2 << 20 and y.ctypes.data % 64 == 0
    assert_close(y, want, want_abs, ws[0] * int(np.prod(ws[2:])) + 1, dtype)
    assert np.array_equal(transpose(x, w, b, stride=stride, padding=padding, num_threads=2), y)
    dx = BACKWARD_INPUT[nd](x, w, want.shape, stride=stride, padding=padding, num_threads=2)
    assert dx.ctypes.data % 64 == 0
    assert_close(dx, ref.conv_transpose(x, w, None, *args), want_abs,
                 ws[0] * int(np.prod(ws[2:])) + 1, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,opad,groups", [
    ((2, 40, 300), (40, 20, 16), 8, 4, 0, 1),        # the usual upsampler: padding s / 2
    ((1, 24, 301), (24, 7, 16), 8, 3, 5, 1),         # 4 + 3 channels, every phase offset
    ((2, 16, 100), (16, 9, 32), 16, 8, 0, 1),        # one position per float32 vector
    ((2, 32, 200), (32, 6, 16), 8, 13, 1, 2),        # groups, padding past a stride
    ((1, 32, 2048), (32, 32, 16), 8, 0, 0, 1),       # 2 MiB streamed, 2 alignment classes
    ((1, 16, 3, 130), (16, 5, 2, 16), (2, 8), (0, 4), (1, 0), 1),   # 2-D phases along h
    ((1, 8, 2, 2, 110), (8, 3, 2, 2, 16), (1, 1, 8), (0, 0, 4), 0, 1),  # 3-D, 4 tap rows
])
def test_phase_lanes(xs, ws, stride, padding, opad, groups, dtype):
    """Transposed convolutions with the stride phases in the vector lanes
    (AVX-512: a stride along w that divides the vector, with one or two
    positions per vector, and a kernel of whole strides there): against the
    reference, NaN and inf at the input rows' ends and an inf weight
    reaching exactly the outputs the reference sends them to (nothing
    multiplies an input outside the row), bitwise the same on 1 to 3
    threads; and the strided backward-input, which runs the same code."""
    nd = len(ws) - 2
    tup = lambda v: v if isinstance(v, tuple) else (v,) * nd
    k = _dispatch.kernels
    n_x = (xs[-1] - 1) * tup(stride)[-1] - 2 * tup(padding)[-1] + ws[-1] + tup(opad)[-1]
    gw = (n_x, xs[-1], ws[-1], tup(stride)[-1], tup(padding)[-1], 1)
    rows = int(np.prod([-(-kk // ss) for kk, ss in zip(ws[2:-1], tup(stride)[:-1])]))
    fit = k.phase_lanes_fit(gw, ws[1], ws[0] // groups, rows, dtype)
    VL, s_w = k.lanes(dtype), tup(stride)[-1]
    # one or two positions per vector, in one 64-bit broadcast
    expect = VL % s_w == 0 and VL // s_w * np.dtype(dtype).itemsize <= 8
    assert (fit > 0) == (expect and bool(k.PHASE_LANES))
    if _dispatch.variant == "avx512":
        assert k.PHASE_LANES
    rng = np.random.default_rng(31)
    x = rng.standard_normal(xs).astype(dtype)
    x[0, 0, ..., 0] = np.nan
    x[-1, -1, ..., -1] = np.inf
    x[0, -1, ..., 1] = -np.inf
    w = rng.standard_normal(ws).astype(dtype)
    if fit:
        # (the channel and width paths' zero-padded inputs meet it: NaN there)
        w[1, 0, ..., 3] = np.inf
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    pads = [(p, p) for p in tup(padding)]
    args = (tup(stride), pads, tup(opad), groups, (1,) * nd)
    with np.errstate(invalid="ignore"):
        want = ref.conv_transpose(x, w, b, *args)
    bad = ~np.isfinite(want)
    clean_x = np.where(np.isfinite(x), x, 0)
    clean_w = np.where(np.isfinite(w), w, 0)
    want_abs = ref.conv_transpose(np.abs(clean_x), np.abs(clean_w), np.abs(b), *args)
    kw = dict(stride=stride, padding=padding, output_padding=opad, groups=groups)
    with np.errstate(invalid="ignore"):
        one = cyconv.conv_transpose(x, w, b, **kw, num_threads=1)
        assert np.array_equal(bad, ~np.isfinite(one)) and bad.any() and not bad.all()
        length = ws[0] // groups * int(np.prod(ws[2:])) + 1
        assert_close(np.where(bad, 0, one), np.where(bad, 0, want), want_abs, length, dtype)
        for nt in (2, 3):
            assert np.array_equal(cyconv.conv_transpose(x, w, b, **kw, num_threads=nt), one,
                                  equal_nan=True)
    # the backward-input of the strided convolution with weight w (where
    # its padding (p, p - output_padding) is one): the same code
    fwd_pads = [(p, p - o) for p, o in zip(tup(padding), tup(opad))]
    if min(hi for _, hi in fwd_pads) < 0:
        return
    dx = cyconv.conv_backward_input(clean_x, clean_w, (xs[0], ws[1] * groups) + want.shape[2:],
                                    stride=stride, padding=fwd_pads, groups=groups,
                                    num_threads=2)
    want = ref.conv_transpose(clean_x, clean_w, None, *args)
    assert_close(dx, want, want_abs, length, dtype)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_phase_lanes_random(data):
    """Random 1-D transposed convolutions that the phase-lane tiles take in
    an AVX-512 build (stride 8 or 16 in float32, 8 in float64; whole
    strides of taps; rows of 768 outputs or more) against the reference."""
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    k = _dispatch.kernels
    s = data.draw(st.sampled_from([8, 16] if dtype == np.float32 else [8]))
    T = data.draw(st.integers(1, 3))
    groups = data.draw(st.integers(1, 2))
    cin = groups * data.draw(st.integers(-(-16 // T), 20))
    cout = data.draw(st.integers(1, 9))
    padding = data.draw(st.integers(0, 2 * s))
    opad = data.draw(st.integers(0, s - 1))
    n = data.draw(st.integers(-(-(768 + 2 * padding) // s), 160))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, n)).astype(dtype)
    w = rng.standard_normal((cin, cout, T * s)).astype(dtype)
    b = rng.standard_normal(cout * groups).astype(dtype) if data.draw(st.booleans()) else None
    gw = ((n - 1) * s - 2 * padding + T * s + opad, n, T * s, s, padding, 1)
    assert (k.phase_lanes_fit(gw, cout, cin // groups, 1, dtype) > 0) == bool(k.PHASE_LANES)
    y = cyconv.conv_transpose1d(x, w, b, stride=s, padding=padding, output_padding=opad,
                                groups=groups, num_threads=2)
    args = ((s,), [(padding, padding)], (opad,), groups, (1,))
    want = ref.conv_transpose(x, w, b, *args)
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), None if b is None else np.abs(b), *args)
    assert_close(y, want, want_abs, cin // groups * T * s + 1, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_short_rows_every_tile_cover(dtype):
    """Planes of 1 to 17 positions per side with 32 channels (two-vector
    channel tiles): every cover of a short row by the tile widths (5, 6
    and 7 in one tile on AVX-512, 4 + 1 etc. elsewhere) and of a short
    column of border positions, for the forward, the input gradient and
    the weight gradient, against the reference."""
    rng = np.random.default_rng(23)
    for side in range(1, 18):
        h = 1 + (side * 5) % 9                   # heights 1..9 beside the widths
        x = rng.standard_normal((2, 32, h, side)).astype(dtype)
        w = rng.standard_normal((32, 32, 3, 3)).astype(dtype)
        b = rng.standard_normal(32).astype(dtype)
        args = ((1, 1), [(1, 1), (1, 1)], (1, 1), 1)
        y = cyconv.conv2d(x, w, b, padding=1)
        assert_close(y, ref.conv(x, w, b, *args), ref.conv(np.abs(x), np.abs(w), np.abs(b), *args),
                     w[0].size + 1, dtype)
        gy = rng.standard_normal(y.shape).astype(dtype)
        dx = cyconv.conv2d_backward_input(gy, w, x.shape, padding=1)
        assert_close(dx, ref.backward_input(gy, w, x.shape, *args),
                     ref.backward_input(np.abs(gy), np.abs(w), x.shape, *args), w[0].size, dtype)
        dw = cyconv.conv2d_backward_weight(x, gy, w.shape, padding=1)
        assert_close(dw, ref.backward_weight(x, gy, w.shape, *args),
                     ref.backward_weight(np.abs(x), np.abs(gy), w.shape, *args),
                     gy[:, 0].size, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_beyond_the_caches(dtype):
    """Packed weights of 16 MiB and more (the channel tiles run all rows of a
    block together): the forward and the input gradient (its swapped weights
    as large) against the reference on a small plane, the last block partly
    padding (12 of 16 channels; float64 4 of 8), the same bits on 1 and 2
    threads."""
    rng = np.random.default_rng(41)
    C, K = (512, 1004) if dtype == np.float32 else (508, 516)
    assert _dispatch.kernels.aligned_empty(1, dtype).itemsize * C * 9 * K >= 16 << 20
    x = rng.standard_normal((1, C, 5, 4)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    args = ((1, 1), [(1, 1), (1, 1)], (1, 1), 1)
    y = cyconv.conv2d(x, w, b, padding=1, num_threads=1)
    assert_close(y, ref.conv(x, w, b, *args), ref.conv(np.abs(x), np.abs(w), np.abs(b), *args),
                 w[0].size + 1, dtype)
    assert cyconv.conv2d(x, w, b, padding=1, num_threads=2).tobytes() == y.tobytes()
    gy = rng.standard_normal(y.shape).astype(dtype)
    dx = cyconv.conv2d_backward_input(gy, w, x.shape, padding=1, num_threads=1)
    assert_close(dx, ref.backward_input(gy, w, x.shape, *args),
                 ref.backward_input(np.abs(gy), np.abs(w), x.shape, *args), K * 9, dtype)
    assert cyconv.conv2d_backward_input(gy, w, x.shape, padding=1,
                                        num_threads=2).tobytes() == dx.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation", [
    ((1, 256, 7, 7), (512, 256, 3, 3), 1, 1, 1),       # whole blocks
    ((2, 256, 5, 6), (140, 256, 3, 3), 1, 1, 1),       # 140: a partial last block
    ((2, 256, 5, 6), (130, 256, 3, 3), 1, 1, 1),       # 128 and 2 on the width path
    ((1, 128, 9, 11), (160, 128, 5, 3), 2, (2, 1), 1), # stride 2, taps of 5 x 3
    ((1, 256, 10, 10), (160, 256, 3, 3), 1, 2, 2),     # dilation 2
    ((3, 512, 30), (160, 512, 9), 1, 4, 1),            # 1-D
    ((1, 64, 4, 5, 6), (160, 64, 3, 3, 3), 1, 1, 1),   # 3-D
])
def test_block_packing(xs, ws, stride, padding, dilation, dtype):
    """Weights over few output positions: each thread packs the weights of
    the output-channel block it runs, just before its rows.
    Against the reference with a bias, the same bits as the whole-tensor
    packing (taken by enough threads to leave fewer than 4 blocks each), a
    NaN weight reaching only its output channel."""
    nd = len(ws) - 2
    rng = np.random.default_rng(43)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    y = FORWARD[nd](x, w, b, num_threads=1, **kw)
    norm = lambda v: (v,) * nd if isinstance(v, int) else v
    st_, pd, dl = norm(stride), norm(padding), norm(dilation)
    axes = [(n, k, s, d, -p, m, m, 1, 0) for n, k, s, d, p, m
            in zip(xs[2:], ws[2:], st_, dl, pd, y.shape[2:])]
    axes = [(1, 1, 1, 1, 0, 1, 1, 1, 0)] * (3 - nd) + axes
    kern = _dispatch.kernels
    kv, VL = kern.choose_kv(ws[0], dtype), kern.lanes(dtype)
    Kt = ws[0] - kern.left_over_channels(ws[0], kv * VL, VL)    # on the channel tiles
    nkb = -(-Kt // (kv * VL))
    threads = (1, 2, nkb // 4 + 1)          # the last one packs the whole tensor
    for t in threads:
        assert kern.block_packing(xs[0], 1, xs[1], Kt, kv, *axes, False, t,
                                  dtype) == (t < threads[-1])
    assert not kern.block_packing(xs[0], 1, xs[1], Kt, kv, *axes, True, 1, dtype)
    args = (st_, [(p, p) for p in pd], dl, 1)
    assert_close(y, ref.conv(x, w, b, *args), ref.conv(np.abs(x), np.abs(w), np.abs(b), *args),
                 w[0].size + 1, dtype)
    for t in threads[1:]:
        assert np.array_equal(FORWARD[nd](x, w, b, num_threads=t, **kw), y)
    w[37, 5].flat[0] = np.nan
    got = FORWARD[nd](x, w, b, num_threads=2, **kw)
    assert np.isnan(got[:, 37]).any()
    assert np.array_equal(np.delete(got, 37, axis=1), np.delete(y, 37, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gs,ws,padding", [
    ((1, 160, 7, 7), (160, 512, 1, 1), 0),     # 1x1 onto 512 channels
    ((2, 48, 6, 6), (48, 256, 3, 3), 1),       # 3x3
    ((1, 40, 9, 5), (40, 200, 3, 3), 1),       # 200 channels: a partial last block
])
def test_block_packing_input_gradient(gs, ws, padding, dtype):
    """The input gradient's swapped weights packed block by block (small
    weights, several threads): the same bits as on one thread (the
    whole-tensor packing), against the reference."""
    rng = np.random.default_rng(44)
    gy = rng.standard_normal(gs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    xs = (gs[0], ws[1]) + tuple(n + 1 - k + 2 * padding for n, k in zip(gs[2:], ws[2:]))
    dx = cyconv.conv2d_backward_input(gy, w, xs, padding=padding, num_threads=1)
    args = ((1, 1), [(padding, padding)] * 2, (1, 1), 1)
    assert_close(dx, ref.backward_input(gy, w, xs, *args),
                 ref.backward_input(np.abs(gy), np.abs(w), xs, *args), w[:, 0].size, dtype)
    for t in (2, 3):
        assert np.array_equal(cyconv.conv2d_backward_input(gy, w, xs, padding=padding,
                                                           num_threads=t), dx)


def test_phase_lanes_rows_without_taps():
    """A strided backward-input whose last input row is read by no output
    (9 rows, kernel 2, stride 2 along h): that row is zero, the others
    agree with the reference, on the phase-lane path where this build has
    it (rows of 1024 along w)."""
    rng = np.random.default_rng(32)
    gy = rng.standard_normal((2, 24, 4, 127)).astype(np.float32)
    w = rng.standard_normal((24, 8, 2, 16)).astype(np.float32)
    xshape = (2, 8, 9, 1024)
    dx = cyconv.conv2d_backward_input(gy, w, xshape, stride=(2, 8), padding=0, num_threads=2)
    want = ref.backward_input(gy, w, xshape, (2, 8), [(0, 0), (0, 0)], (1, 1), 1)
    want_abs = ref.backward_input(np.abs(gy), np.abs(w), xshape, (2, 8), [(0, 0), (0, 0)],
                                  (1, 1), 1)
    assert_close(dx, want, want_abs, 24 * 2 * 16, np.float32)
    assert not dx[:, :, 8].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose,xs,ws,stride,padding", [
    (True, (1, 40, 300), (40, 32, 16), 8, 4),     # 8 woven phases, 19 segments
    (True, (2, 24, 131), (24, 20, 5), 3, 1),      # 3 phases, not woven
    (False, (1, 12, 2100), (16, 12, 7), 1, 3),    # forward, one row of 19 segments (avx512)
    (False, (3, 5, 700), (40, 5, 4), 2, 0),       # strided, two channel blocks
    # rows whose input window (all channels) exceeds the chunk size, with
    # several channel blocks: 3 chunks (float32; 5 in float64) per row
    (False, (2, 64, 2100), (64, 64, 9), 1, 4),
    (True, (1, 64, 1100), (64, 64, 4), 2, 1),     # 2 woven phases, 2 chunks (float64: 3)
])
def test_few_rows_split_for_threads(transpose, xs, ws, stride, padding, dtype):
    """1-D layers with fewer rows than 4 per thread, or rows whose input
    window is larger than a chunk's, run each row in chunks of whole
    segments, one chunk per work item: any thread count gives the
    reference's result, bitwise the same as one thread."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    k = ws[1] if transpose else ws[0]
    b = rng.standard_normal(k).astype(dtype)
    if transpose:
        run = lambda nt: cyconv.conv_transpose1d(x, w, b, stride=stride, padding=padding,
                                                 num_threads=nt)
        args = ((stride,), [(padding, padding)], (0,), 1, (1,))
        want = ref.conv_transpose(x, w, b, *args)
        want_abs = ref.conv_transpose(np.abs(x), np.abs(w), np.abs(b), *args)
        terms = w.shape[0] * w[0, 0].size + 1
    else:
        run = lambda nt: cyconv.conv1d(x, w, b, stride=stride, padding=padding, num_threads=nt)
        args = ((stride,), [(padding, padding)], (1,), 1)
        want = ref.conv(x, w, b, *args)
        want_abs = ref.conv(np.abs(x), np.abs(w), np.abs(b), *args)
        terms = w[0].size + 1
    one = run(1)
    assert_close(one, want, want_abs, terms, dtype)
    for nt in (2, 3, 4):
        assert np.array_equal(run(nt), one)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding,groups,dilation", [
    ((2, 6, 40, 45), (6, 1, 3, 3), 1, 6, 1),            # depthwise
    ((1, 2, 50, 4500), (2, 1, 5, 5), 2, 2, 1),          # several row blocks and segments
    ((1, 1, 9000), (3, 1, 31), 15, 1, 1),                # long 1-D rows, few outputs
    ((2, 3, 13000), (1, 3, 37), 18, 1, 1),               # kernel > a vector, input in place
    ((1, 1, 30, 8300), (1, 1, 3, 19), (1, 9), 1, 1),     # the same over row blocks
    ((1, 2, 3, 300), (2, 1, 2, 12), (0, 3), 2, 1),       # kernel 8 < 12 < 16 taps
    ((2, 40, 7, 70), (3, 40, 3, 3), (0, 2), 1, (2, 3)),  # many input channels, few outputs
    ((2, 6, 9, 200), (3, 6, 3, 3), 1, 1, 1),             # 3 channels x 7 vectors per tile
    ((2, 5, 9, 150), (4, 5, 3, 3), 1, 1, 1),             # 4 channels x 6 vectors
    ((2, 1, 700), (40, 1, 31), 15, 1, 1),                # short reduction, many outputs
    ((1, 2, 20, 70), (24, 2, 3, 3), 1, 1, 1),            # the same in 2-D
    # padded windows read in place, the kernels masking rows and lanes:
    ((2, 4, 20, 56), (4, 1, 3, 3), 1, 4, 1),             # depthwise, 56-wide rows
    ((1, 3, 10, 70), (3, 1, 3, 5), (2, 20), 3, 1),       # padding wider than a vector
    ((2, 3, 21, 50), (3, 1, 3, 3), (3, 4), 3, (2, 3)),   # dilation along h and w
    ((2, 5, 17, 40), (1, 5, 3, 3), 1, 1, 1),             # 5 channels onto one
    ((2, 2, 6, 40), (2, 1, 3, 3), (4, 1), 2, 1),         # output rows reading no input
    ((4, 3, 100), (3, 1, 5), 2, 3, 1),                   # 1-D depthwise
    # tall depthwise: several 4-row blocks with all their input rows inside
    ((2, 3, 30, 23), (3, 1, 3, 3), 1, 3, 1),             # rows of 2 vectors
    ((2, 2, 31, 12), (2, 1, 3, 3), 1, 2, 1),             # rows of one vector
    ((1, 2, 26, 60), (2, 1, 5, 5), 2, 2, 1),             # 5 kernel rows
    ((2, 2, 33, 40), (2, 1, 7, 3), 3, 2, 1),             # 7 kernel rows
])
def test_width_path(xs, ws, padding, groups, dilation, dtype):
    """Few output channels per group, or a short reduction: vectors along
    the output positions, over input windows (in place or zero-padded
    copies) split into row blocks and segments."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    nd = w.ndim - 2
    pad = padding if isinstance(padding, tuple) else (padding,) * nd
    dil = dilation if isinstance(dilation, tuple) else (dilation,) * nd
    pads = [(p, p) for p in pad]
    kw = dict(padding=pad, groups=groups, dilation=dil)
    y = cyconv.conv(x, w, b, **kw)
    want = ref.conv(x, w, b, (1,) * nd, pads, dil, groups)
    want_abs = ref.conv(np.abs(x), np.abs(w), np.abs(b), (1,) * nd, pads, dil, groups)
    assert_close(y, want, want_abs, w[0].size + 1, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    dx = cyconv.conv_backward_input(gy, w, x.shape, **kw)
    want = ref.backward_input(gy, w, x.shape, (1,) * nd, pads, dil, groups)
    want_abs = ref.backward_input(np.abs(gy), np.abs(w), x.shape, (1,) * nd, pads, dil, groups)
    assert_close(dx, want, want_abs, w.shape[0] * w[0, 0].size, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding,groups,dilation", [
    ((2, 1, 30, 700), (1, 1, 5, 5), 2, 1, 1),            # one channel (image)
    ((3, 2, 20, 600), (2, 1, 3, 21), (1, 10), 2, 1),     # kernel longer than a vector
    ((2, 1, 20, 1000), (3, 1, 3, 5), (1, 4), 1, (1, 2)), # 3 channels, dilation
    ((2, 2, 20, 45), (5, 2, 3, 3), 1, 1, 1),             # 5 channels (two at a time), tails
    ((3, 1, 2000), (1, 1, 9), 4, 1, 1),                  # 1-D: rows are whole images
    ((2, 4, 20, 56), (4, 1, 3, 3), 1, 4, 1),             # depthwise: lanes masked
    ((1, 3, 10, 70), (3, 1, 3, 5), (2, 20), 3, 1),       # padding wider than a vector
    ((2, 3, 21, 50), (3, 1, 3, 3), (3, 4), 3, (1, 3)),   # dilation along w
])
@pytest.mark.parametrize("column", [0, 1, -1])
def test_row_ends_read_in_place(xs, ws, padding, groups, dilation, dtype, column):
    """Long padded rows are read in place: the outputs at the row ends read
    the rows beside and are recomputed from a zero-padded copy.  NaN, inf or
    a huge value in an input column next to a row end must reach exactly the
    outputs whose windows hold it (never the other end of the rows beside)."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal(xs).astype(dtype)
    x[..., column] = {0: np.nan, 1: 1e30, -1: np.inf}[column]
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    nd = w.ndim - 2
    pad = padding if isinstance(padding, tuple) else (padding,) * nd
    dil = dilation if isinstance(dilation, tuple) else (dilation,) * nd
    kw = dict(padding=pad, groups=groups, dilation=dil)
    y = cyconv.conv(x, w, b, **kw)
    with np.errstate(invalid="ignore", over="ignore"):
        want = ref.conv(x, w, b, (1,) * nd, [(p, p) for p in pad], dil, groups)
    bad = ~np.isfinite(want) | (np.abs(want) > 1e20)
    assert np.array_equal(bad, ~np.isfinite(y) | (np.abs(y) > 1e20))
    clean = np.where(bad, 0, want)
    want_abs = ref.conv(np.abs(np.where(np.isfinite(x), x, 0)), np.abs(w), np.abs(b),
                        (1,) * nd, [(p, p) for p in pad], dil, groups)
    assert_close(np.where(bad, 0, y), clean, want_abs, w[0].size + 1, dtype)
    # the weight gradient reads the same rows in place (masked lanes)
    gy = rng.standard_normal(y.shape).astype(dtype)
    args = ((1,) * nd, [(p, p) for p in pad], dil, groups)
    with np.errstate(invalid="ignore", over="ignore"):   # inf + -inf lane sums
        dw = cyconv.conv_backward_weight(x, gy, w.shape, **kw)
        want = ref.backward_weight(x, gy, w.shape, *args)
    bad = ~np.isfinite(want) | (np.abs(want) > 1e20)
    assert np.array_equal(bad, ~np.isfinite(dw) | (np.abs(dw) > 1e20))
    want_abs = ref.backward_weight(np.abs(np.where(np.isfinite(x), x, 0)), np.abs(gy),
                                   w.shape, *args)
    assert_close(np.where(bad, 0, dw), np.where(bad, 0, want), want_abs,
                 gy.shape[0] * gy[0, 0].size, dtype)


# several output channels on the width path over padded windows read in
# place (forward, and backward-input onto few channels, stride phases too):
# x shape, w shape, stride, padding, dilation
MASKED_CHANNEL_CASES = [
    ((3, 64, 30, 34), (64, 3, 7, 7), 2, 3, 1),     # the stem's input gradient, smaller
    ((3, 16, 20, 56), (16, 3, 3, 3), 1, 1, 1),     # onto 3 channels, 56-wide rows
    ((3, 12, 15, 23), (12, 5, 5, 5), 2, 2, 1),     # 5 channels (4 + 1), rows < 2 vectors
    ((3, 8, 12, 80), (8, 2, 3, 4), (1, 2), (2, 3), 1),  # strides 1 x 2, 4 taps along w
    ((3, 8, 11, 70), (8, 3, 3, 3), 1, (1, 18), (1, 1)),  # padding wider than a vector
    ((3, 8, 11, 60), (8, 2, 3, 3), 1, (2, 3), (2, 3)),   # dilated
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gs,ws,stride,padding,dilation", MASKED_CHANNEL_CASES)
def test_masked_channel_tiles(gs, ws, stride, padding, dilation, dtype):
    """The width path's several-channel tiles read padded windows in place
    (lanes left or right of a row zeroed, tap rows outside the input
    skipped) except where a window would leave the array (the first and
    last images' border rows: a zero-padded copy).  Both are the same sums
    in the same order: identical images give identical outputs wherever
    they sit in the batch; against the reference; and NaN or inf next to
    a row end reaches exactly the outputs whose windows hold it."""
    rng = np.random.default_rng(15)
    nd = len(ws) - 2
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    tup = lambda v: v if isinstance(v, tuple) else (v,) * nd
    args = (tup(stride), [(p, p) for p in tup(padding)], tup(dilation), 1)
    # backward-input onto ws[1] channels: gy (N, ws[0], ...) -> dx
    xshape = (gs[0], ws[1]) + tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + 1
        for n, s, p, d, k in zip(gs[2:], tup(stride), tup(padding), tup(dilation), ws[2:]))
    w = rng.standard_normal(ws).astype(dtype)
    gy = np.repeat(rng.standard_normal((1,) + gs[1:]).astype(dtype), gs[0], axis=0)
    dx = cyconv.conv_backward_input(gy, w, xshape, **kw)
    assert np.array_equal(dx[1], dx[0]) and np.array_equal(dx[2], dx[0])
    want = ref.backward_input(gy, w, xshape, *args)
    want_abs = ref.backward_input(np.abs(gy), np.abs(w), xshape, *args)
    assert_close(dx, want, want_abs, ws[0] * w[0, 0].size, dtype)
    # forward onto 4 channels (few: the width path) over an input of ws[1]
    # channels
    wf = rng.standard_normal((4,) + ws[1:]).astype(dtype)
    x = np.repeat(rng.standard_normal((1, wf.shape[1]) + xshape[2:]).astype(dtype), 3, axis=0)
    b = rng.standard_normal(wf.shape[0]).astype(dtype)
    y = cyconv.conv(x, wf, b, **kw)
    assert np.array_equal(y[1], y[0]) and np.array_equal(y[2], y[0])
    want = ref.conv(x, wf, b, *args)
    want_abs = ref.conv(np.abs(x), np.abs(wf), np.abs(b), *args)
    assert_close(y, want, want_abs, wf[0].size + 1, dtype)
    # a non-finite value beside each row end of the middle image
    for column, value in ((0, np.nan), (-1, np.inf), (1, -np.inf)):
        g = gy.copy()
        g[1, :, ..., column] = value
        with np.errstate(invalid="ignore"):
            dx = cyconv.conv_backward_input(g, w, xshape, **kw)
            want = ref.backward_input(g, w, xshape, *args)
        assert np.array_equal(~np.isfinite(dx), ~np.isfinite(want)), column


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding,groups,dilation", [
    ((5, 6, 30, 40), (6, 1, 3, 3), 1, 6, 1),            # depthwise
    ((2, 2, 40, 4500), (2, 1, 3, 11), (1, 5), 2, (1, 2)),  # row blocks, segments, >8 taps
    ((17, 1, 900), (3, 1, 9), 4, 1, 3),                  # batch chunks, few outputs
    ((2, 2, 12000), (1, 2, 21), 10, 1, 1),               # long rows read in place
    ((3, 1, 5000), (10, 1, 31), 15, 1, 1),               # short reduction: gy rows x taps
    ((3, 2, 3000), (8, 2, 15), 7, 1, 1),                 # the same, 2 channels
    ((2, 2, 20, 60), (6, 2, 2, 7), (1, 3), 1, 1),        # the same in 2-D, row by row
    ((2, 3, 30, 41), (9, 3, 3, 3), 1, 1, 1),             # 2-D row blocks (wh), 3 channels
    ((6, 3, 32, 32), (16, 3, 3, 3), 1, 1, 1),            # gy channels two at a time
    ((2, 4, 20, 50), (10, 2, 3, 4), 1, 2, (1, 2)),       # groups, dilation
])
def test_width_path_weight_gradient(xs, ws, padding, groups, dilation, dtype):
    rng = np.random.default_rng(13)
    x = rng.standard_normal(xs).astype(dtype)
    w_shape = ws
    nd = len(ws) - 2
    pad = padding if isinstance(padding, tuple) else (padding,) * nd
    dil = dilation if isinstance(dilation, tuple) else (dilation,) * nd
    pads = [(p, p) for p in pad]
    out = tuple(n + 2 * p - d * (k - 1) for n, p, d, k in zip(xs[2:], pad, dil, ws[2:]))
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    dw = cyconv.conv_backward_weight(x, gy, w_shape, padding=pad, groups=groups, dilation=dil)
    want = ref.backward_weight(x, gy, w_shape, (1,) * nd, pads, dil, groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), w_shape, (1,) * nd, pads, dil, groups)
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)


def _check_weight_gradient_2d(xs, ws, padding, groups, dtype, seed, spots):
    """A stride-1 2-D weight gradient against the float64 reference, the
    same bits for 1 and 2 threads, and for each (row, column, value) of
    ``spots`` put into the input of the first and the last image, non-finite
    results exactly where the reference has them."""
    rng = np.random.default_rng(seed)
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [(p, p) for p in pad]
    x = rng.standard_normal(xs).astype(dtype)
    out = tuple(n + 2 * p - k + 1 for n, p, k in zip(xs[2:], pad, ws[2:]))
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    kw = dict(padding=pad, groups=groups)
    dw = cyconv.conv_backward_weight(x, gy, ws, num_threads=1, **kw)
    want = ref.backward_weight(x, gy, ws, (1, 1), pads, (1, 1), groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, (1, 1), pads, (1, 1), groups)
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    assert np.array_equal(dw, cyconv.conv_backward_weight(x, gy, ws, num_threads=2, **kw))
    for row, column, value in spots:
        for image in (0, -1):
            xv = x.copy()
            xv[image, :, row, column] = value
            with np.errstate(invalid="ignore"):
                got = cyconv.conv_backward_weight(xv, gy, ws, **kw)
                want = ref.backward_weight(xv, gy, ws, (1, 1), pads, (1, 1), groups)
            assert np.array_equal(np.isfinite(got), np.isfinite(want)), (image, row, column)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding,groups", [
    ((3, 4, 28, 28), (4, 1, 3, 3), 1, 4),        # depthwise: rows of 1.75 vectors
    ((2, 3, 14, 14), (3, 1, 3, 3), 1, 3),        # rows shorter than a vector
    ((2, 2, 9, 7), (2, 1, 3, 3), 1, 2),          # several rows per vector
    ((2, 2, 12, 33), (2, 1, 5, 5), 2, 2),        # two columns of padding
    ((2, 2, 10, 16), (2, 1, 5, 3), (2, 1), 2),   # rows of exactly one vector
    ((2, 2, 6, 40), (2, 1, 1, 5), (0, 2), 2),    # one tap row
    ((2, 2, 11, 21), (2, 1, 5, 1), (2, 0), 2),   # one tap column
    ((3, 2, 13, 30), (4, 2, 3, 3), 1, 1),        # gy channels two at a time
    ((2, 1, 3, 5), (1, 1, 3, 3), 1, 1),          # a tiny image
    ((1, 29, 7, 7), (29, 1, 3, 3), 1, 29),       # items of several groups, the last
    ((8, 30, 7, 7), (30, 1, 3, 3), 1, 30),       # block partial (one image, eight)
    ((2, 61, 6, 6), (61, 1, 5, 5), 2, 61),       # 5x5: blocks of fewer groups
])
def test_flat_weight_gradient_runs(xs, ws, padding, groups, dtype):
    """Same-width stride-1 layers whose weight gradient runs each block's
    rows as one flat sequence of positions (vectors spanning rows, a lane
    table for the columns each tap keeps): against the float64 reference;
    a non-finite input value at a row end or in a first or last row
    reaches only the taps that read it (not as the next row's padding, nor
    times the zero of a gy row outside the image); the same bits for 1 and
    2 threads."""
    _check_weight_gradient_2d(xs, ws, padding, groups, dtype, 29,
                              ((1, 0, np.nan), (1, -1, np.inf), (-1, 1, -np.inf),
                               (-2, -1, np.nan), (0, 0, np.inf)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding,groups", [
    ((2, 4, 30, 37), (4, 1, 7, 7), 3, 4),        # 7x7 depthwise: tap rows 3 + 3 + 1
    ((2, 3, 20, 64), (5, 3, 7, 7), 3, 1),        # several channels, rows of 4 vectors
    ((2, 4, 16, 100), (4, 1, 7, 7), 0, 4),       # no padding: the window in place
    ((1, 4, 30, 30), (4, 1, 5, 7), 2, 4),        # 5 tap rows: 3 + 2
    ((1, 3, 25, 40), (6, 1, 7, 6), (3, 2), 3),   # 6 taps along w
    ((2, 2, 19, 33), (2, 1, 1, 7), (0, 3), 2),   # one tap row, 7 along w
    ((1, 2, 9, 300), (2, 1, 6, 7), (2, 3), 2),   # a long row: several segments
    ((1, 2, 3, 18), (2, 1, 7, 7), 3, 2),         # fewer input rows than tap rows
])
def test_weight_gradient_tap_row_groups(xs, ws, padding, groups, dtype):
    """Kernels wider than 5 taps along w, whose row-block weight-gradient
    tiles hold fewer tap rows than the kernel has: the tap rows in groups,
    each reading the block's input rows from its first tap row on.  Against
    the float64 reference; a non-finite input value in a first or last row
    or at a row end reaches only the taps that read it; the same bits for
    1 and 2 threads."""
    _check_weight_gradient_2d(xs, ws, padding, groups, dtype, 37,
                              ((0, 0, np.nan), (1, -1, np.inf), (-1, 1, -np.inf),
                               (-3, -1, np.nan), (2, 3, np.inf)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,groups", [
    ((3, 4, 40), (4, 1, 5), 4),       # 1-D depthwise, rows of 2.5 vectors
    ((2, 2, 7), (2, 1, 3), 2),        # several rows (images' channels) per vector
    ((5, 3, 63), (8, 3, 3), 1),       # gy channels two at a time
    ((2, 1, 1), (1, 1, 3), 1),        # one position
])
def test_flat_weight_gradient_runs_1d(xs, ws, groups, dtype):
    """The flat weight-gradient runs on 1-D same-width layers (one row per
    channel): against the float64 reference, 1 and 2 threads the same bits."""
    rng = np.random.default_rng(31)
    x = rng.standard_normal(xs).astype(dtype)
    gy = rng.standard_normal((xs[0], ws[0], xs[2])).astype(dtype)
    p = ws[2] // 2
    dw = cyconv.conv_backward_weight(x, gy, ws, padding=p, groups=groups, num_threads=1)
    want = ref.backward_weight(x, gy, ws, (1,), [(p, p)], (1,), groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, (1,), [(p, p)], (1,), groups)
    assert_close(dw, want, want_abs, xs[0] * xs[2], dtype)
    assert np.array_equal(dw, cyconv.conv_backward_weight(x, gy, ws, padding=p, groups=groups,
                                                          num_threads=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", [
    ((8, 6, 7, 7), (6, 1, 3, 3), 1, 1, 1, 6),        # depthwise 7 x 7: 4 vectors a plane
    ((3, 5, 14, 14), (5, 1, 3, 3), 1, 1, 1, 5),      # 13 vectors: tiles of 8 and 5; an odd
                                                     # plane count, pairs across images
    ((2, 3, 7, 9), (3, 1, 5, 5), 1, 2, 1, 3),        # 5x5, two columns of padding
    ((2, 4, 12, 13), (4, 1, 3, 3), 1, 2, 2, 4),      # dilated
    ((2, 3, 9, 6), (3, 1, 3, 3), 1, (0, 1), 1, 3),   # no padding along h: fewer output rows
    ((2, 3, 5, 11), (3, 1, 3, 3), 1, (3, 1), 1, 3),  # padding wider than the kernel along h
    ((3, 2, 1, 7), (2, 1, 3, 3), 1, 1, 1, 2),        # one input row
    ((2, 6, 16, 15), (6, 1, 3, 1), 1, (1, 0), 1, 6),  # one tap column, 15 vectors
    ((2, 6, 9, 9), (3, 2, 3, 3), 1, 1, 1, 3),        # two input channels per output channel
    ((2, 4, 7, 7), (33, 4, 3, 3), 1, 1, 1, 1),       # the channel left over after 2 x 16
    ((3, 5, 28, 28), (5, 1, 3, 3), 2, 1, 1, 5),      # stride 2: the input as 4 phase planes
    ((2, 3, 27, 13), (3, 1, 3, 3), 2, 1, 1, 3),      # odd sizes: phases of unequal size
    ((2, 3, 56, 54), (3, 1, 5, 5), 2, 2, 1, 3),      # 756 outputs: 48 vectors, 6 tiles
    ((2, 3, 9, 10), (3, 1, 3, 3), (2, 1), 1, 1, 3),  # stride 2 along h only
    ((2, 3, 9, 10), (3, 1, 3, 3), (1, 2), 1, 1, 3),  # along w only
    ((1, 2, 20, 20), (2, 1, 3, 3), 2, 2, 2, 2),      # strided and dilated
    ((2, 2, 6, 7), (2, 1, 3, 3), 2, 0, 1, 2),        # strided, no padding
])
def test_flat_planes(xs, ws, stride, padding, dilation, groups, dtype):
    """Layers with one output channel per group (depthwise) whose output
    planes each run as one flat run of positions (vectors spanning rows, a
    lane table per tap for the positions whose input lies inside), two
    planes per tile: at stride 1 on planes whose rows are shorter than a
    vector, read in place; strided, from a copy of the input planes as
    their stride phases.  Forward and input gradient (at stride 1 the same
    path with the kernel flipped) against the float64 reference; a
    non-finite input value at a row end or in a first or last row reaches
    only the outputs that read it (not the next row's first output); the
    same bits for 1 and 2 threads."""
    rng = np.random.default_rng(41)
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [(p, p) for p in pad]
    dil = (dilation, dilation)
    st = stride if isinstance(stride, tuple) else (stride, stride)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=st, padding=pad, dilation=dilation, groups=groups)
    y = cyconv.conv2d(x, w, b, num_threads=1, **kw)
    want = ref.conv(x, w, b, st, pads, dil, groups)
    assert_close(y, want, ref.conv(np.abs(x), np.abs(w), np.abs(b), st, pads, dil, groups),
                 w[0].size + 1, dtype)
    assert np.array_equal(y, cyconv.conv2d(x, w, b, num_threads=2, **kw))
    gy = rng.standard_normal(y.shape).astype(dtype)
    dx = cyconv.conv2d_backward_input(gy, w, xs, num_threads=1, **kw)
    want = ref.backward_input(gy, w, xs, st, pads, dil, groups)
    assert_close(dx, want, ref.backward_input(np.abs(gy), np.abs(w), xs, st, pads, dil, groups),
                 w.shape[0] // groups * w[0, 0].size, dtype)
    assert np.array_equal(dx, cyconv.conv2d_backward_input(gy, w, xs, num_threads=2, **kw))
    for row, column, value in ((1, -1, np.nan), (0, 0, np.inf), (-1, -1, -np.inf),
                               (-2, 0, np.nan)):
        xv = x.copy()
        xv[-1, :, row % xs[2], column] = value
        got = cyconv.conv2d(xv, w, b, **kw)
        with np.errstate(invalid="ignore"):
            want = ref.conv(xv, w, b, st, pads, dil, groups)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (row, column)
        assert np.array_equal(np.isinf(got), np.isinf(want)), (row, column)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation", [
    ((3, 5, 28, 28), (5, 1, 3, 3), 2, 1, 1),        # 14 x 14 outputs: 13 vectors
    ((2, 3, 27, 13), (3, 1, 3, 3), 2, 1, 1),        # odd sizes: phases of unequal size
    ((2, 3, 56, 54), (3, 1, 5, 5), 2, 2, 1),        # 25 taps: 12 + 12 + 1 per tile
    ((2, 3, 9, 10), (3, 1, 3, 3), (2, 1), 1, 1),    # stride 2 along h only
    ((2, 3, 9, 10), (3, 1, 3, 3), (1, 2), 1, 1),    # along w only
    ((1, 2, 20, 20), (2, 1, 3, 3), 2, 2, 2),        # strided and dilated
    ((2, 2, 6, 7), (2, 1, 3, 3), 2, 0, 1),          # no padding
    ((2, 2, 5, 5), (2, 1, 3, 3), 2, 1, 1),          # one partial vector
    ((2, 4, 12, 13), (4, 1, 3, 3), 1, 2, 2),        # stride 1, dilated: read in place
    ((3, 3, 7, 7), (3, 1, 5, 5), 1, 4, 2),          # dilated 5x5 on a 7 x 7 plane
])
def test_flat_planes_weight_gradient(xs, ws, stride, padding, dilation, dtype):
    """The weight gradient of depthwise layers over flat output planes
    (each input plane read in place, or strided copied as its stride
    phases; every tap a dot product of the output gradient's plane with a
    masked shifted run) where the row-run tiles do not apply:
    against the float64 reference, the same bits for 1 and 2 threads, and a
    non-finite input value at a row end or in a first or last row reaching
    only the taps that read it."""
    rng = np.random.default_rng(43)
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [(p, p) for p in pad]
    st = stride if isinstance(stride, tuple) else (stride, stride)
    dil = (dilation, dilation)
    G = xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, p, d, k, s in zip(xs[2:], pad, dil, ws[2:], st))
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    kw = dict(stride=st, padding=pad, dilation=dilation, groups=G)
    dw = cyconv.conv2d_backward_weight(x, gy, ws, num_threads=1, **kw)
    want = ref.backward_weight(x, gy, ws, st, pads, dil, G)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, st, pads, dil, G)
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    assert np.array_equal(dw, cyconv.conv2d_backward_weight(x, gy, ws, num_threads=2, **kw))
    for row, column, value in ((1, -1, np.nan), (0, 0, np.inf), (-1, -1, -np.inf),
                               (-2, 0, np.nan)):
        xv = x.copy()
        xv[-1, :, row % xs[2], column] = value
        with np.errstate(invalid="ignore"):
            got = cyconv.conv2d_backward_weight(xv, gy, ws, **kw)
            want = ref.backward_weight(xv, gy, ws, st, pads, dil, G)
        assert np.array_equal(np.isfinite(got), np.isfinite(want)), (row, column)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,k,stride,padding", [
    ((2, 16, 7, 7), 3, 1, 1),            # one block of 16 channels (two in float64)
    ((1, 17, 7, 7), 3, 1, 1),            # one channel past the last whole block
    ((3, 40, 8, 9), 3, 1, 1),            # three blocks, the last partial
    ((2, 33, 10, 10), 5, 1, 2),          # 5x5 taps
    ((2, 18, 5, 5), 3, 1, 2),            # padding wider than the taps reach
    ((2, 24, 14, 14), 3, 2, 1),          # stride 2
    ((2, 20, 13, 11), 3, 2, 0),          # no padding, odd sizes, unread last column
    ((1, 16, 9, 9), 3, (2, 1), (1, 0)),  # stride and padding along h only
    ((2, 16, 12, 12), 5, 2, 2),          # 5x5 stride 2
])
def test_channel_lane_weight_gradient(xs, k, stride, padding, dtype):
    """The depthwise weight gradient with the channels in the vector lanes
    (small or strided planes): against the float64 reference, the same bits
    for 1, 2 and 3 threads, and non-finite values in the input (a row end,
    a corner) and in grad_out (a corner, next to the padding) non-finite
    exactly where the reference has them."""
    rng = np.random.default_rng(47)
    st_ = stride if isinstance(stride, tuple) else (stride, stride)
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [(p, p) for p in pad]
    G = xs[1]
    ws = (G, 1, k, k)
    x = rng.standard_normal(xs).astype(dtype)
    out = tuple((n + 2 * p - k) // s + 1 for n, p, s in zip(xs[2:], pad, st_))
    gy = rng.standard_normal((xs[0], G) + out).astype(dtype)
    kw = dict(stride=st_, padding=pad, groups=G)
    dw = cyconv.conv2d_backward_weight(x, gy, ws, num_threads=1, **kw)
    want = ref.backward_weight(x, gy, ws, st_, pads, (1, 1), G)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, st_, pads, (1, 1), G)
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    for nt in (2, 3):
        assert np.array_equal(dw, cyconv.conv2d_backward_weight(x, gy, ws, num_threads=nt, **kw))
    for which, (row, column), value in (("x", (1, -1), np.nan), ("x", (0, 0), np.inf),
                                        ("gy", (0, 0), np.inf), ("gy", (-1, -1), np.nan)):
        xv, gv = x.copy(), gy.copy()
        (xv if which == "x" else gv)[-1, -1, row, column] = value
        with np.errstate(invalid="ignore"):
            got = cyconv.conv2d_backward_weight(xv, gv, ws, **kw)
            want = ref.backward_weight(xv, gv, ws, st_, pads, (1, 1), G)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (which, row, column)
        assert np.array_equal(np.isinf(got), np.isinf(want)), (which, row, column)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,k,stride,padding", [
    ((2, 16, 7, 7), 3, 1, 1),
    ((1, 17, 7, 7), 3, 1, 1),            # one channel past the last whole block
    ((3, 40, 8, 9), 5, 1, 2),            # 5x5, three blocks
    ((2, 18, 5, 5), 3, 1, 2),            # padding wider than the taps reach
    ((2, 16, 7, 7), 5, 1, 4),            # an input-gradient offset past the kernel
    ((2, 16, 6, 6), 3, 1, 0),            # no padding
    ((2, 24, 14, 14), 3, 2, 1),          # stride 2 (forward only)
    ((2, 20, 13, 11), 3, 2, 0),
    ((1, 16, 9, 9), 3, (2, 1), (1, 0)),
])
def test_channel_lane_forward(xs, k, stride, padding, dtype):
    """The depthwise forward (and at stride 1 the input gradient, the same
    kernels with the taps flipped) with the channels in the vector lanes:
    against the float64 reference with a bias, the same bits for 1, 2 and 3
    threads, and non-finite values (an input corner, a weight: NaN where
    it meets the padding in the forward, not in the input gradient) exactly
    where the reference has them."""
    rng = np.random.default_rng(53)
    st_ = stride if isinstance(stride, tuple) else (stride, stride)
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    pads = [(p, p) for p in pad]
    G = xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((G, 1, k, k)).astype(dtype)
    b = rng.standard_normal(G).astype(dtype)
    kw = dict(stride=st_, padding=pad, groups=G)
    y = cyconv.conv2d(x, w, b, num_threads=1, **kw)
    want = ref.conv(x, w, b, st_, pads, (1, 1), G)
    assert_close(y, want, ref.conv(np.abs(x), np.abs(w), np.abs(b), st_, pads, (1, 1), G),
                 k * k + 1, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    dx = cyconv.conv2d_backward_input(gy, w, xs, num_threads=1, **kw)
    assert_close(dx, ref.backward_input(gy, w, xs, st_, pads, (1, 1), G),
                 ref.backward_input(np.abs(gy), np.abs(w), xs, st_, pads, (1, 1), G),
                 k * k, dtype)
    for nt in (2, 3):
        assert np.array_equal(y, cyconv.conv2d(x, w, b, num_threads=nt, **kw))
        assert np.array_equal(dx, cyconv.conv2d_backward_input(gy, w, xs, num_threads=nt, **kw))
    for which, value in (("x", np.nan), ("x", np.inf), ("w", np.inf), ("w", np.nan)):
        xv, wv = x.copy(), w.copy()
        if which == "x":
            xv[-1, -1, 0, -1] = value
        else:
            wv[-1, 0, 0, 0] = value
        with np.errstate(invalid="ignore"):
            got = cyconv.conv2d(xv, wv, b, **kw)
            want = ref.conv(xv, wv, b, st_, pads, (1, 1), G)
            dgot = cyconv.conv2d_backward_input(gy, wv, xs, **kw)
            dwant = ref.backward_input(gy, wv, xs, st_, pads, (1, 1), G)
        assert np.array_equal(np.isnan(got), np.isnan(want)), which
        assert np.array_equal(np.isinf(got), np.isinf(want)), which
        assert np.array_equal(np.isnan(dgot), np.isnan(dwant)), which
        assert np.array_equal(np.isinf(dgot), np.isinf(dwant)), which


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,cout,k,stride,padding,opad,dilation", [
    ((2, 4, 14, 14), 4, 3, 2, 1, 1, 1),      # the 28 x 28 upsampling of a depthwise layer
    ((3, 3, 7, 9), 3, 3, 2, 1, 0, 1),        # odd output sizes: phases of unequal size
    ((2, 3, 6, 6), 3, 1, 2, 0, 1, 1),        # 1x1: three of the four phases get no tap
    ((2, 6, 8, 8), 3, 3, 2, 1, 1, 1),        # two input channels per output channel
    ((2, 2, 9, 5), 2, 3, (2, 1), 1, (1, 0), 1),  # stride along h only
    ((2, 2, 9, 5), 2, 4, 2, 1, 0, 1),        # an even kernel: two taps per phase
    ((1, 2, 10, 10), 2, 3, 2, 2, 1, 2),      # dilated
])
def test_flat_planes_transposed(xs, cout, k, stride, padding, opad, dilation, dtype):
    """Depthwise strided transposed convolutions (the input gradient of
    strided depthwise layers) on flat runs per stride phase of the output:
    against the float64 reference with a bias (phases no tap reaches hold
    the bias), 1 and 2 threads the same bits, and a non-finite weight
    reaching only the outputs whose sums hold its products (no product with
    a padding value exists)."""
    rng = np.random.default_rng(47)
    G = cout if cout <= xs[1] else xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((xs[1], cout // G, k, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    st = stride if isinstance(stride, tuple) else (stride, stride)
    pd = (padding, padding)
    op = opad if isinstance(opad, tuple) else (opad, opad)
    kw = dict(stride=st, padding=pd, output_padding=op, groups=G, dilation=dilation)
    y = cyconv.conv_transpose2d(x, w, b, num_threads=1, **kw)
    pads = [(p, p) for p in pd]
    dil = (dilation, dilation)
    want = ref.conv_transpose(x, w, b, st, pads, op, G, dil)
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), np.abs(b), st, pads, op, G, dil)
    assert_close(y, want, want_abs, xs[1] // G * k * k + 1, dtype)
    assert np.array_equal(y, cyconv.conv_transpose2d(x, w, b, num_threads=2, **kw))
    wv = w.copy()
    wv[1, 0, k // 2, 0] = np.inf
    wv[-1, -1, 0, -1] = np.nan
    got = cyconv.conv_transpose2d(x, wv, b, **kw)
    with np.errstate(invalid="ignore"):
        want = ref.conv_transpose(x, wv, b, st, pads, op, G, dil)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.isinf(got), np.isinf(want))


@pytest.mark.parametrize("xs,ws,stride,padding,opad,groups", [
    ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), (3, 1, 2), (1, 0, 0), (2, 0, 0), 1),
    ((2, 3, 1, 4, 4), (3, 1, 1, 3, 3), (2, 2, 2), (0, 1, 1), (0, 1, 1), 3),
    ((2, 3, 1, 4, 4), (3, 1, 1, 3, 3), (1, 2, 2), (0, 1, 1), (0, 1, 1), 3),
])
def test_transposed_one_plane_deep(xs, ws, stride, padding, opad, groups):
    """3-D transposed convolutions one plane deep whose planes would fit the
    flat 2-D paths: only where the depth axis maps plane 0 onto plane 0 (no
    padding along it) may they take them; a depth padding that moves every
    product into the padding leaves the bias (zero) alone."""
    rng = np.random.default_rng(53)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    y = cyconv.conv_transpose3d(x, w, stride=stride, padding=padding, output_padding=opad,
                                groups=groups)
    pads = [(p, p) for p in padding]
    want = ref.conv_transpose(x, w, None, stride, pads, opad, groups, (1, 1, 1))
    want_abs = ref.conv_transpose(np.abs(x), np.abs(w), None, stride, pads, opad, groups,
                                  (1, 1, 1))
    assert_close(y, want, want_abs, w.shape[0] * w[0, 0].size + 1, np.float32)


def test_zero_extent_input_with_padding_gives_bias():
    """An input with a zero-length spatial dim but padding still has outputs
    (windows made only of padding): they equal the bias."""
    x = np.ones((2, 4, 0, 4, 6), np.float32)
    w = np.ones((4, 2, 1, 2, 2), np.float32)
    b = np.arange(4, dtype=np.float32)
    y = cyconv.conv3d(x, w, b, stride=(2, 1, 1), dilation=(2, 1, 2), padding=1, groups=2)
    assert y.shape == (2, 4, 1, 5, 6)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None, None], y.shape))
    dx = cyconv.conv3d_backward_input(np.ones_like(y), w, x.shape, stride=(2, 1, 1),
                                      dilation=(2, 1, 2), padding=1, groups=2)
    assert dx.shape == x.shape
    dw = cyconv.conv3d_backward_weight(x, np.ones_like(y), w.shape, stride=(2, 1, 1),
                                       dilation=(2, 1, 2), padding=1, groups=2)
    assert np.all(dw == 0)
    # 33 output channels: 32 on the channel tiles, 1 on the width path
    x2 = np.ones((2, 17, 0, 21), np.float32)
    gy2 = np.ones((2, 33, 2, 23), np.float32)
    dw2 = cyconv.conv2d_backward_weight(x2, gy2, (33, 17, 5, 5), padding=3)
    assert np.all(dw2 == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", [
    ((3, 17, 19, 21), (33, 17, 5, 5), 1, 2, 1, 1),      # 32 + 1
    ((2, 6, 12, 40), (18, 6, 3, 3), 1, 1, 1, 1),        # 16 + 2
    ((2, 8, 9, 30), (72, 4, 3, 3), 1, 1, 1, 2),         # 2 groups of 32 + 4 (float64: 5
                                                        # blocks of 8, no remainder path)
    ((2, 5, 300), (35, 5, 7), 1, 3, 2, 1),              # 1-D, dilated: 32 + 3 (float64:
                                                        # 5 blocks of 8)
    ((2, 7, 23, 31), (17, 7, 3, 3), 2, 1, 1, 1),        # stride 2: 16 + 1
    ((2, 128, 8, 8), (97, 128, 3, 3), 1, 1, 1, 1),      # 96 + 1, a sum large enough to
                                                        # be stored on several threads
])
def test_weight_gradient_channel_remainder(xs, ws, stride, padding, dilation, groups, dtype):
    """Output channels past the last whole channel block (a few of them) go
    to the width path, the others to the channel tiles, each reading its own
    channels of gy: against the reference, the same bits for any thread
    count."""
    rng = np.random.default_rng(23)
    x = rng.standard_normal(xs).astype(dtype)
    nd = len(ws) - 2
    pads = [(padding, padding)] * nd
    out = tuple((n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
                for n, k in zip(xs[2:], ws[2:]))
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = cyconv.conv_backward_weight(x, gy, ws, **kw, num_threads=1)
    want = ref.backward_weight(x, gy, ws, (stride,) * nd, pads, (dilation,) * nd, groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, (stride,) * nd, pads,
                                   (dilation,) * nd, groups)
    assert_close(got, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    for t in (2, 3, 4):
        assert cyconv.conv_backward_weight(x, gy, ws, **kw, num_threads=t).tobytes() == got.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation", [
    ((1, 16, 40, 40), (32, 16, 5, 5), 1, 2, 1),            # 2 bands of 20 rows
    ((2, 32, 37, 41), (16, 32, 5, 5), 1, 2, 1),            # two images, bands of 18-19 rows
    ((1, 32, 100, 90), (32, 32, 3, 3), 2, 1, 2),           # strided, dilated: bands of 24-25
    ((1, 8, 4, 48, 40), (32, 8, 3, 3, 3), 1, 1, 1),        # 3-D: bands of each plane's rows
])
def test_weight_gradient_row_bands(xs, ws, stride, padding, dilation, dtype):
    """A small batch (at most 8 channel-block items) splits each image's
    output rows into bands, a batch chunk each: against the reference, the
    same bits for any thread count."""
    nd = len(ws) - 2
    out = tuple((n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
                for n, k in zip(xs[2:], ws[2:]))
    flops = 2 * ws[0] * ws[1] * int(np.prod(ws[2:])) * int(np.prod(out))
    # the geometry takes bands in this build: the channel tiles' blocks as
    # conv_backward_weight counts them (a remainder past the last whole
    # block on the width path)
    k = _dispatch.kernels
    vl = k.lanes(dtype)
    kb = k.choose_kv(ws[0], dtype) * vl
    kt = ws[0] - k.left_over_channels(ws[0], kb, vl)
    kb = k.choose_kv(kt, dtype) * vl
    block = ws[1] * int(np.prod(ws[2:])) * kb
    assert k.backward_weight_bands(xs[0], xs[0], -(-kt // kb), block, out[-2], flops) > 1
    rng = np.random.default_rng(29)
    x = rng.standard_normal(xs).astype(dtype)
    pads = [(padding, padding)] * nd
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    got = cyconv.conv_backward_weight(x, gy, ws, **kw, num_threads=1)
    want = ref.backward_weight(x, gy, ws, (stride,) * nd, pads, (dilation,) * nd, 1)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, (stride,) * nd, pads,
                                   (dilation,) * nd, 1)
    assert_close(got, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    for t in (2, 3, 4):
        assert cyconv.conv_backward_weight(x, gy, ws, **kw, num_threads=t).tobytes() == got.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation", [
    ((2, 9, 30, 13), (40, 9, 3, 3), 1, 1, 1),               # groups of rows, border rows
    ((1, 5, 37, 11), (20, 5, 3, 2), (2, 1), (2, 0), (3, 1)),  # stride and dilation along h
    ((1, 300, 9, 310), (3, 300, 3, 3), 1, 1, 1),            # row segments, small windows
    ((2, 6, 5, 12, 9), (17, 6, 3, 3, 2), (2, 1, 1), 1, (1, 2, 1)),  # 3-D: one window a plane
])
def test_weight_gradient_row_groups(xs, ws, stride, padding, dilation, dtype):
    """Channel-path weight gradient: output rows with the same taps reduce
    together over a window of packed input rows; any thread count gives the
    same bits."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal(xs).astype(dtype)
    nd = len(ws) - 2
    tup = lambda v: v if isinstance(v, tuple) else (v,) * nd
    s, p, d = tup(stride), tup(padding), tup(dilation)
    pads = [(v, v) for v in p]
    out = tuple((n + 2 * q - e * (k - 1) - 1) // t + 1
                for n, q, e, k, t in zip(xs[2:], p, d, ws[2:], s))
    gy = rng.standard_normal((xs[0], ws[0]) + out).astype(dtype)
    kw = dict(stride=s, padding=p, dilation=d)
    got = cyconv.conv_backward_weight(x, gy, ws, **kw)
    want = ref.backward_weight(x, gy, ws, s, pads, d, 1)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, s, pads, d, 1)
    assert_close(got, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)
    for t in (1, 3):
        assert np.array_equal(cyconv.conv_backward_weight(x, gy, ws, **kw, num_threads=t), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,groups", [
    ((2, 64, 16, 16), (40, 64, 1, 1), 1),        # whole blocks; 40 = 14 + 14 + 12 channels
    ((3, 20, 33, 35), (16, 10, 1, 1), 2),        # groups; the plane's last block padded
    ((1, 7, 1000), (19, 7, 1), 1),               # 1-D, few input channels
    ((2, 5, 4, 8, 16), (33, 5, 1, 1, 1), 1),     # 3-D
    ((1, 48, 28, 28), (100, 48, 1, 1), 1),       # one image: channel shares
])
def test_pointwise_position_tiles(xs, ws, groups, dtype):
    """1x1, stride 1, unpadded, at least 16 output channels: the forward
    (with a bias) and the backward-input on position tiles (vectors along the
    positions of whole planes, rows read in place; the last block of a plane
    from a zero-padded copy), against the reference, the same bits at 1 to
    5 threads (fewer than 4 position blocks per thread: each block's output
    channels in shares of tiles)."""
    rng = np.random.default_rng(11)
    nd = len(ws) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    one, zero = (1,) * nd, [(0, 0)] * nd
    L = int(np.prod(xs[2:]))
    got = FORWARD[nd](x, w, b, groups=groups)
    want = ref.conv(x, w, b, one, zero, one, groups)
    want_abs = ref.conv(np.abs(x), np.abs(w), np.abs(b), one, zero, one, groups)
    assert_close(got, want, want_abs, xs[1] // groups + 1, dtype)
    gy = rng.standard_normal(want.shape).astype(dtype)
    got_dx = BACKWARD_INPUT[nd](gy, w, xs, groups=groups)
    want_dx = ref.backward_input(gy, w, xs, one, zero, one, groups)
    want_dx_abs = ref.backward_input(np.abs(gy), np.abs(w), xs, one, zero, one, groups)
    assert_close(got_dx, want_dx, want_dx_abs, ws[0] // groups, dtype)
    assert L >= 16
    for t in (1, 3, 5):
        assert np.array_equal(FORWARD[nd](x, w, b, groups=groups, num_threads=t), got)
        assert np.array_equal(BACKWARD_INPUT[nd](gy, w, xs, groups=groups, num_threads=t), got_dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,padding", [
    ((2, 1, 8192), (32, 1, 31), 15),             # 1 -> 32 channels, 31 taps
    ((2, 3, 96, 97), (32, 3, 3, 3), 1),          # 3 -> 32, 3x3: rows off their lines
])
def test_width_path_streamed_output(xs, ws, padding, dtype):
    """The width path's several-channel tiles with short sums (few input
    channels x taps) store an output of 2 MiB or more non-temporally: against
    the reference, bitwise the same on 1 and 2 threads and into an ``out``
    a float off alignment (plain stores)."""
    rng = np.random.default_rng(13)
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    one, pads = (1,) * nd, [(padding, padding)] * nd
    want = ref.conv(x, w, b, one, pads, one, 1)
    want_abs = ref.conv(np.abs(x), np.abs(w), np.abs(b), one, pads, one, 1)
    got = FORWARD[nd](x, w, b, padding=padding, num_threads=1)
    assert got.nbytes >= 2 << 20 and got.ctypes.data % 64 == 0
    assert_close(got, want, want_abs, int(np.prod(ws[1:])) + 1, dtype)
    assert np.array_equal(FORWARD[nd](x, w, b, padding=padding, num_threads=2), got)
    buf = _dispatch.kernels.aligned_empty((got.size + 1,), dtype)
    out = buf[1:].reshape(got.shape)
    assert FORWARD[nd](x, w, b, padding=padding, num_threads=2, out=out) is out
    assert np.array_equal(out, got)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial", [(64, 64), (16, 257), (41, 100)])
def test_pointwise_streamed_output(spatial, dtype, num_threads):
    """Pointwise outputs of 2 MiB and more are stored non-temporally where
    every row starts on a cache line (4096 positions; 4112, whose last block
    is a padded copy stored in place; not 4100, rows 16 bytes off): the
    forward and the backward-input against the reference, into the arrays the
    functions allocate (64-byte aligned) and into an ``out`` a vector off
    alignment (plain stores), on one thread and two (each fences its
    streamed stores); the same values either way."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 24) + spatial).astype(dtype)
    w = rng.standard_normal((80, 24, 1, 1)).astype(dtype)
    one, zero = (1, 1), [(0, 0)] * 2
    want = ref.conv(x, w, None, one, zero, one, 1)
    want_abs = ref.conv(np.abs(x), np.abs(w), None, one, zero, one, 1)
    got = cyconv.conv2d(x, w, num_threads=num_threads)
    assert got.nbytes >= 2 << 20 and got.ctypes.data % 64 == 0
    assert_close(got, want, want_abs, 24, dtype)
    buf = _dispatch.kernels.aligned_empty((got.size + 1,), dtype)
    out = buf[1:].reshape(got.shape)
    out[...] = np.nan
    assert cyconv.conv2d(x, w, num_threads=num_threads, out=out) is out
    assert np.array_equal(out, got)
    # backward-input onto 80 channels from 24: 80 x positions per image
    gy = rng.standard_normal((2, 24) + spatial).astype(dtype)
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
    xs = (2, 80) + spatial
    got_dx = cyconv.conv2d_backward_input(gy, wt, xs, num_threads=num_threads)
    assert got_dx.nbytes >= 2 << 20 and got_dx.ctypes.data % 64 == 0
    assert_close(got_dx, ref.backward_input(gy, wt, xs, one, zero, one, 1),
                 ref.backward_input(np.abs(gy), np.abs(wt), xs, one, zero, one, 1), 24, dtype)
    assert np.array_equal(cyconv.conv2d_backward_input(gy, wt, xs, num_threads=3 - num_threads),
                          got_dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,groups", [
    ((2, 7, 9, 31), (5, 7, 1, 1), 1),            # tails of rows (9*31 = 279 positions)
    ((3, 12, 16, 16), (33, 12, 1, 1), 1),        # whole vectors only; 33 = 2 blocks + 1
    ((1, 6, 9000), (9, 2, 1), 3),                # 1-D, groups, one long row > one pass
    ((2, 4, 3, 5, 40), (4, 4, 1, 1, 1), 1),      # 3-D
    ((1, 256, 64, 40), (20, 128, 1, 1), 2),      # many input channels, remainder tiles
    # channel tiles over packed panels (whole vectors of the smaller count)
    ((2, 64, 11, 13), (32, 64, 1, 1), 1),        # vectors along k; 143 positions
    ((3, 16, 45, 51), (96, 16, 1, 1), 1),        # along c; 2295 = 2 panels + 247
    ((2, 64, 12, 12), (64, 32, 1, 1), 2),        # groups
    ((1, 136, 10, 13), (140, 136, 1, 1), 1),     # 136 along c: a partial block
    ((2, 32, 2100), (48, 32, 1), 1),             # 1-D; 2 panels + 52
    ((40, 32, 8, 17), (16, 32, 1, 1), 1),        # batch chunks of 2-3 images
    # short planes (fewer than 8 vectors of positions): the channel tiles
    # over panels too, one per image
    ((8, 64, 7, 7), (32, 64, 1, 1), 1),          # along k
    ((8, 32, 7, 7), (80, 32, 1, 1), 1),          # along c (80: a partial block)
    ((40, 48, 3, 3), (16, 48, 1, 1), 1),         # batch chunks
    ((3, 32, 5), (64, 32, 1), 1),                # 1-D
])
def test_one_tap_weight_gradient(xs, ws, groups, dtype):
    """1x1, stride 1, unpadded: the weight gradient as a matrix product over
    positions (dot-product tiles, lane partial sums, scalar row tails; or
    the channel tiles over panels of the smaller operand, transposed)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs).astype(dtype)
    nd = len(ws) - 2
    gy = rng.standard_normal((xs[0], ws[0]) + xs[2:]).astype(dtype)
    got = BACKWARD_WEIGHT[nd](x, gy, ws, groups=groups)
    one = [(0, 0)] * nd
    want = ref.backward_weight(x, gy, ws, (1,) * nd, one, (1,) * nd, groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), ws, (1,) * nd, one, (1,) * nd, groups)
    assert_close(got, want, want_abs, xs[0] * int(np.prod(xs[2:])), dtype)
    for t in (1, 3):
        assert np.array_equal(BACKWARD_WEIGHT[nd](x, gy, ws, groups=groups, num_threads=t), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", [
    # stride = dilation along h: padded windows read in place (rows shared)
    ((2, 3, 23, 40), (3, 1, 3, 3), (2, 1), (2, 1), (2, 1), 3),
    ((3, 2, 30, 33), (2, 1, 2, 4), (3, 1), (4, 3), (3, 2), 2),
    # strides along w: the patch rows split into phases
    ((2, 3, 23, 41), (3, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),   # depthwise, stride 2
    ((2, 2, 20, 50), (2, 1, 5, 5), (3, 3), (2, 2), (1, 1), 2),
    ((1, 1, 30, 101), (1, 1, 3, 4), (1, 2), (1, 3), (1, 2), 1),  # dilation 2, stride 2
    ((2, 3, 9, 70), (3, 1, 3, 7), (2, 4), (1, 3), (1, 1), 3),    # stride 4
    ((2, 3, 9, 70), (3, 1, 3, 7), (2, 5), (1, 3), (1, 1), 3),    # stride 5: channel path
    ((2, 5, 17, 40), (1, 5, 3, 3), (2, 2), (1, 1), (1, 1), 1),   # 5 channels onto one
    ((4, 3, 100), (3, 1, 5), (2,), (2,), (1,), 3),              # 1-D
    ((2, 2, 3000), (2, 1, 9), (3,), (4,), (2,), 2),             # long rows, segments
    ((2, 1, 1), (1, 1, 3), (3,), (4,), (2,), 1),                # rows shorter than a stride
    ((3, 1, 200), (12, 1, 9), (2,), (4,), (1,), 1),             # short reduction (gradient)
])
def test_width_path_strided(xs, ws, stride, padding, dilation, groups, dtype):
    """One output channel per group with a stride: along h with stride =
    dilation the padded input windows are read in place, tiles of output
    rows sharing their input rows (rows outside the input skipped, lanes
    outside a row zeroed); along w the copied windows hold the stride's
    phases, so that each tap reads consecutive positions (forward, and the
    weight gradient tap by tap)."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    pads = [(p, p) for p in padding]
    y = cyconv.conv(x, w, b, stride=stride, padding=padding, dilation=dilation,
                    groups=groups)
    want = ref.conv(x, w, b, stride, pads, dilation, groups)
    want_abs = ref.conv(np.abs(x), np.abs(w), np.abs(b), stride, pads, dilation, groups)
    assert_close(y, want, want_abs, w[0].size + 1, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    dw = cyconv.conv_backward_weight(x, gy, w.shape, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    want = ref.backward_weight(x, gy, w.shape, stride, pads, dilation, groups)
    want_abs = ref.backward_weight(np.abs(x), np.abs(gy), w.shape, stride, pads, dilation,
                                   groups)
    assert_close(dw, want, want_abs, gy.shape[0] * gy[0, 0].size, dtype)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 9), st.tuples(*[st.integers(1, 3)] * 3),
       st.sampled_from([0, 1, 2]), st.booleans(), st.booleans(), st.integers(1, 2),
       st.sampled_from([np.float32, np.float64]), st.data())
def test_pack_weights_layout(G, A, B, ks, kv, swap, select, nthreads, dtype, data):
    """The packed weights, element by element, against the layout's
    definition: [G][block][reduction][kd][kh][kw][KB], output channel
    m = block*KB + j (B per group with swap, else A), zero past the last
    channel, taps selected and ordered per axis."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((G * A, B) + ks).astype(dtype)
    taps = tuple(data.draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=3))
                 if select else None for k in ks)
    sel = [np.arange(k) if t is None else np.array(t) for k, t in zip(ks, taps)]
    got = _dispatch.kernels.pack_weights(w, G, kv, swap, taps, nthreads)
    KB = kv * _dispatch.kernels.lanes(dtype) if kv else 1
    M, R = (B, A) if swap else (A, B)
    nb = -(-M // KB)
    assert got.shape == (G, nb, R, len(sel[0]), len(sel[1]), len(sel[2]), KB)
    want = np.zeros(got.shape, dtype)
    for g in range(G):
        for m in range(M):
            for r in range(R):
                src = w[g * A + r, m] if swap else w[g * A + m, r]
                want[g, m // KB, r, :, :, :, m % KB] = src[np.ix_(*sel)]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_outputs_start_on_cache_lines(dtype):
    """Outputs of 2 MiB and more (which the kernels may store with streaming
    stores, whole aligned vectors) start on a 64-byte boundary, from the
    forward, the backward-input and the transposed convolution alike; the
    allocator's threshold is exactly 2 MiB."""
    k = _dispatch.kernels
    item = np.dtype(dtype).itemsize
    for n in [(2 << 20) // item, (2 << 20) // item + 3]:
        a = k.output_empty((n,), dtype)
        assert a.shape == (n,) and a.dtype == dtype and a.ctypes.data % 64 == 0
    small = k.output_empty(((2 << 20) // item - 1,), dtype)
    assert small.dtype == dtype and small.base is None     # numpy's own
    K = (2 << 20) // (128 * 128 * item)          # outputs of exactly 2 MiB
    x = np.ones((1, 4, 128, 128), dtype)
    w = np.ones((4, K, 1, 1), dtype)              # a K -> 4 layer's weights
    outs = [cyconv.conv2d(x, np.ones((K, 4, 1, 1), dtype)),
            cyconv.conv2d_backward_input(x, w, (1, K, 128, 128)),
            cyconv.conv_transpose2d(x, w)]
    for y in outs:
        assert y.shape == (1, K, 128, 128) and y.nbytes == 2 << 20
        assert y.ctypes.data % 64 == 0 and np.all(y == 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_work_buffers_start_on_cache_lines(dtype):
    """Packed weights and the per-thread work buffers start on a 64-byte
    boundary (the tiles' full-width vector loads then never straddle two
    cache lines; numpy's large allocations start 16 bytes past one)."""
    k = _dispatch.kernels
    for shape in [(7,), (1000,), (3, 40000), (2, 3, 5, 7, 11)]:
        a = k.aligned_empty(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.ctypes.data % 64 == 0
    for cin in [1, 5, 64, 300]:
        w = np.ones((64, cin, 3, 3, 1), dtype)
        assert k.pack_weights(w, 1, 2, False).ctypes.data % 64 == 0
    for cols in [3, 4096, 100000]:
        assert k.scratch("test_alignment", 2, cols, dtype).ctypes.data % 64 == 0


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("shape, dtype, flip", [
    ((96, 80, 3, 3, 1), np.float32, True),       # several threads
    ((97, 200, 3, 3, 3), np.float32, False),     # 2 MiB and more: streamed
    ((97, 200, 3, 3, 3), np.float32, True),      # (partial blocks and runs)
    ((33, 70, 1, 5, 23), np.float64, True)])
def test_pack_weights_parallel_matches_serial(swap, shape, dtype, flip):
    """Packed weights large enough to pack on several threads (and to be
    stored non-temporally) are the same as packed on one, and as numpy's
    reshuffle of them, every tap in order or the taps along h reversed."""
    w = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    G = 1 if shape[0] % 2 else 2
    taps = (None, np.arange(shape[3])[::-1].copy() if flip else None, None)
    one = _dispatch.kernels.pack_weights(w, G, 2, swap, taps, 1)
    two = _dispatch.kernels.pack_weights(w, G, 2, swap, taps, 2)
    assert two.size >= 65536
    v = (w[:, :, :, ::-1] if flip else w).reshape((G, shape[0] // G) + w.shape[1:])
    if swap:
        v = v.swapaxes(1, 2)
    KB = one.shape[-1]
    M = v.shape[1]
    padded = np.zeros((G, -(-M // KB) * KB) + v.shape[2:], dtype)
    padded[:, :M] = v
    want = np.moveaxis(padded.reshape((G, -1, KB) + v.shape[2:]), 2, -1)
    assert np.array_equal(one, want) and np.array_equal(two, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [1, 2])
def test_every_row_length_and_channel_count(stride, dtype):
    """Rows of 1..60 output positions (every cover of a row by the channel
    tiles' widths, the border positions beside them) in the forward pass and
    in each stride phase of the backward-input pass, and 11..50 input
    channels (the tiles of the weight gradient run along input channels),
    against the reference; reductions long enough for the channel tiles."""
    rng = np.random.default_rng(7)
    k = 2 * _dispatch.kernels.lanes(dtype)        # two channel vectors per tile
    for n in range(1, 61):
        x = rng.standard_normal((1, 12, (n - 1) * stride + 1)).astype(dtype)
        w = rng.standard_normal((k, 12, 3)).astype(dtype)
        got = cyconv.conv1d(x, w, stride=stride, padding=1)
        want = ref.conv(x, w, None, (stride,), [(1, 1)], (1,), 1)
        want_abs = ref.conv(np.abs(x), np.abs(w), None, (stride,), [(1, 1)], (1,), 1)
        assert_close(got, want, want_abs, 36, dtype)
    # backward-input onto k channels (two vectors): every input length, so
    # every row length of each stride phase (20 channels x 2 taps > 32)
    for n in range(1, 60 * stride + 1):
        gy = rng.standard_normal((1, 20, (n - 1) // stride + 1)).astype(dtype)
        w = rng.standard_normal((20, k, 3)).astype(dtype)
        dx = cyconv.conv1d_backward_input(gy, w, (1, k, n), stride=stride, padding=1)
        want = ref.backward_input(gy, w, (1, k, n), (stride,), [(1, 1)], (1,), 1)
        want_abs = ref.backward_input(np.abs(gy), np.abs(w), (1, k, n), (stride,),
                                      [(1, 1)], (1,), 1)
        assert_close(dx, want, want_abs, 60, dtype)
    for c in range(11, 51):
        x = rng.standard_normal((2, c, 20)).astype(dtype)
        gy = rng.standard_normal((2, k, (20 - 1) // stride + 1)).astype(dtype)
        dw = cyconv.conv1d_backward_weight(x, gy, (k, c, 3), stride=stride, padding=1)
        want = ref.backward_weight(x, gy, (k, c, 3), (stride,), [(1, 1)], (1,), 1)
        want_abs = ref.backward_weight(np.abs(x), np.abs(gy), (k, c, 3), (stride,), [(1, 1)],
                                       (1,), 1)
        assert_close(dw, want, want_abs, 2 * gy.shape[2], dtype)

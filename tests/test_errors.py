"""Bad input gets a clear TypeError / ValueError naming the argument."""
import numpy as np
import pytest

import cyconv

f32 = np.float32
X = np.ones((2, 4, 8, 8), f32)
W = np.ones((6, 4, 3, 3), f32)
GY = np.ones((2, 6, 8, 8), f32)     # conv2d(X, W, padding=1) output


def conv(**kw):
    args = dict(x=X, w=W)
    args.update(kw)

    def call():
        a = dict(args)          # a fresh copy: the rule may run more than once
        return cyconv.conv2d(a.pop("x"), a.pop("w"), **a)
    return call


RULES = [
    # (id, call, exception, regex the message must match)
    ("x wrong ndim", conv(x=np.ones((2, 4, 8), f32)), ValueError, r"x must have 4 dims"),
    ("w wrong ndim", lambda: cyconv.conv(X, np.ones((6, 4), f32)), ValueError, r"w must have 3, 4 or 5"),
    ("x/w dims mismatch", lambda: cyconv.conv(np.ones((2, 4, 8), f32), W), ValueError, r"x must have 4 dims"),
    ("conv3d given 2-D weight", lambda: cyconv.conv3d(X, W), ValueError, r"w must have 5 dims"),
    ("C != w.shape[1]*groups", conv(w=np.ones((6, 3, 3, 3), f32)), ValueError, r"channels.*w\.shape\[1\] \* groups"),
    ("K not divisible by groups", conv(w=np.ones((5, 2, 3, 3), f32), groups=2), ValueError, r"divisible by groups"),
    ("groups not dividing C", conv(w=np.ones((6, 1, 3, 3), f32), groups=3), ValueError, r"groups"),
    ("groups <= 0", conv(groups=0), ValueError, r"groups must be >= 1"),
    ("groups float", conv(groups=1.5), TypeError, r"groups must be an int"),
    ("stride 0", conv(stride=0), ValueError, r"stride must be >= 1"),
    ("stride negative tuple", conv(stride=(1, -1)), ValueError, r"stride must be >= 1"),
    ("stride wrong length", conv(stride=(1, 1, 1)), ValueError, r"stride must have 2 entries"),
    ("stride bool", conv(stride=True), TypeError, r"stride must be an int"),
    ("dilation 0", conv(dilation=0), ValueError, r"dilation must be >= 1"),
    ("negative padding", conv(padding=-1), ValueError, r"padding must be >= 0"),
    ("negative padding pair", conv(padding=((0, -1), (0, 0))), ValueError, r"padding must be >= 0"),
    ("padding bad pair", conv(padding=((0, 1, 2), (0, 0))), ValueError, r"padding pairs"),
    ("padding bad string", conv(padding="circular"), ValueError, r"padding must be .*valid"),
    ("padding float", conv(padding=1.0), TypeError, r"padding must be an int"),
    ("same with stride", conv(padding="same", stride=2), ValueError, r"padding='same'.*stride"),
    ("kernel larger than padded input", conv(x=np.ones((2, 4, 2, 2), f32)), ValueError,
     r"kernel .* larger than the padded input"),
    ("kernel size zero", conv(w=np.ones((6, 4, 0, 3), f32)), ValueError, r"w kernel size must be >= 1"),
    ("bias wrong shape", conv(bias=np.ones(5, f32)), ValueError, r"bias must have shape \(6,\)"),
    ("bias wrong dtype", conv(bias=np.ones(6, np.float64)), TypeError, r"bias must have dtype float32"),
    ("int x", conv(x=X.astype(np.int32)), TypeError, r"x must be a float32 or float64 array"),
    ("bool w", conv(w=W.astype(bool)), TypeError, r"w must be a float32 or float64 array"),
    ("complex x", conv(x=X.astype(np.complex64)), TypeError, r"x must be a float32 or float64"),
    ("object x", conv(x=X.astype(object)), TypeError, r"x must be a float32 or float64"),
    ("float16 x", conv(x=X.astype(np.float16), w=W.astype(np.float16)), TypeError, r"x must be .*float16"),
    ("mixed dtypes", conv(w=W.astype(np.float64)), TypeError, r"x and w must have the same dtype"),
    ("out wrong shape", conv(out=np.empty((2, 6, 5, 6), f32)), ValueError, r"out has shape"),
    ("out wrong dtype", conv(out=np.empty((2, 6, 6, 6), np.float64)), ValueError, r"out has (shape|dtype)"),
    ("out non-contiguous", conv(out=np.empty((2, 6, 6, 12), f32)[..., ::2]), ValueError, r"out must be .*C-contiguous"),
    ("out not an array", conv(out=[0.0]), ValueError, r"out must be a numpy array"),
    ("out overlaps x", (lambda a: lambda: cyconv.conv2d(a, np.ones((4, 4, 1, 1), f32), out=a))(
        X.copy()), ValueError, r"out must not overlap the input x"),
    ("out read-only", conv(out=np.lib.stride_tricks.as_strided(np.empty((2, 6, 6, 6), f32), writeable=False)),
     ValueError, r"out must be a writeable"),
    ("num_threads 0", conv(num_threads=0), ValueError, r"num_threads"),
    ("num_threads negative", conv(num_threads=-2), ValueError, r"num_threads"),
    ("num_threads absurd", conv(num_threads=10**6), ValueError, r"num_threads"),
    ("num_threads float", conv(num_threads=2.0), TypeError, r"num_threads"),
    ("output would overflow", lambda: cyconv.conv_transpose2d(
        np.ones((1, 1, 2, 2), f32), np.ones((1, 1, 1, 1), f32), stride=2**40), ValueError,
     r"(output|too large)"),
    # backward-input
    ("input_shape not a tuple", lambda: cyconv.conv2d_backward_input(GY, W, "x", padding=1),
     TypeError, r"input_shape must be a tuple"),
    ("input_shape wrong length", lambda: cyconv.conv2d_backward_input(GY, W, (2, 4, 8), padding=1),
     ValueError, r"input_shape must have 4 entries"),
    ("input_shape negative", lambda: cyconv.conv2d_backward_input(GY, W, (2, 4, -8, 8), padding=1),
     ValueError, r"input_shape must not have negative"),
    ("input_shape vs grad_out", lambda: cyconv.conv2d_backward_input(GY, W, (2, 4, 9, 8), padding=1),
     ValueError, r"grad_out spatial shape .* input_shape"),
    ("input_shape channels", lambda: cyconv.conv2d_backward_input(GY, W, (2, 5, 8, 8), padding=1),
     ValueError, r"input_shape has 5 channels"),
    ("grad_out batch mismatch", lambda: cyconv.conv2d_backward_input(GY, W, (3, 4, 8, 8), padding=1),
     ValueError, r"grad_out shape"),
    ("grad_out int", lambda: cyconv.conv2d_backward_input(GY.astype(int), W, X.shape, padding=1),
     TypeError, r"grad_out must be a float32 or float64"),
    # backward-weight
    ("weight_shape vs grad_out", lambda: cyconv.conv2d_backward_weight(X, GY, (6, 4, 5, 5), padding=1),
     ValueError, r"grad_out spatial shape .* weight_shape"),
    ("weight_shape channels", lambda: cyconv.conv2d_backward_weight(X, GY, (6, 3, 3, 3), padding=1),
     ValueError, r"weight_shape\[1\] \* groups"),
    ("weight_shape K vs grad_out", lambda: cyconv.conv2d_backward_weight(X, GY, (7, 4, 3, 3), padding=1),
     ValueError, r"grad_out shape"),
    ("weight_shape kernel 0", lambda: cyconv.conv2d_backward_weight(X, GY, (6, 4, 0, 3), padding=1),
     ValueError, r"weight_shape kernel size"),
    ("x/grad_out dtypes", lambda: cyconv.conv2d_backward_weight(X, GY.astype(np.float64), W.shape, padding=1),
     TypeError, r"x and grad_out must have the same dtype"),
    ("backward_bias ndim", lambda: cyconv.conv_backward_bias(np.ones((2, 3), f32)), ValueError,
     r"grad_out must have at least 3 dims"),
    # transposed
    ("output_padding >= stride and dilation", lambda: cyconv.conv_transpose2d(
        X, W.transpose(1, 0, 2, 3), stride=2, output_padding=2), ValueError,
     r"output_padding .* smaller than stride"),
    ("output_padding negative", lambda: cyconv.conv_transpose2d(
        X, W.transpose(1, 0, 2, 3), output_padding=-1), ValueError, r"output_padding must be >= 0"),
    ("transpose weight channels", lambda: cyconv.conv_transpose2d(X, W), ValueError,
     r"w\.shape\[0\] = 6 must equal x's 4 input channels"),
    ("transpose padding string", lambda: cyconv.conv_transpose2d(
        X, W.transpose(1, 0, 2, 3), padding="same"), ValueError, r"padding must be an int or a tuple"),
    ("transpose output not positive", lambda: cyconv.conv_transpose2d(
        X, W.transpose(1, 0, 2, 3), padding=9), ValueError, r"output size .* not positive"),
    # signal API
    ("signal complex", lambda: cyconv.convolve(np.ones(4, complex), np.ones(2)), TypeError, r"complex"),
    ("signal object", lambda: cyconv.correlate(np.array(["a", "b"]), np.ones(2)), TypeError,
     r"numeric"),
    ("signal mode", lambda: cyconv.convolve(np.ones(4), np.ones(2), mode="wrap"), ValueError, r"mode"),
    ("signal empty", lambda: cyconv.convolve(np.ones(0), np.ones(2)), ValueError, r"empty"),
    ("signal ndim mismatch", lambda: cyconv.convolve(np.ones(4), np.ones((2, 2))), ValueError,
     r"same number of dims"),
    ("signal 4-D", lambda: cyconv.convolve(np.ones((2,) * 4), np.ones((1,) * 4)), ValueError,
     r"1-, 2- or 3-D"),
    ("signal valid incompatible", lambda: cyconv.correlate(np.ones((4, 2)), np.ones((2, 4)), "valid"),
     ValueError, r"at least as large"),
    ("signal num_threads", lambda: cyconv.convolve(np.ones(4), np.ones(2), num_threads=0),
     ValueError, r"num_threads"),
]


@pytest.mark.parametrize("call,exc,pattern", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_bad_input_is_rejected_clearly(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_rule_count():
    assert len(RULES) >= 60


def test_nan_poisons_exactly_the_windows_that_cover_it():
    """IEEE propagation: one NaN in x makes NaN exactly the outputs whose
    (dilated, strided, padded) window covers it, for every path."""
    rng = np.random.default_rng(0)
    for xs, ws, kw in [((1, 3, 12, 13), (40, 3, 3, 3), dict(padding=1)),          # channel tiles
                       ((1, 5, 15, 14), (5, 1, 3, 3), dict(padding=1, groups=5)),  # width path
                       ((2, 4, 11, 12), (8, 4, 3, 2), dict(stride=2, dilation=(2, 1), padding=(2, 1)))]:
        x = rng.standard_normal(xs).astype(f32)
        w = rng.standard_normal(ws).astype(f32)
        n, c, i, j = 0, xs[1] - 1, xs[2] // 2, 1
        x[n, c, i, j] = np.nan
        y = cyconv.conv2d(x, w, **kw)
        # which outputs read x[n, c, i, j]: a conv of the NaN indicator
        hit = np.zeros(xs, f32)
        hit[n, c, i, j] = 1
        reach = cyconv.conv2d(hit, np.ones_like(w), **kw) > 0
        assert np.array_equal(np.isnan(y), reach)
        # and the input gradient: a NaN in grad_out reaches exactly its window
        gy = rng.standard_normal(y.shape).astype(f32)
        gy[0, -1, y.shape[2] // 2, 1] = np.inf
        dx = cyconv.conv2d_backward_input(gy, w, xs, **kw)
        hit = np.zeros(y.shape, f32)
        hit[0, -1, y.shape[2] // 2, 1] = 1
        reach = cyconv.conv2d_backward_input(hit, np.ones_like(w), xs, **kw) > 0
        assert np.array_equal(~np.isfinite(dx), reach)


def test_nan_in_weight_gradient_reaches_exactly_its_taps():
    """A NaN in x makes NaN exactly the weight-gradient entries whose
    (tap, output) pairs read it, on the channel-tile and width paths."""
    rng = np.random.default_rng(1)
    for xs, ws, kw in [((2, 3, 9, 23), (40, 3, 3, 3), dict(padding=1)),
                       ((2, 4, 9, 37), (4, 1, 3, 5), dict(padding=(1, 2), groups=4)),
                       ((1, 1, 5, 40), (1, 1, 3, 3), dict())]:
        x = rng.standard_normal(xs).astype(f32)
        w_shape = ws
        y_shape = cyconv.conv2d(x, np.ones(ws, f32), **kw).shape
        gy = rng.standard_normal(y_shape).astype(f32)
        for pos in [(0, xs[1] - 1, xs[2] // 2, 0), (0, 0, 1, xs[3] - 1), (1 % xs[0], 0, 2, 17)]:
            xn = x.copy()
            xn[pos] = np.nan
            dw = cyconv.conv2d_backward_weight(xn, gy, w_shape, **kw)
            hit = np.zeros(xs, f32)
            hit[pos] = 1
            reach = cyconv.conv2d_backward_weight(hit, np.ones(y_shape, f32), w_shape, **kw) > 0
            assert np.array_equal(np.isnan(dw), reach), pos

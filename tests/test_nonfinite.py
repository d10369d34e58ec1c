"""inf and NaN in weights and gradients reach exactly the outputs IEEE
arithmetic sends them to, on every path:

* the forward convolution and the weight gradient are sums over the
  zero-padded input, so a tap in the padding adds 0 * w (or 0 * grad_out):
  NaN when that factor is inf or NaN (as torch computes them);
* backward-input, conv_transpose and the signal API are sums of shifted
  copies: there is no product with a padding value (as torch and
  numpy.convolve compute them).

The kernels skip the padding's products (finite factors give exact zeros);
these tests pin the results to the float64 references on the shapes of every
path (channel tiles, width tiles read in place or from padded copies,
depthwise, strided, dilated, the phase-lane tiles, signals)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cyconv
import reference as ref
from strategies import conv_problems

VALUES = [np.inf, -np.inf, np.nan]


def assert_ieee_equal(got, want, want_abs, length, dtype):
    """Same NaN and same signed inf positions; the finite values within the
    rounding bound of a length-``length`` sum (want_abs: the reference over
    absolute values with the non-finite entries zeroed)."""
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.isposinf(got), np.isposinf(want))
    assert np.array_equal(np.isneginf(got), np.isneginf(want))
    ok = np.isfinite(want)
    err = np.abs(got[ok].astype(np.float64) - want[ok])
    assert np.all(err <= 4 * ref.sum_abs_bound(want_abs[ok], length, dtype))


def finite_part(a):
    return np.abs(np.where(np.isfinite(a), a, 0))


def plant(a, rng, count, edges=False):
    """``count`` non-finite values at random positions of a copy of a (with
    ``edges``: each spatial index at either end with probability 2/3)."""
    a = a.copy()
    for _ in range(count):
        idx = [rng.integers(0, n) for n in a.shape[:2]]
        for n in a.shape[2:]:
            r = rng.integers(0, 3) if edges else 2
            idx.append(0 if r == 0 else n - 1 if r == 1 else rng.integers(0, n))
        a[tuple(idx)] = VALUES[rng.integers(0, 3)]
    return a


def check_layer(x, w, b, stride, pads, dilation, groups, rng, padding=None):
    """Forward and backward-input with non-finite weights, and the weight
    gradient with non-finite grad_out values (several near the borders),
    against the references."""
    dtype = x.dtype
    padding = pads if padding is None else padding
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    args = (stride, pads, dilation, groups)
    length = max(w[0].size, w.shape[0] // groups * w[0, 0].size) + 1   # either sum
    with np.errstate(invalid="ignore", over="ignore"):
        wb = plant(w, rng, 1 + rng.integers(0, 3))
        y = cyconv.conv(x, wb, b, **kw)
        want = ref.conv(x, wb, b, *args)
        assert_ieee_equal(y, want, ref.conv(np.abs(x), finite_part(wb), None if b is None
                                            else np.abs(b), *args), length, dtype)
        gy = rng.standard_normal(y.shape).astype(dtype)
        dx = cyconv.conv_backward_input(gy, wb, x.shape, **kw)
        want = ref.backward_input(gy, wb, x.shape, *args)
        assert_ieee_equal(dx, want, ref.backward_input(np.abs(gy), finite_part(wb), x.shape,
                                                       *args), length, dtype)
        gyb = plant(gy, rng, 1 + rng.integers(0, 3), edges=True)
        dw = cyconv.conv_backward_weight(x, gyb, w.shape, **kw)
        want = ref.backward_weight(x, gyb, w.shape, *args)
        assert_ieee_equal(dw, want, ref.backward_weight(np.abs(x), finite_part(gyb), w.shape,
                                                        *args), gy[:, 0].size, dtype)


@settings(deadline=None)
@given(conv_problems(), st.data())
def test_random_layers(p, data):
    """Random problems (1-3-D, groups, depthwise, strides, dilations, every
    padding form; small enough for the width tiles, or with 17 or 33 output
    channels for the channel tiles)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    check_layer(p["x"], p["w"], p["b"], p["stride"], p["pads"], p["dilation"], p["groups"],
                rng, p["padding"])


@pytest.mark.parametrize("xs,ws,stride,pad,dil,groups", [
    ((2, 16, 12, 20), (32, 16, 3, 3), 1, 1, 1, 1),     # channel tiles
    ((2, 16, 12, 20), (32, 16, 3, 3), 2, 1, 1, 1),     # strided, input-gradient phases
    ((1, 3, 30, 40), (16, 3, 7, 7), 2, 3, 1, 1),       # a stem: 64 -> 3 width tiles back
    ((2, 8, 20, 56), (8, 1, 3, 3), 1, 1, 1, 8),        # depthwise, masked rows in place
    ((1, 1, 30, 70), (1, 1, 5, 5), 1, 2, 1, 1),        # one channel: image tiles
    ((1, 8, 12, 20), (16, 8, 3, 3), 1, 2, 2, 1),       # dilation
    ((1, 4, 5, 6), (8, 4, 1, 1), 1, 1, 1, 1),          # 1x1 with padding: windows all padding
    ((1, 2, 6, 6), (4, 2, 2, 2), 1, 3, 1, 1),          # padding wider than the kernel
    ((2, 1, 1000), (32, 1, 31), 1, 15, 1, 1),          # 1 -> 32 channels, long kernel
    ((1, 4, 600), (4, 4, 9), 1, 4, 1, 1),              # 1-D
    ((1, 4, 6, 8, 9), (6, 4, 3, 3, 3), 1, 1, 1, 1),    # 3-D
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paths(xs, ws, stride, pad, dil, groups, dtype):
    rng = np.random.default_rng(5)
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    for _ in range(3):
        check_layer(x, w, b, (stride,) * nd, [(pad, pad)] * nd, (dil,) * nd, groups, rng)


@pytest.mark.parametrize("xs,ws,stride,pad", [
    ((2, 64, 256), (64, 32, 16), 8, 4),            # phase-lane tiles (AVX-512)
    ((1, 16, 40), (16, 3, 8), 4, 2),               # stride phases onto few channels
    ((1, 8, 9, 11), (8, 4, 4, 4), 2, 1),           # the 4x4 stride-2 upsampler
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed(xs, ws, stride, pad, dtype):
    """conv_transpose with non-finite weights: no product with the
    cropped (padding) positions, so an inf weight gives inf (or NaN where
    an inf meets a -inf or a zero input), never NaN from the crop."""
    rng = np.random.default_rng(6)
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    x[..., 0] = 0                                   # 0 * inf where the reference has it
    w = rng.standard_normal(ws).astype(dtype)
    args = ((stride,) * nd, [(pad, pad)] * nd, (0,) * nd, 1, (1,) * nd)
    for _ in range(4):
        wb = plant(w, rng, 2)
        with np.errstate(invalid="ignore", over="ignore"):
            y = cyconv.conv_transpose(x, wb, None, stride=stride, padding=pad)
            want = ref.conv_transpose(x, wb, None, *args)
        assert_ieee_equal(y, want, ref.conv_transpose(np.abs(x), finite_part(wb), None, *args),
                          ws[0] * ws[2] + 1, dtype)


@pytest.mark.parametrize("ws,stride,pad", [((16, 3, 7, 7), 2, 3), ((32, 16, 3, 3), 1, 1),
                                           ((8, 1, 3, 3), 1, 1), ((8, 4, 1, 1), 1, 1)])
def test_torch_agrees(torch, ws, stride, pad):
    """The same NaN and inf positions as torch's conv2d and its input and
    weight gradients."""
    rng = np.random.default_rng(7)
    groups = 8 if ws[1] == 1 else 1
    x = rng.standard_normal((2, ws[1] * groups, 20, 24))
    w = plant(rng.standard_normal(ws), rng, 2)
    kw = dict(stride=stride, padding=pad, groups=groups)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    with np.errstate(invalid="ignore", over="ignore"):
        y = cyconv.conv2d(x, w, **kw)
        g = rng.standard_normal(y.shape)
        gb = plant(g, rng, 3, edges=True)
        pairs = [(y, torch.nn.functional.conv2d(tx, tw, **kw)),
                 (cyconv.conv2d_backward_input(g, w, x.shape, **kw),
                  torch.nn.grad.conv2d_input(x.shape, tw, torch.from_numpy(g), **kw)),
                 (cyconv.conv2d_backward_weight(x, gb, w.shape, **kw),
                  torch.nn.grad.conv2d_weight(tx, w.shape, torch.from_numpy(gb), **kw))]
    for got, want in pairs:
        want = want.numpy()
        assert not np.isfinite(want).all()
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.array_equal(np.isposinf(got), np.isposinf(want))
        assert np.array_equal(np.isneginf(got), np.isneginf(want))


def is_crop(part, whole):
    """part equals some block of whole: NaN for NaN, inf for inf of the same
    sign, finite values to rounding."""
    ranges = [range(n - m + 1) for n, m in zip(whole.shape, part.shape)]
    for start in np.ndindex(*[len(r) for r in ranges]):
        block = whole[tuple(slice(s, s + m) for s, m in zip(start, part.shape))]
        if np.allclose(block, part, rtol=1e-12, atol=1e-12, equal_nan=True):
            return True
    return False


@settings(deadline=None)
@given(st.integers(1, 3), st.integers(0, 2**31 - 1), st.booleans())
def test_signal(nd, seed, flip):
    """convolve / correlate with a non-finite kernel value: 'full' as the
    sum of shifted copies (only the copies that hold the value turn
    non-finite), in float64 and float32; 'same' and 'valid' crops of it;
    1-D as numpy.convolve / numpy.correlate in every mode."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(tuple(rng.integers(1, 12 if nd > 1 else 300, size=nd)))
    v = rng.standard_normal(tuple(rng.integers(1, 6 if nd > 1 else 40, size=nd)))
    v = plant(v[None, None], rng, 1 + rng.integers(0, 2))[0, 0]
    op = cyconv.convolve if flip else cyconv.correlate
    vv = v if flip else v[(slice(None, None, -1),) * nd]
    with np.errstate(invalid="ignore", over="ignore"):
        full = op(a, v, "full")
        want = ref.full_convolve(a, vv)
        assert_ieee_equal(full, want, ref.full_convolve(np.abs(a), finite_part(vv)),
                          v.size, np.float64)
        full32 = op(a.astype(np.float32), v.astype(np.float32), "full")
        assert np.array_equal(np.isnan(full32), np.isnan(want))
        assert np.array_equal(np.isinf(full32), np.isinf(want))
        for mode in ("same", "valid"):
            if nd > 1 and mode == "valid" and not (all(n >= m for n, m in zip(a.shape, v.shape))
                                                   or all(n <= m for n, m in zip(a.shape, v.shape))):
                continue
            got = op(a, v, mode)
            if nd == 1:
                want = (np.convolve if flip else np.correlate)(a, v, mode)
                assert np.array_equal(np.isnan(got), np.isnan(want))
                assert np.array_equal(np.isposinf(got), np.isposinf(want))
                assert np.array_equal(np.isneginf(got), np.isneginf(want))
            else:
                assert is_crop(got, full)

"""Cross-checks against PyTorch's CPU convolutions (torch 2.13.0)."""
import numpy as np
from hypothesis import given, settings

import cyconv
from strategies import conv_problems


def _pads_for_torch(p):
    """torch.nn.grad takes symmetric int padding only; asymmetric forms are
    applied by padding x explicitly."""
    pads = p["pads"]
    if all(lo == hi for lo, hi in pads):
        return p["x"], tuple(lo for lo, _ in pads)
    width = [(0, 0), (0, 0)] + [tuple(q) for q in pads]
    return np.pad(p["x"], width), 0


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@settings(max_examples=150)
@given(conv_problems())
def test_against_torch(torch, p):
    nd = p["w"].ndim - 2
    F = torch.nn.functional
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    grad = {1: (torch.nn.grad.conv1d_input, torch.nn.grad.conv1d_weight),
            2: (torch.nn.grad.conv2d_input, torch.nn.grad.conv2d_weight),
            3: (torch.nn.grad.conv3d_input, torch.nn.grad.conv3d_weight)}[nd]
    xp, tpad = _pads_for_torch(p)
    x, w, b = p["x"], p["w"], p["b"]
    kw = dict(stride=p["stride"], dilation=p["dilation"], groups=p["groups"])
    t = torch.from_numpy
    want = conv(t(xp), t(w), None if b is None else t(b), padding=tpad, **kw).numpy()
    got = cyconv.conv(x, w, b, padding=p["padding"], **kw)
    np.testing.assert_allclose(got, want, **_tol(x.dtype))
    gy = p["rng"].standard_normal(got.shape).astype(x.dtype)
    ours_dx = cyconv.conv_backward_input(gy, w, x.shape, padding=p["padding"], **kw)
    ours_dw = cyconv.conv_backward_weight(x, gy, w.shape, padding=p["padding"], **kw)
    if xp is x:
        want_dx = grad[0](x.shape, t(w), t(gy), padding=tpad, **kw).numpy()
        np.testing.assert_allclose(ours_dx, want_dx, **_tol(x.dtype))
    want_dw = grad[1](t(xp), w.shape, t(gy), padding=tpad, **kw).numpy()
    np.testing.assert_allclose(ours_dw, want_dw, **_tol(x.dtype))
    np.testing.assert_allclose(cyconv.conv_backward_bias(gy),
                               gy.sum(axis=(0,) + tuple(range(2, gy.ndim))), **_tol(x.dtype))


@settings(max_examples=150)
@given(conv_problems(allow_strings=False))
def test_conv_transpose_against_torch(torch, p):
    nd = p["w"].ndim - 2
    F = torch.nn.functional
    ct = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    pads = p["pads"]
    padding = tuple(lo for lo, _ in pads)
    # conv_transpose's input is the forward op's output; weight layout (C_in, C_out/g, *k)
    x = p["x"]
    w, b = p["w"], p["b"]
    kw = dict(stride=p["stride"], dilation=p["dilation"], groups=p["groups"])
    opad = tuple(p["rng"].integers(0, max(s, d)) for s, d in zip(p["stride"], p["dilation"]))
    wt = np.ascontiguousarray(w.reshape((p["groups"], -1) + w.shape[1:]).reshape(w.shape))
    # w as (C_in=K, C_out/g, ...) requires x to have K channels
    gx = p["rng"].standard_normal((x.shape[0], w.shape[0]) + x.shape[2:]).astype(x.dtype)
    bias = None if b is None else p["rng"].standard_normal(w.shape[1] * p["groups"]).astype(x.dtype)
    t = torch.from_numpy
    out = [(n - 1) * s - 2 * q + d * (k - 1) + o + 1 for n, s, q, d, k, o in
           zip(gx.shape[2:], p["stride"], padding, p["dilation"], w.shape[2:], opad)]
    if min(out) < 1:
        return
    want = ct(t(gx), t(wt), None if bias is None else t(bias), padding=padding,
              output_padding=opad, **kw).numpy()
    got = cyconv.conv_transpose(gx, wt, bias, padding=padding, output_padding=opad, **kw)
    np.testing.assert_allclose(got, want, **_tol(x.dtype))

"""Slow, obviously-correct float64 references, written straight from the
definitions (sliding windows + einsum, and scatter-add for the transposed
convolution).  They share no code with cyconv."""
import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SP_OUT = "DHW"
SP_K = "dhw"


def _letters(nd):
    return SP_OUT[3 - nd:], SP_K[3 - nd:]


def windows(x, kernel, stride, pads, dilation):
    """(N, C, *out, *kernel) view of the zero-padded input."""
    nd = len(kernel)
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    win = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nd)))
    idx = ((slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
           + tuple(slice(None, None, d) for d in dilation))
    return win[idx]


def conv(x, w, b, stride, pads, dilation, groups):
    """y[n,k,o] = b[k] + sum_{c,t} w[k,c,t] x[n,c,o*s - p_lo + t*d]."""
    nd = w.ndim - 2
    o, k = _letters(nd)
    win = windows(x, w.shape[2:], stride, pads, dilation)
    C, K = x.shape[1], w.shape[0]
    Cg, Kg = C // groups, K // groups
    parts = [np.einsum(f"nc{o}{k},mc{k}->nm{o}", win[:, g * Cg:(g + 1) * Cg],
                       w[g * Kg:(g + 1) * Kg].astype(np.float64))
             for g in range(groups)]
    y = np.concatenate(parts, axis=1) if parts else np.zeros(win.shape[:1] + (0,) + win.shape[2:2 + nd])
    if b is not None:
        y = y + b.astype(np.float64).reshape((1, -1) + (1,) * nd)
    return y


def backward_weight(x, gy, wshape, stride, pads, dilation, groups):
    """dw[k,c,t] = sum_{n,o} gy[n,k,o] x[n,c,o*s - p_lo + t*d]."""
    nd = len(wshape) - 2
    o, k = _letters(nd)
    win = windows(x, wshape[2:], stride, pads, dilation)
    C, K = x.shape[1], wshape[0]
    Cg, Kg = C // groups, K // groups
    parts = [np.einsum(f"nm{o},nc{o}{k}->mc{k}", gy[:, g * Kg:(g + 1) * Kg].astype(np.float64),
                       win[:, g * Cg:(g + 1) * Cg])
             for g in range(groups)]
    return np.concatenate(parts, axis=0)


def backward_input(gy, w, xshape, stride, pads, dilation, groups):
    """Chain rule as a scatter: every y[n,k,o] sends w[k,c,t] * gy to the
    input position o*s - p_lo + t*d (dropped when it lands in the padding)."""
    nd = w.ndim - 2
    o, _ = _letters(nd)
    N, C = xshape[:2]
    K = w.shape[0]
    Cg, Kg = C // groups, K // groups
    padded = [n + p[0] + p[1] for n, p in zip(xshape[2:], pads)]
    dxp = np.zeros((N, C) + tuple(padded))
    out = gy.shape[2:]
    for t in itertools.product(*[range(kk) for kk in w.shape[2:]]):
        dst = tuple(slice(ti * d, ti * d + s * (oo - 1) + 1, s)
                    for ti, d, s, oo in zip(t, dilation, stride, out))
        for g in range(groups):
            contrib = np.einsum(f"nm{o},mc->nc{o}", gy[:, g * Kg:(g + 1) * Kg].astype(np.float64),
                                w[(slice(g * Kg, (g + 1) * Kg), slice(None)) + t].astype(np.float64))
            dxp[(slice(None), slice(g * Cg, (g + 1) * Cg)) + dst] += contrib
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, xshape[2:]))
    return dxp[(slice(None), slice(None)) + crop]


def conv_transpose(x, w, b, stride, pads, output_padding, groups, dilation):
    """torch's conv_transpose: the backward-input of a conv whose weight is
    w (C_in, C_out/groups, *k), with output size (n-1)s - 2p + d(k-1) + op + 1."""
    nd = w.ndim - 2
    N, Cin = x.shape[:2]
    Cout = w.shape[1] * groups
    out = tuple((n - 1) * s - p[0] - p[1] + d * (k - 1) + op + 1
                for n, s, p, d, k, op in zip(x.shape[2:], stride, pads, dilation,
                                              w.shape[2:], output_padding))
    # the scatter of backward_input, on an input big enough for every tap
    padded = tuple(n + p[0] + p[1] + s for n, p, s in zip(out, pads, stride))
    dy = backward_input(x, w, (N, Cout) + padded, stride, [(0, 0)] * nd, dilation, groups)
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, out))
    y = dy[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.astype(np.float64).reshape((1, -1) + (1,) * nd)
    return y


def full_convolve(a, v):
    """Full N-D convolution as a sum of shifted, scaled copies of a."""
    a = np.asarray(a, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    out = np.zeros(tuple(n + m - 1 for n, m in zip(a.shape, v.shape)))
    for idx in itertools.product(*[range(m) for m in v.shape]):
        sl = tuple(slice(i, i + n) for i, n in zip(idx, a.shape))
        out[sl] += v[idx] * a
    return out


def sum_abs_bound(ref_abs, length, dtype):
    """Error bound of a float sum of `length` products: gamma_L * sum |terms|,
    gamma_L ~ (L + 2) u (rounding of each product/FMA plus the reduction)."""
    u = np.finfo(dtype).eps
    return (length + 2) * u * ref_abs + np.finfo(dtype).tiny

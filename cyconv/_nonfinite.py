"""The zero padding's products when the other factor is not finite.

The layer API's forward convolution and weight gradient are defined over the
zero-padded input, as in torch and the float64 references: a tap that falls
in the padding adds ``0 * w`` (forward) or ``0 * grad_out`` (weight
gradient).  For finite factors that is exactly 0, so the kernels skip those
products (tap ranges clipped at the borders); but ``0 * inf`` and
``0 * nan`` are NaN.  The functions here run after the kernels, only when
such a factor is present (the kernels' entry points test that cheaply), and
put NaN exactly where a skipped product would have made one: a NaN term
makes the whole sum NaN, so nothing else about the output changes.  Paths
that do read zeros there (a padded copy, masked lanes) already hold those
NaNs; setting them again changes nothing.

The transposed convolution (backward-input, ``conv_transpose``) and the
signal API are sums of shifted copies: no product with a padding value
exists there, and their kernels form none when a weight is not finite
(``skip_padding`` in the kernels).
"""
import numpy as np

_OUT = "ABC"
_TAP = "abc"


def outside_taps(n_in, n_out, k, stride, pad_lo, dilation):
    """(n_out, k) booleans along one axis: output o's tap t reads the
    padding (input index o * stride - pad_lo + t * dilation outside
    [0, n_in))."""
    i = (np.arange(n_out)[:, None] * stride - pad_lo
         + np.arange(k)[None, :] * dilation)
    return (i < 0) | (i >= n_in)


def _outside(in_sp, out_sp, kernel, stride, pads, dilation):
    return [outside_taps(n, o, k, s, p[0], d)
            for n, o, k, s, p, d in zip(in_sp, out_sp, kernel, stride, pads, dilation)]


def _meets_padding(bad, outs, over_outputs):
    """Whether a True entry of ``bad`` pairs with the padding, per row k.

    ``bad`` is (K, *kernel) (a weight per tap) and the result (K, *out),
    or with ``over_outputs`` ``bad`` is (K, *out) (a grad_out value per
    output) and the result (K, *kernel); ``outs`` the per-axis
    outside_taps tables.  Counts, per result entry, the bad entries whose
    pairing reads inside the input (separable: one table per axis); fewer
    than the row's bad entries means one reads the padding."""
    nd = len(outs)
    src, dst = (_OUT, _TAP) if over_outputs else (_TAP, _OUT)
    spec = ("k" + src[:nd] + "," + ",".join(_OUT[i] + _TAP[i] for i in range(nd))
            + "->k" + dst[:nd])
    inside = np.einsum(spec, bad.astype(np.int64),
                       *[(~o).astype(np.int64) for o in outs], optimize=True)
    total = bad.reshape(bad.shape[0], -1).sum(axis=1).reshape((-1,) + (1,) * nd)
    return inside < total


def forward_nans(y, w, in_sp, stride, pads, dilation):
    """NaN into y (N, K, *out) where the window of output channel k meets
    the padding with a tap whose weight w[k, c, t] is not finite for some
    input channel c (the same for every image)."""
    bad = ~np.isfinite(w).all(axis=1)                    # (K, *kernel)
    if bad.any():
        outs = _outside(in_sp, y.shape[2:], w.shape[2:], stride, pads, dilation)
        y[:, _meets_padding(bad, outs, False)] = np.nan


def weight_grad_nans(dw, gy, in_sp, stride, pads, dilation):
    """NaN into dw (K, C/G, *kernel) where tap t of output channel k pairs a
    non-finite grad_out value gy[n, k, o] with the padding (for every
    input channel c).  Only the outputs whose windows reach the padding (a
    band along each padded axis) can do that: they are read first, all of
    gy only if one of them is not finite."""
    outs = _outside(in_sp, gy.shape[2:], dw.shape[2:], stride, pads, dilation)
    if all(np.isfinite(np.compress(o.any(axis=1), gy, axis=2 + a)).all()
           for a, o in enumerate(outs)):
        return
    bad = ~np.isfinite(gy).all(axis=0)                   # (K, *out)
    np.moveaxis(dw, 1, 0)[:, _meets_padding(bad, outs, True)] = np.nan

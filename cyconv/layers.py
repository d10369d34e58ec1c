"""Convolution layers over channel-major arrays: forward, backward-input,
backward-weight, backward-bias and transposed convolution.

Layout: ``x`` is (N, C, *spatial), ``w`` is (K, C // groups, *kernel) with 1,
2 or 3 spatial dims; names and semantics follow ``torch.nn.functional``:

    y[n, k, o] = bias[k] + sum_{c in group(k), t} w[k, c, t] * x[n, c, o*stride - pad_lo + t*dilation]

Each function validates its arguments, normalizes them, allocates the result
and calls one compiled kernel (``cyconv._dispatch.kernels``, the SIMD build
chosen at import) without the GIL.
"""
import functools
import os

import numpy as np

from cyconv import _dispatch
from cyconv._geometry import (
    check_num_threads, check_size, conv_out_size, int_tuple, padding_pairs,
    transpose_out_size, _as_int)

__all__ = [
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_backward_input", "conv1d_backward_input", "conv2d_backward_input",
    "conv3d_backward_input",
    "conv_backward_weight", "conv1d_backward_weight", "conv2d_backward_weight",
    "conv3d_backward_weight", "conv_backward_bias",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
]

# Below this many multiply-adds a layer call runs on one thread: waking a
# team and splitting a small layer costs more than it saves.  2 threads
# against 1 (AVX2 Zen 3, in-process alternating calls): 1-D 32 -> 32 k5 at
# L = 64 and 256 (0.3M, 1.3M) 0.89-0.96x, 3x3 16 -> 16 at 8 x 8 (0.15M)
# 0.96x, 1 -> 8 k31 at L = 4096 (1.0M) 0.97-1.05x; from about 2M on the
# layers gain (3x3 32 -> 32 at 16 x 16, 2.4M: 1.21-1.35x).  Some layers
# below the line would gain a little (1x1 64 -> 64 at 16 x 16 1.09-1.19x):
# the rule errs on the side of never losing.  Depthwise layers (one input
# channel per group) count each multiply-add DEPTHWISE_WORK times in their
# forward and input gradient: they run at a quarter of the dense layers'
# rate or less (bound by memory), so they gain at fewer (3x3 64 channels at
# 32 x 32, 0.6M: 1.27-1.40x at 2 threads; 32 channels, 0.3M: 1.02-1.11x);
# their weight gradient does not (0.97-1.09x at 0.6M).
SERIAL_WORK = 1 << 21
DEPTHWISE_WORK = 4


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------

def as_float_array(a, name):
    """float32/float64, native byte order, C-contiguous (copied only if not)."""
    a = np.asarray(a)
    dt = a.dtype
    if dt.kind != "f" or dt.itemsize not in (4, 8):
        hint = " (convert float16 with .astype(np.float32))" if dt.kind == "f" else ""
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {dt}{hint}")
    if not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
    return np.ascontiguousarray(a)


def _same_dtype(arrays):
    (n0, a0), *rest = arrays
    for n, a in rest:
        if a.dtype != a0.dtype:
            raise TypeError(f"{n0} and {n} must have the same dtype, got {a0.dtype} and {a.dtype}")


def _check_ndim(nd, wshape, wname):
    if nd is None:
        nd = len(wshape) - 2
        if nd not in (1, 2, 3):
            raise ValueError(f"{wname} must have 3, 4 or 5 dims (out, in, *kernel), got shape {wshape}")
    elif len(wshape) != nd + 2:
        raise ValueError(f"{wname} must have {nd + 2} dims for a {nd}-D convolution, got shape {wshape}")
    if any(k < 1 for k in wshape[2:]):
        raise ValueError(f"{wname} kernel size must be >= 1 in every dim, got shape {wshape}")
    return nd


def _check_groups(groups):
    g = _as_int(groups, "groups")
    if g < 1:
        raise ValueError(f"groups must be >= 1, got {groups!r}")
    return g


def _bias(bias, channels, dtype):
    if bias is None:
        return None
    b = as_float_array(bias, "bias")
    if b.dtype != dtype:
        raise TypeError(f"bias must have dtype {dtype} like the inputs, got {b.dtype}")
    if b.shape != (channels,):
        raise ValueError(f"bias must have shape ({channels},), got {b.shape}")
    return b


def _output(out, shape, dtype, originals):
    """The result array: a new one, or ``out`` checked (the shape is
    checked by the caller: check_size)."""
    if out is None:
        return _dispatch.kernels.output_empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.c_contiguous or not out.flags.writeable or not out.dtype.isnative:
        raise ValueError("out must be a writeable, C-contiguous array in native byte order")
    for name, a in originals:
        if isinstance(a, np.ndarray) and np.may_share_memory(out, a):
            raise ValueError(f"out must not overlap the input {name}")
    return out


# GCC's OpenMP runtime is not fork-safe: a child forked after the parent
# ran a team of threads still sees that team, whose threads it does not
# have, and its first team waits for them forever.  So once a call here
# has run on more than one thread, the children forked after it (and
# theirs) run every call on one thread.
_team_started = False
_forked_after_team = False


def _after_fork_in_child():
    global _forked_after_team
    _forked_after_team = _team_started     # (inherited: never reset once set)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def note_team(nt):
    """Record that a team of ``nt`` threads is about to run (see above)."""
    global _team_started
    if nt > 1:
        _team_started = True


def threads_for(num_threads, work, serial_work=None):
    """Team size for a call: ``num_threads`` (validated) or OpenMP's current
    setting, and one thread below ``serial_work`` multiply-adds (default
    SERIAL_WORK, read at the call) or in a process forked after a team ran."""
    nt = check_num_threads(num_threads)
    if nt is None:
        nt = _dispatch.kernels.max_threads()
    if work < (SERIAL_WORK if serial_work is None else serial_work) or _forked_after_team:
        return 1
    note_team(nt)
    return nt


def _plain(value):
    """True for None, an int, a str, or a tuple of ints or of tuples of ints,
    all of exactly those built-in types: the arguments a cache key may
    compare by value (True == 1 == 1.0 == np.int8(1) would alias a call that
    must raise with one that passed)."""
    t = type(value)
    if t is int or t is str or value is None:
        return True
    if t is not tuple:
        return False
    for e in value:
        if type(e) is tuple:
            for f in e:
                if type(f) is not int:
                    return False
        elif type(e) is not int:
            return False
    return True


def shape_cache(fn):
    """Memoize a pure function of shapes and geometry arguments (its
    validation and the normalized geometry it returns) for the calls whose
    arguments are all plain (_plain); any other call runs it afresh.  A call
    that raises is never cached, so it raises every time.  Repeated calls of
    one layer skip ~10 us of argument checks (small layers take 20-100 us)."""
    cached = functools.lru_cache(maxsize=256)(fn)

    @functools.wraps(fn)
    def call(*args):
        for a in args:
            if not _plain(a):
                return fn(*args)
        return cached(*args)

    call.cache_clear = cached.cache_clear
    call.cache_info = cached.cache_info
    return call


def _spread_work(macs, wshape, groups):
    """The work SERIAL_WORK is compared with, for a forward or input-gradient
    call of ``macs`` multiply-adds with weights of shape ``wshape``."""
    return macs * DEPTHWISE_WORK if groups > 1 and wshape[1] == 1 else macs


def _geometry(nd, kernel, stride, padding, dilation):
    stride = int_tuple(stride, nd, "stride", 1)
    dilation = int_tuple(dilation, nd, "dilation", 1)
    pads = padding_pairs(padding, nd, kernel, dilation, stride)
    return stride, pads, dilation


def _conv_out(in_sp, kernel, stride, pads, dilation, what):
    out_sp = tuple(conv_out_size(n, k, s, p, d)
                   for n, k, s, p, d in zip(in_sp, kernel, stride, pads, dilation))
    if any(o < 1 for o in out_sp):
        eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        padded = tuple(n + p[0] + p[1] for n, p in zip(in_sp, pads))
        raise ValueError(f"kernel (effective size {eff}) is larger than the padded {what} "
                         f"(size {padded}): no output position")
    return out_sp


def _work(*dims):
    w = 1
    for d in dims:
        w *= int(d)
    return w


# --------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------

@shape_cache
def _forward_shapes(nd, xshape, wshape, itemsize, stride, padding, dilation, groups):
    """Validated geometry of a forward call: (groups, y's shape, stride,
    pads, dilation, work for threads_for: _spread_work)."""
    nd = _check_ndim(nd, wshape, "w")
    if len(xshape) != nd + 2:
        raise ValueError(f"x must have {nd + 2} dims (N, C, *spatial) to match w of shape "
                         f"{wshape}, got shape {xshape}")
    groups = _check_groups(groups)
    N, C = xshape[:2]
    K, Cg = wshape[:2]
    if C != Cg * groups:
        raise ValueError(f"x has {C} channels but w.shape[1] * groups = {Cg} * {groups} = "
                         f"{Cg * groups} (x shape {xshape}, w shape {wshape})")
    if K % groups:
        raise ValueError(f"w.shape[0] = {K} output channels is not divisible by groups={groups}")
    kernel = wshape[2:]
    stride, pads, dilation = _geometry(nd, kernel, stride, padding, dilation)
    out_sp = _conv_out(xshape[2:], kernel, stride, pads, dilation, "input")
    yshape = (N, K) + out_sp
    check_size(yshape, itemsize, "output")
    return groups, yshape, stride, pads, dilation, _spread_work(
        _work(N, K, *out_sp, Cg, *kernel), wshape, groups)


def _conv(nd, x, w, bias, stride, padding, dilation, groups, out, num_threads):
    orig = [("x", x), ("w", w), ("bias", bias)]
    x = as_float_array(x, "x")
    w = as_float_array(w, "w")
    _same_dtype([("x", x), ("w", w)])
    groups, yshape, stride, pads, dilation, work = _forward_shapes(
        nd, x.shape, w.shape, x.dtype.itemsize, stride, padding, dilation, groups)
    b = _bias(bias, yshape[1], x.dtype)
    y = _output(out, yshape, x.dtype, orig)
    if y.size == 0:
        return y
    nt = threads_for(num_threads, work)
    _dispatch.kernels.conv_forward(x, w, b, y, groups, stride, pads, dilation, nt)
    return y


def conv(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
         out=None, num_threads=None):
    """N-D convolution (cross-correlation, like ``torch.nn.functional.conv*d``).

    Parameters
    ----------
    x : array (N, C, *spatial), float32 or float64
    w : array (K, C // groups, *kernel), same dtype; 1, 2 or 3 spatial dims
        (the op's dimensionality is ``w.ndim - 2``)
    bias : array (K,) or None
    stride, dilation : int or tuple of ints (>= 1)
    padding : int, tuple of ints, tuple of (lo, hi) pairs, or 'valid',
        'same' (stride 1; output size = input size) or 'full' (d*(k-1) on
        both sides: size M + k - 1 for dilation 1)
    groups : int, divides C and K
    out : C-contiguous array of the result's shape and dtype, optional
    num_threads : None (OpenMP's current setting) or an int >= 1

    Returns
    -------
    y : array (N, K, *out_spatial)
    """
    return _conv(None, x, w, bias, stride, padding, dilation, groups, out, num_threads)


def conv1d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           out=None, num_threads=None):
    """1-D convolution: x (N, C, L), w (K, C // groups, k). See :func:`conv`."""
    return _conv(1, x, w, bias, stride, padding, dilation, groups, out, num_threads)


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           out=None, num_threads=None):
    """2-D convolution: x (N, C, H, W), w (K, C // groups, kh, kw). See :func:`conv`."""
    return _conv(2, x, w, bias, stride, padding, dilation, groups, out, num_threads)


def conv3d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           out=None, num_threads=None):
    """3-D convolution: x (N, C, D, H, W), w (K, C // groups, kd, kh, kw). See :func:`conv`."""
    return _conv(3, x, w, bias, stride, padding, dilation, groups, out, num_threads)


# --------------------------------------------------------------------------
# backward-input (and transposed convolution)
# --------------------------------------------------------------------------

def _shape_arg(shape, nd, name):
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    shape = tuple(_as_int(s, name) for s in shape)
    if len(shape) != nd + 2:
        raise ValueError(f"{name} must have {nd + 2} entries, got {shape!r}")
    if any(s < 0 for s in shape):
        raise ValueError(f"{name} must not have negative entries, got {shape!r}")
    return shape


def _backward_input_run(gy, w, b, dx, groups, stride, pads, dilation, work, num_threads):
    if dx.size == 0:
        return dx
    nt = threads_for(num_threads, work)
    _dispatch.kernels.conv_backward_input(gy, w, b, dx, groups, stride, pads, dilation, nt)
    return dx


@shape_cache
def _backward_input_shapes(nd, gyshape, wshape, input_shape, itemsize, stride, padding,
                           dilation, groups):
    """Validated geometry of a backward-input call: (groups, dx's shape,
    stride, pads, dilation, work for threads_for: _spread_work)."""
    nd = _check_ndim(nd, wshape, "w")
    if len(gyshape) != nd + 2:
        raise ValueError(f"grad_out must have {nd + 2} dims, got shape {gyshape}")
    groups = _check_groups(groups)
    shape = _shape_arg(input_shape, nd, "input_shape")
    N, C = shape[:2]
    K, Cg = wshape[:2]
    if C != Cg * groups:
        raise ValueError(f"input_shape has {C} channels but w.shape[1] * groups = "
                         f"{Cg * groups} (w shape {wshape})")
    if K % groups:
        raise ValueError(f"w.shape[0] = {K} is not divisible by groups={groups}")
    if gyshape[:2] != (N, K):
        raise ValueError(f"grad_out shape {gyshape} does not start with (N, K) = {(N, K)} "
                         f"from input_shape and w")
    kernel = wshape[2:]
    stride, pads, dilation = _geometry(nd, kernel, stride, padding, dilation)
    out_sp = _conv_out(shape[2:], kernel, stride, pads, dilation, "input_shape")
    if out_sp != gyshape[2:]:
        raise ValueError(f"grad_out spatial shape {gyshape[2:]} does not match the forward "
                         f"output {out_sp} of input_shape {shape}")
    check_size(shape, itemsize, "input_shape")
    return groups, shape, stride, pads, dilation, _spread_work(
        _work(*gyshape, *wshape[1:]), wshape, groups)


def _backward_input(nd, grad_out, w, input_shape, stride, padding, dilation, groups,
                    num_threads):
    gy = as_float_array(grad_out, "grad_out")
    w = as_float_array(w, "w")
    _same_dtype([("grad_out", gy), ("w", w)])
    groups, shape, stride, pads, dilation, work = _backward_input_shapes(
        nd, gy.shape, w.shape, input_shape, gy.dtype.itemsize, stride, padding, dilation,
        groups)
    dx = _dispatch.kernels.output_empty(shape, gy.dtype)
    return _backward_input_run(gy, w, None, dx, groups, stride, pads, dilation, work,
                               num_threads)


def conv_backward_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                        groups=1, *, num_threads=None):
    """Gradient of :func:`conv` with respect to its input ``x``.

    This is the transposed convolution of ``grad_out`` (N, K, *out) with
    ``w`` (K, C // groups, *kernel); ``input_shape`` is x's shape
    (N, C, *spatial), which fixes the size when stride > 1.  Strided cases
    never multiply inserted zeros: each stride phase is a dense convolution.
    """
    return _backward_input(None, grad_out, w, input_shape, stride, padding, dilation,
                           groups, num_threads)


def conv1d_backward_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                          groups=1, *, num_threads=None):
    """1-D :func:`conv_backward_input`."""
    return _backward_input(1, grad_out, w, input_shape, stride, padding, dilation,
                           groups, num_threads)


def conv2d_backward_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                          groups=1, *, num_threads=None):
    """2-D :func:`conv_backward_input`."""
    return _backward_input(2, grad_out, w, input_shape, stride, padding, dilation,
                           groups, num_threads)


def conv3d_backward_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1,
                          groups=1, *, num_threads=None):
    """3-D :func:`conv_backward_input`."""
    return _backward_input(3, grad_out, w, input_shape, stride, padding, dilation,
                           groups, num_threads)


@shape_cache
def _transpose_shapes(nd, xshape, wshape, itemsize, stride, padding, output_padding,
                      groups, dilation):
    """Validated geometry of a transposed convolution: (groups, y's shape,
    stride, pads, dilation, work for threads_for: _spread_work)."""
    nd = _check_ndim(nd, wshape, "w")
    if len(xshape) != nd + 2:
        raise ValueError(f"x must have {nd + 2} dims (N, C_in, *spatial), got shape {xshape}")
    groups = _check_groups(groups)
    N, Cin = xshape[:2]
    if wshape[0] != Cin:
        raise ValueError(f"w.shape[0] = {wshape[0]} must equal x's {Cin} input channels "
                         f"(w is (C_in, C_out // groups, *kernel))")
    if Cin % groups:
        raise ValueError(f"x's {Cin} channels are not divisible by groups={groups}")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a tuple for a transposed convolution, "
                         f"got {padding!r}")
    kernel = wshape[2:]
    stride, pads, dilation = _geometry(nd, kernel, stride, padding, dilation)
    opad = int_tuple(output_padding, nd, "output_padding", 0)
    for o, s, d in zip(opad, stride, dilation):
        if o >= max(s, d):
            raise ValueError(f"output_padding {opad} must be smaller than stride {stride} "
                             f"or dilation {dilation}")
    out_sp = tuple(transpose_out_size(n, k, s, p, d, o) for n, k, s, p, d, o in
                   zip(xshape[2:], kernel, stride, pads, dilation, opad))
    if any(o < 1 for o in out_sp):
        raise ValueError(f"output size {out_sp} of the transposed convolution is not positive")
    shape = (N, wshape[1] * groups) + out_sp
    check_size(shape, itemsize, "output")
    return groups, shape, stride, pads, dilation, _spread_work(
        _work(*xshape, *wshape[1:]), wshape, groups)


def _conv_transpose(nd, x, w, bias, stride, padding, output_padding, groups, dilation,
                    num_threads):
    x = as_float_array(x, "x")
    w = as_float_array(w, "w")
    _same_dtype([("x", x), ("w", w)])
    groups, shape, stride, pads, dilation, work = _transpose_shapes(
        nd, x.shape, w.shape, x.dtype.itemsize, stride, padding, output_padding, groups,
        dilation)
    b = _bias(bias, shape[1], x.dtype)
    y = _dispatch.kernels.output_empty(shape, x.dtype)
    return _backward_input_run(x, w, b, y, groups, stride, pads, dilation, work, num_threads)


def conv_transpose(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                   dilation=1, *, num_threads=None):
    """Transposed convolution, like ``torch.nn.functional.conv_transpose*d``.

    ``x`` is (N, C_in, *spatial), ``w`` (C_in, C_out // groups, *kernel);
    output size per dim: (n - 1)*stride - 2*padding + dilation*(k - 1)
    + output_padding + 1.  Shares the backward-input kernel.
    """
    return _conv_transpose(None, x, w, bias, stride, padding, output_padding, groups,
                           dilation, num_threads)


def conv_transpose1d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """1-D :func:`conv_transpose`."""
    return _conv_transpose(1, x, w, bias, stride, padding, output_padding, groups,
                           dilation, num_threads)


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """2-D :func:`conv_transpose`."""
    return _conv_transpose(2, x, w, bias, stride, padding, output_padding, groups,
                           dilation, num_threads)


def conv_transpose3d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, num_threads=None):
    """3-D :func:`conv_transpose`."""
    return _conv_transpose(3, x, w, bias, stride, padding, output_padding, groups,
                           dilation, num_threads)


# --------------------------------------------------------------------------
# backward-weight and backward-bias
# --------------------------------------------------------------------------

@shape_cache
def _backward_weight_shapes(nd, xshape, gyshape, weight_shape, itemsize, stride, padding,
                            dilation, groups):
    """Validated geometry of a backward-weight call: (groups, dw's shape,
    stride, pads, dilation, multiply-adds)."""
    if nd is None:
        nd = len(xshape) - 2
        if nd not in (1, 2, 3):
            raise ValueError(f"x must have 3, 4 or 5 dims, got shape {xshape}")
    if len(xshape) != nd + 2 or len(gyshape) != nd + 2:
        raise ValueError(f"x and grad_out must have {nd + 2} dims, got shapes {xshape} "
                         f"and {gyshape}")
    groups = _check_groups(groups)
    wshape = _shape_arg(weight_shape, nd, "weight_shape")
    K, Cg = wshape[:2]
    kernel = wshape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight_shape kernel size must be >= 1, got {wshape}")
    N, C = xshape[:2]
    if C != Cg * groups:
        raise ValueError(f"x has {C} channels but weight_shape[1] * groups = {Cg * groups}")
    if K % groups:
        raise ValueError(f"weight_shape[0] = {K} is not divisible by groups={groups}")
    if gyshape[:2] != (N, K):
        raise ValueError(f"grad_out shape {gyshape} does not start with (N, K) = {(N, K)}")
    stride, pads, dilation = _geometry(nd, kernel, stride, padding, dilation)
    out_sp = _conv_out(xshape[2:], kernel, stride, pads, dilation, "input")
    if out_sp != gyshape[2:]:
        raise ValueError(f"grad_out spatial shape {gyshape[2:]} does not match the forward "
                         f"output {out_sp} of x {xshape} with weight_shape {wshape}")
    check_size(wshape, itemsize, "weight_shape")
    return groups, wshape, stride, pads, dilation, _work(*gyshape, *wshape[1:])


def _backward_weight(nd, x, grad_out, weight_shape, stride, padding, dilation, groups,
                     num_threads):
    x = as_float_array(x, "x")
    gy = as_float_array(grad_out, "grad_out")
    _same_dtype([("x", x), ("grad_out", gy)])
    groups, wshape, stride, pads, dilation, work = _backward_weight_shapes(
        nd, x.shape, gy.shape, weight_shape, x.dtype.itemsize, stride, padding, dilation,
        groups)
    dw = np.zeros(wshape, dtype=x.dtype)
    if dw.size == 0 or gy.size == 0:
        return dw
    nt = threads_for(num_threads, work)
    _dispatch.kernels.conv_backward_weight(x, gy, dw, groups, stride, pads, dilation, nt)
    return dw


def conv_backward_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                         groups=1, *, num_threads=None):
    """Gradient of :func:`conv` with respect to ``w``:
    ``dw[k, c, t] = sum_{n, o} grad_out[n, k, o] * x[n, c, o*stride - pad + t*dilation]``.

    The reduction over the batch runs in fixed chunks added in a fixed order,
    so the result is bitwise identical for every thread count.
    """
    return _backward_weight(None, x, grad_out, weight_shape, stride, padding, dilation,
                            groups, num_threads)


def conv1d_backward_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                           groups=1, *, num_threads=None):
    """1-D :func:`conv_backward_weight`."""
    return _backward_weight(1, x, grad_out, weight_shape, stride, padding, dilation,
                            groups, num_threads)


def conv2d_backward_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                           groups=1, *, num_threads=None):
    """2-D :func:`conv_backward_weight`."""
    return _backward_weight(2, x, grad_out, weight_shape, stride, padding, dilation,
                            groups, num_threads)


def conv3d_backward_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1,
                           groups=1, *, num_threads=None):
    """3-D :func:`conv_backward_weight`."""
    return _backward_weight(3, x, grad_out, weight_shape, stride, padding, dilation,
                            groups, num_threads)


def conv_backward_bias(grad_out):
    """Gradient with respect to the bias: ``grad_out`` summed over all but axis 1."""
    gy = as_float_array(grad_out, "grad_out")
    if gy.ndim < 3:
        raise ValueError(f"grad_out must have at least 3 dims (N, K, *spatial), got {gy.shape}")
    return gy.sum(axis=(0,) + tuple(range(2, gy.ndim)), dtype=gy.dtype)

"""Shapes, padding and argument normalization for convolutions.

Everything here is pure Python on small tuples: it validates user arguments
(raising TypeError / ValueError that name the argument) and computes output
sizes and the per-axis geometry the kernels run on.
"""
import functools
import math
import operator

import numpy as np

PADDING_STRINGS = ("valid", "same", "full")
MAX_THREADS = 4096
# largest byte size of an array the kernels index (a quarter of the index
# range: offsets computed a few elements past the end stay representable)
SIZE_LIMIT = np.iinfo(np.intp).max // 4


def _as_int(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from None


def int_tuple(value, nd, name, minimum):
    """An int or a length-nd sequence of ints, each >= minimum, as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{name} must have {nd} entries (one per spatial dim), got {value!r}")
        out = tuple(_as_int(v, name) for v in value)
    else:
        out = (_as_int(value, name),) * nd
    for v in out:
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


def padding_pairs(padding, nd, kernel, dilation, stride):
    """Normalize ``padding`` to a tuple of (lo, hi) pairs per spatial dim.

    Accepts an int, a tuple of ints (one per dim), a tuple of (lo, hi) pairs,
    or 'valid' / 'same' / 'full'.  'same' keeps the input size (stride 1
    only, like torch; the extra pad of an even effective kernel goes to the
    high side); 'full' pads d*(k-1) on both sides.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in PADDING_STRINGS:
            raise ValueError(
                f"padding must be an int, a tuple, or one of {PADDING_STRINGS}, got {padding!r}")
        eff = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if mode == "valid":
            return tuple((0, 0) for _ in range(nd))
        if mode == "full":
            return tuple((e, e) for e in eff)
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions "
                             f"(stride={stride})")
        return tuple((e // 2, e - e // 2) for e in eff)
    if isinstance(padding, (tuple, list)):
        if len(padding) != nd:
            raise ValueError(f"padding must have {nd} entries (one per spatial dim), got {padding!r}")
        pairs = []
        for p in padding:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise ValueError(f"padding pairs must be (lo, hi), got {p!r}")
                pairs.append((_as_int(p[0], "padding"), _as_int(p[1], "padding")))
            else:
                v = _as_int(p, "padding")
                pairs.append((v, v))
    else:
        v = _as_int(padding, "padding")
        pairs = [(v, v)] * nd
    for lo, hi in pairs:
        if lo < 0 or hi < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
    return tuple(pairs)


def conv_out_size(n, k, s, pad, d):
    """Output length of a convolution along one axis (may be <= 0)."""
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def transpose_out_size(n, k, s, pad, d, output_padding):
    """Output length of a transposed convolution along one axis."""
    return (n - 1) * s - pad[0] - pad[1] + d * (k - 1) + output_padding + 1


def check_num_threads(num_threads):
    if num_threads is None:
        return None
    if type(num_threads) is int and 1 <= num_threads <= MAX_THREADS:
        return num_threads
    n = _as_int(num_threads, "num_threads")
    if n < 1 or n > MAX_THREADS:
        raise ValueError(f"num_threads must be None or an int in [1, {MAX_THREADS}], got {num_threads!r}")
    return n


def check_size(shape, itemsize, name):
    """Reject shapes whose byte size or index arithmetic would overflow."""
    total = itemsize
    for s in shape:
        total *= max(int(s), 1)
    if total > SIZE_LIMIT:
        raise ValueError(f"{name} of shape {tuple(shape)} is too large ({total} bytes)")


@functools.lru_cache(maxsize=256)
def backward_input_phases(n_x, n_y, k, s, p_lo, d):
    """Split the transposed convolution along one axis into stride phases.

    Forward: y[o] reads x[o*s - p_lo + t*d].  For the input positions
    i = q*s + r (phase r), the taps that reach them are
    T_r = {t : (r + p_lo - t*d) % s == 0}, and then
        dx[q*s + r] = sum_j w[T_r[L-1-j]] * dy[q + base + j*(d/g)],  g = gcd(s, d),
    a dense stride-1 convolution of dy.  Returns, per phase, the taps (in the
    order the packed kernel uses them) and the kernels' Axis tuple
    (n_in, taps, stride, dil, off, n_q, n_out, out_step, out_base).
    Read-only (a tuple of pairs, the tap arrays not writeable), kept for the
    next call: three of them took ~5 us of a small layer's input gradient.
    """
    g = math.gcd(s, d)
    phases = []
    for r in range(min(s, n_x)):
        taps = [t for t in range(k) if (r + p_lo - t * d) % s == 0]
        n_q = (n_x - r + s - 1) // s
        if not taps:
            phases.append((_read_only(np.empty(0, np.intp)), None))
            continue
        base = (r + p_lo - taps[-1] * d) // s
        axis = (n_y, len(taps), 1, d // g, base, n_q, n_x, s, r)
        phases.append((_read_only(np.array(taps[::-1], dtype=np.intp)), axis))
    return tuple(phases)


def _read_only(a):
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=64)
def flat_plane_table(ah, aw, VL):
    """(tab, off, grid) for the kernels' wff_tile over output planes of the
    axes ah, aw (the kernels' Axis tuples along h and w), strides sh, sw: the input as sh x sw
    phase planes of Hq = ceil(H / sh) rows of Wo (the output rows'
    length) elements, phase (a, b) holding x[sh * u + a, sw * v + b] at
    row u, column v (grid: the elements of all of them; for stride 1 x
    itself, rows as long as the output's).  off[i * kw + j]: the offset of
    tap (i, j)'s input from its output position, tab[v * taps + i * kw + j]:
    the lanes of output vector v (positions v * VL + l of the plane) whose
    tap (i, j) reads inside the input.  Read-only, kept for the next call."""
    H, kh, sh, dh, oh, Ho = [int(v) for v in ah[:6]]
    W, kw, sw, dw, ow, Wo = [int(v) for v in aw[:6]]
    Hq = (H + sh - 1) // sh
    n_out = Ho * Wo
    nvec = (n_out + VL - 1) // VL
    o = np.arange(nvec * VL).reshape(nvec, 1, 1, VL)
    ih = (oh + np.arange(kh) * dh).reshape(1, -1, 1, 1)
    jw = (ow + np.arange(kw) * dw).reshape(1, 1, -1, 1)
    row = (o // Wo) * sh + ih
    col = (o % Wo) * sw + jw
    inside = (o < n_out) & (row >= 0) & (row < H) & (col >= 0) & (col < W)
    bits = (1 << np.arange(VL)).reshape(1, 1, 1, VL)
    tab = (inside * bits).sum(axis=3).astype(np.uint16).reshape(-1)
    off = ((((ih % sh) * sw + jw % sw) * Hq + ih // sh) * Wo + jw // sw).astype(np.intp)
    off = off.reshape(-1)
    tab.flags.writeable = False
    off.flags.writeable = False
    return tab, off, sh * sw * Hq * Wo


@functools.lru_cache(maxsize=64)
def flat_transposed_table(ah, aw, VL):
    """For the kernels' flat_transposed_item over the forward axes ah, aw
    (the kernels' Axis tuples along h and w): per stride
    phase p = a * sw + b, its taps (flat indices i * kw + j, i then j
    ascending), their offsets into gy's plane from a grid position, and
    the lane masks [vector][tap] (gy position inside its plane), all
    concatenated; per phase (first tap, first mask, tap count); grid
    vectors.  Read-only, kept for the next call."""
    H, kh, sh, dh, oh, Ho = [int(v) for v in ah[:6]]
    W, kw, sw, dw, ow, Wo = [int(v) for v in aw[:6]]
    Hq = (H + sh - 1) // sh
    nvec = (Hq * Wo + VL - 1) // VL
    q = np.arange(nvec * VL).reshape(nvec, 1, VL)
    taps, offs, tabs, meta = [], [], [], []
    t0 = m0 = 0
    for a in range(sh):
        for b in range(sw):
            sel, di, dj = [], [], []
            for i in range(kh):
                ih = oh + i * dh
                if ih % sh != a:
                    continue
                for j in range(kw):
                    jw = ow + j * dw
                    if jw % sw == b:
                        sel.append(i * kw + j)
                        di.append(ih // sh)
                        dj.append(jw // sw)
            di = np.array(di, np.intp).reshape(1, -1, 1)
            dj = np.array(dj, np.intp).reshape(1, -1, 1)
            r = q // Wo - di
            c = q % Wo - dj
            inside = (q < Hq * Wo) & (r >= 0) & (r < Ho) & (c >= 0) & (c < Wo)
            tab = (inside * (1 << np.arange(VL)).reshape(1, 1, VL)).sum(axis=2)
            taps.append(np.array(sel, np.intp))
            offs.append((-(di * Wo + dj)).reshape(-1))
            tabs.append(tab.astype(np.uint16).reshape(-1))
            meta += [t0, m0, len(sel)]
            t0 += len(sel)
            m0 += tabs[-1].size
    out = (np.concatenate(taps), np.concatenate(offs).astype(np.intp),
           np.concatenate(tabs).astype(np.uint16), np.array(meta, np.intp), nvec)
    for arr in out[:4]:
        arr.flags.writeable = False
    return out

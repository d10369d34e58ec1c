# Tiled direct convolution kernels (the drivers; one source for every SIMD build).
#
# setup.py compiles this file once per SIMD variant: the generated stub
# cyconv/_kernels_<variant>.pyx cimports that variant's micro-kernels
# (_microkernels_<variant>.pxd, rendered from _microkernels.pxd.tp) and includes
# this file; cyconv._dispatch imports the best variant the CPU can run.
#
# Three operations share one register-tiled design (the micro-kernels):
#
# * forward:          y[n,k,o]  = b[k] + sum_{c,t} w[k,c,t] x[n,c,o*s - p + t*d]
# * backward-input:   dx[n,c,i] = sum_{k,(o,t): o*s - p + t*d = i} w[k,c,t] dy[n,k,o]
#   (the transposed convolution; also the forward op of ``conv_transpose``)
# * backward-weight:  dw[k,c,t] = sum_{n,o} dy[n,k,o] x[n,c,o*s - p + t*d]
#
# Every array here is C-contiguous and channel-major with exactly three spatial
# axes: 1-D and 2-D problems arrive as views with leading spatial extent 1.
#
# Geometry of one spatial axis of a tiled convolution (``Axis``): output
# position ``q`` (``0 <= q < n_q``) reads input index ``q*stride + off + t*dil``
# for tap ``t`` of ``taps`` and writes output index ``q*out_step + out_base``.
# Taps that fall outside ``[0, n_in)`` are zero padding: they are skipped by
# clipping the tap range (never by multiplying zeros), and only at the borders;
# the interior of a row runs the full micro-kernel.  (Where a weight or a
# gradient value is inf or NaN, the forward and the weight gradient still
# hold the NaN of 0 * inf that the padding's products give: the entry points
# add it after the kernels, see _nonfinite.py.)
#
# Work split: the forward/backward-input driver gives each (image, group,
# output row, channel block) to one thread; every output element is computed by
# exactly one thread in a fixed order, so results do not depend on the thread
# count.  Backward-weight reduces over a fixed number of batch chunks (a function
# of the shape only) whose partial sums are added in chunk order.
#
# Two tilings:
#
# * channel tiles (``fwd_*`` micro-kernels): a tile of output channels x
#   positions, weights packed per channel block, input channels in blocks of
#   packed weights (WEIGHT_BLOCK_BYTES; partial sums in a per-thread row buffer);
# * width tiles (``wv_*``, ``wr_*``, ``wl_*``; ``wg_*``, ``wh_*``, ``wd_*``
#   for the weight gradient) for few output channels per group (depthwise,
#   single-channel signals and images) or short reductions: vectors along the
#   output positions, over the input in place or a zero-padded per-thread
#   patch (``input_window``);
# * phase-lane tiles (``pl_*``) for transposed convolutions whose stride
#   along w divides the vector length and whose kernel there is a multiple
#   of it: the stride phases of consecutive positions in the lanes.
#
# Extra memory per call: packed weights (padded to the channel block), the
# backward-weight partial sums (one weight tensor per thread: the chunks run
# in waves, ``weight_slots``) and small per-thread work buffers (``scratch``),
# reused across calls.

from cython.parallel cimport prange, parallel

import functools
import math
import threading

import numpy as np

cimport numpy as cnp

from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memmove, memset

# The micro-kernels (fwd_tile, wv_tile, wr_tile, wl_tile, wg_tile, wh_tile,
# wd_tile, first_tile, wv_max_pv, wv_fit_mb, wr_max_pv, wl_fit_pv,
# vector_lanes, the cy_* vector ops and the `floating` fused type) come from
# this variant's _microkernels_<variant> module, cimported by the generated
# stub that includes this file.
from cyconv._openmp_helpers cimport (
    CYCONV_OPENMP, omp_get_max_threads, omp_get_thread_num)

from cyconv._geometry import (backward_input_phases, flat_plane_table,
                              flat_transposed_table)
from cyconv._nonfinite import forward_nans, weight_grad_nans

cnp.import_array()

# A run of positions is cut into the variant's tile widths by first_tile:
# mostly main tiles, the rest as few, wide tiles (16 positions as 8 + 8
# rather than 14 + 2).


cdef cnp.ndarray aligned_buffer(Py_ssize_t n, int typenum, Py_ssize_t itemsize):
    """n uninitialized elements whose data starts on a 64-byte boundary (a
    1-D view into a buffer 64 bytes longer)."""
    cdef cnp.npy_intp size = n + 64 // itemsize
    cdef cnp.ndarray buf = cnp.PyArray_EMPTY(1, &size, typenum, 0)
    cdef Py_ssize_t off = (64 - <size_t> cnp.PyArray_DATA(buf) % 64) % 64 // itemsize
    return buf[off:off + n]


def aligned_empty(shape, dtype):
    """An uninitialized array whose data starts on a 64-byte boundary:
    numpy's large allocations start 16 bytes past a cache line, so every
    full-width vector load of packed weights straddled two lines, and
    streaming stores need whole aligned vectors."""
    dtype = np.dtype(dtype)
    cdef Py_ssize_t n = 1, s
    if not isinstance(shape, tuple):      # an int: a 1-D buffer
        shape = (shape,)
    for s in shape:
        n *= s
    return aligned_buffer(n, dtype.num, dtype.itemsize).reshape(shape)


def output_empty(shape, dtype):
    """An uninitialized output array for the layer functions: one of
    STREAM_MIN_BYTES or more, which the kernels may store non-temporally
    (whole aligned vectors), from aligned_empty; a smaller one from numpy
    as it comes (aligned, the small layers measured up to 6% slower)."""
    dtype = np.dtype(dtype)
    cdef Py_ssize_t n = dtype.itemsize, s
    for s in shape:
        n *= s
    if n >= STREAM_MIN_BYTES:
        return aligned_empty(tuple(shape), dtype)
    return np.empty(shape, dtype=dtype)


_scratch = threading.local()
SCRATCH_KEEP = 32 << 20      # bytes of per-thread buffers kept between calls


def scratch(name, Py_ssize_t rows, Py_ssize_t cols, dtype):
    """An uninitialized (rows, cols) work buffer, reused across calls by the
    calling Python thread (no page faults from fresh allocations); buffers
    above SCRATCH_KEEP bytes are not kept."""
    if dtype is not _F32 and dtype is not _F64:
        dtype = np.dtype(dtype)
    need = max(rows * cols, 1)
    key = (name, dtype.char)
    buf = getattr(_scratch, "buffers", None)
    if buf is None:
        buf = _scratch.buffers = {}
    have = buf.get(key)
    if have is None or have.size < need:
        have = aligned_empty(need, dtype)
        if need * dtype.itemsize <= SCRATCH_KEEP:
            buf[key] = have
    return have[:need].reshape(max(rows, 1), max(cols, 1))


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CYCONV_OPENMP)


def max_threads():
    """OpenMP's current default team size (1 without OpenMP)."""
    return omp_get_max_threads()


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


cdef inline object float_dtype(floating v):
    """The numpy dtype of a specialization of the fused type (np.asarray of
    a typed memoryview, for its dtype, cost about a microsecond)."""
    return _F32 if floating is float else _F64


def lanes(dtype):
    """Elements of `dtype` (float32/float64) in one vector of this variant.
    (An array's dtype is one of the two dtype objects above: compared by
    identity first, the planner calls this a dozen times per call.)"""
    if dtype is _F32:
        return CY_VL_F32
    if dtype is _F64:
        return CY_VL_F64
    return CY_VL_F32 if np.dtype(dtype) == np.float32 else CY_VL_F64


cdef struct Axis:
    Py_ssize_t n_in       # input extent
    Py_ssize_t taps       # kernel extent (packed)
    Py_ssize_t stride     # input step per output position
    Py_ssize_t dil        # input step per tap
    Py_ssize_t off        # input index of position 0, tap 0
    Py_ssize_t n_q        # output positions computed
    Py_ssize_t n_out      # extent of the output array
    Py_ssize_t out_step   # output index = q * out_step + out_base
    Py_ssize_t out_base


cdef Axis make_axis(tuple t) except *:
    cdef Axis a
    (a.n_in, a.taps, a.stride, a.dil, a.off,
     a.n_q, a.n_out, a.out_step, a.out_base) = t
    return a


cdef tuple forward_axes(tuple in_sp, tuple kernel, tuple stride, tuple pads,
                        tuple dilation, tuple out_sp):
    """The (d, h, w) axes of a forward convolution with 1 to 3 spatial axes
    (leading ones of extent 1 for 1-D and 2-D): input extent, taps,
    stride, dilation, pads[i] = (lo, hi), all out_sp positions computed."""
    cdef Py_ssize_t nd = len(in_sp), i, j
    axes = []
    for i in range(3):
        j = i - (3 - nd)
        if j < 0:
            axes.append((1, 1, 1, 1, 0, 1, 1, 1, 0))
        else:
            axes.append((in_sp[j], kernel[j], stride[j], dilation[j], -pads[j][0],
                         out_sp[j], out_sp[j], 1, 0))
    return tuple(axes)


cdef object view5(a):
    """a (N, C, *spatial), 1 to 3 spatial axes, as (N, C, D, H, W).  (Through
    numpy's C API: ``a.reshape`` with a new shape tuple, three per call,
    took a sixth of a small layer's call in the compiled module.)"""
    if not isinstance(a, cnp.ndarray):
        a = np.asarray(a)
    cdef cnp.ndarray arr = <cnp.ndarray> a
    cdef int nd = cnp.PyArray_NDIM(arr), i
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(arr)
    cdef cnp.npy_intp dims[5]
    cdef cnp.PyArray_Dims newshape
    if nd == 5:
        return a
    if nd < 2 or nd > 5:
        raise ValueError(f"expected 3 to 5 dims (N, C, *spatial), got shape {a.shape}")
    dims[0], dims[1] = shape[0], shape[1]
    for i in range(2, 5):
        dims[i] = 1 if i < 5 - (nd - 2) else shape[i - (5 - nd)]
    newshape.ptr = dims
    newshape.len = 5
    return cnp.PyArray_Newshape(arr, &newshape, cnp.NPY_CORDER)


cdef inline void step_range(const Axis* a, Py_ssize_t q, Py_ssize_t n,
                            Py_ssize_t* t0, Py_ssize_t* t1) noexcept nogil:
    """Steps t < n with 0 <= q*stride + off + t*dil < n_in, as [t0, t1)."""
    cdef Py_ssize_t base = q * a.stride + a.off
    cdef Py_ssize_t lo = 0, hi = n, room
    if base < 0:
        lo = (-base + a.dil - 1) // a.dil
    room = a.n_in - 1 - base
    if room < 0:
        hi = 0
    elif room // a.dil + 1 < hi:
        hi = room // a.dil + 1
    if hi < lo:
        hi = lo
    t0[0] = lo
    t1[0] = hi


cdef inline void tap_range(const Axis* a, Py_ssize_t q,
                           Py_ssize_t* t0, Py_ssize_t* t1) noexcept nogil:
    """Taps t with 0 <= q*stride + off + t*dil < n_in, as [t0, t1)."""
    step_range(a, q, a.taps, t0, t1)


cdef bint array_finite(cnp.ndarray a):
    """No inf or NaN in a float32 or float64 array (all_finite where it is
    C-contiguous)."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        return bool(np.isfinite(a).all())
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT:
        return all_finite(<const float*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return all_finite(<const double*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef bint empty_windows(tuple axes) except -1:
    """Some output's window lies wholly in the padding along one of the
    (forward) axes: all its taps outside the input."""
    cdef Axis a
    cdef Py_ssize_t q, t0, t1
    for t in axes:
        a = make_axis(t)
        for q in range(a.n_q):
            tap_range(&a, q, &t0, &t1)
            if t0 >= t1:
                return True
    return False


cdef inline bint all_finite(const floating* p, Py_ssize_t n) noexcept nogil:
    """No inf or NaN among p[0 .. n): no element with every exponent bit
    set (an integer test over the bit patterns, which GCC vectorizes; a
    pass at memory speed)."""
    cdef Py_ssize_t i
    cdef const unsigned int* u = <const unsigned int*> p
    cdef const unsigned long long* v = <const unsigned long long*> p
    cdef unsigned int bad = 0
    cdef unsigned long long bad64 = 0
    if floating is float:
        for i in range(n):
            bad |= (u[i] & 0x7f800000u) == 0x7f800000u
        return bad == 0
    else:
        for i in range(n):
            bad64 |= (v[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull
        return bad64 == 0


cdef inline void interior(const Axis* a, Py_ssize_t* q0, Py_ssize_t* q1) noexcept nogil:
    """Positions [q0, q1) whose taps are all inside the input."""
    cdef Py_ssize_t lo = 0, hi, room
    if a.off < 0:
        lo = (-a.off + a.stride - 1) // a.stride
    room = a.n_in - 1 - a.off - (a.taps - 1) * a.dil
    hi = room // a.stride + 1 if room >= 0 else 0
    if hi > a.n_q:
        hi = a.n_q
    if lo > a.n_q:
        lo = a.n_q
    if hi < lo:
        hi = lo
    q0[0] = lo
    q1[0] = hi


# --------------------------------------------------------------------------
# forward driver (also runs each phase of backward-input)
# --------------------------------------------------------------------------

# Input channels per block: the packed weights of one block take at most
# WEIGHT_BLOCK_BYTES (from the template: per tile shape), split evenly (64
# channels in two blocks as 32 + 32, not 56 + 8).  Each block after the
# first reloads and stores the tile's partial sums (abuf) and runs its
# border tiles again.  The 2 x 14 AVX-512 tiles read 128 bytes of weights
# per 28 FMAs, which Zen 4's L2 and prefetcher keep up with, so keeping
# their block in L1 beside its input rows (16 KiB blocks, measured best on a
# 48 KiB L1D) cost more in partial-sum passes than it saved: 256 KiB (every
# suite layer's channel block in one piece) against 16 KiB, in-process on
# Zen 4 (32 KiB L1D, 1 MiB L2), 3x3 64 -> 64 and 128 -> 128 forward
# 1.04-1.07x at 1 thread and at 2, the 3-D layer 1.05x, float64 1.03-1.05x,
# input gradients 1.00-1.05x, the 4x4 stride-2 conv_transpose2d's phases
# 1.03x against their 32 KiB; 3x3 512 -> 512 at 7 x 7 (one tile per row,
# weights from L3 either way) 0.96-1.00x; 64 KiB blocks stood between.

# Output positions per row segment: bounds the per-thread partial-sum buffer;
# a multiple of the main tile widths (SEGMENT_POSITIONS, from the template):
# 128 covered 14-wide tiles with two 8-wide ones per segment (1-D, 4096
# positions: 112 measured 1.01-1.02x).
cdef enum:
    SEGMENT = SEGMENT_POSITIONS


cdef struct Plan:
    Py_ssize_t G, Cg, Kg, KB, nkb, cb
    Py_ssize_t woff                   # this w-phase's packed weights in wpk
    Py_ssize_t wbs                    # packed weights per output-channel block
                                      # in wpk (0: wpk holds the item's block)
    Py_ssize_t Ky                     # output channels per group in y's layout
    int kv
    Py_ssize_t xs_c, xs_d, xs_h       # input strides (channel, depth, height)
    Py_ssize_t ys_c, ys_d, ys_h       # output strides
    Py_ssize_t tk, tstep              # the tiles' channel and position steps
                                      # (ys_c, out_step; or a phase buffer's)
    Py_ssize_t wc, wkd, wkh           # packed-weight strides
    Py_ssize_t qlo, qhi               # interior positions along w
    bint prefetch                     # the tiles prefetch their input rows
    bint stream                       # weave_phases stores non-temporally
    Py_ssize_t kb_items               # items per output-channel block where the
                                      # blocks vary slowest (0: fastest; conv_row)
    Axis ad, ah, aw


cdef inline void split_tile(
        const Plan* P, Py_ssize_t q0, Py_ssize_t s, Py_ssize_t pb, Py_ssize_t e,
        Py_ssize_t t0, Py_ssize_t t1, const floating* xrow, const floating* wblk,
        const floating* bblk, floating* yrow, Py_ssize_t nc, Py_ssize_t nd,
        Py_ssize_t nh, Py_ssize_t nk, floating* abuf, bint first, bint last) noexcept nogil:
    """Positions [s, s + pb) where position e, the first or the last, reaches
    only taps [t0, t1) of the row (a border position) and the others all of
    them, as one tile of pb positions instead of pb - 1 and a lone border
    position (2.4x the cost per output): the other pb - 1 positions first
    take the taps e lacks, into abuf, then all pb take [t0, t1) from abuf.
    pb and pb - 1 are tile widths."""
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t xkd = P.ad.dil * P.xs_d, xkh = P.ah.dil * P.xs_h
    cdef Py_ssize_t os = s + 1 if e == s else s
    cdef Py_ssize_t m0 = 0 if e == s else t1
    cdef Py_ssize_t m1 = t0 if e == s else aw.taps
    cdef Py_ssize_t i
    cdef floating* ae = abuf + (e - q0) * P.KB
    fwd_tile(P.kv, pb - 1, xrow + os * aw.stride + aw.off + m0 * aw.dil,
             wblk + m0 * P.KB, bblk, yrow, nc, P.xs_c, P.wc, nd, nh, m1 - m0,
             xkd, xkh, aw.dil, P.wkd, P.wkh, aw.stride, nk, P.tk, P.tstep,
             NULL if first else abuf + (os - q0) * P.KB, abuf + (os - q0) * P.KB,
             P.prefetch, False)
    if first:
        for i in range(P.KB):
            ae[i] = bblk[i] if bblk != NULL else 0
    fwd_tile(P.kv, pb, xrow + s * aw.stride + aw.off + t0 * aw.dil,
             wblk + t0 * P.KB, bblk, yrow + s * P.tstep, nc, P.xs_c, P.wc, nd, nh,
             t1 - t0, xkd, xkh, aw.dil, P.wkd, P.wkh, aw.stride, nk, P.tk, P.tstep,
             abuf + (s - q0) * P.KB, NULL if last else abuf + (s - q0) * P.KB,
             P.prefetch, False)


cdef inline bint split_fits(int kv, Py_ssize_t pb) noexcept nogil:
    """pb and pb - 1 are both tile widths of kv (each its own cheapest cover)."""
    return pb >= 2 and first_tile(kv, pb) == pb and first_tile(kv, pb - 1) == pb - 1


cdef inline void conv_span(
        const Plan* P, Py_ssize_t q0, Py_ssize_t q1, const floating* xrow,
        const floating* wblk, const floating* bblk, floating* yrow,
        Py_ssize_t nc, Py_ssize_t nd, Py_ssize_t nh, Py_ssize_t nk,
        floating* abuf, bint first, bint last, bint borders) noexcept nogil:
    """Positions [q0, q1) of a row over one input-channel block.  Partial
    sums live in abuf[(q - q0) * KB] between blocks.  The border positions
    (windows leaving the row) are skipped unless ``borders``; a single
    border position next to the interior joins its neighbouring interior
    tile where the tile widths allow (split_tile)."""
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t q = q0, pb, tw0, tw1, nw, end
    cdef Py_ssize_t xkd = P.ad.dil * P.xs_d, xkh = P.ah.dil * P.xs_h
    cdef const floating* ain
    cdef floating* aout
    cdef const floating* xq
    cdef const floating* wq
    while q < q1:
        ain = NULL if first else abuf + (q - q0) * P.KB
        aout = NULL if last else abuf + (q - q0) * P.KB
        if q < P.qlo or q >= P.qhi:
            if not borders:
                q += 1
                continue
            tap_range(aw, q, &tw0, &tw1)
            if q + 1 == P.qlo and P.qhi > P.qlo and 0 < tw0 < tw1 == aw.taps:
                # the last left border position and the first interior tile
                end = P.qhi if P.qhi < q1 else q1
                pb = first_tile(P.kv, end - q)
                if split_fits(P.kv, pb):
                    split_tile(P, q0, q, pb, q, tw0, tw1, xrow, wblk, bblk, yrow,
                               nc, nd, nh, nk, abuf, first, last)
                    q += pb
                    continue
            # border: one position with its clipped taps
            nw = tw1 - tw0
            xq = xrow
            wq = wblk
            if nw > 0:
                xq = xrow + q * aw.stride + aw.off + tw0 * aw.dil
                wq = wblk + tw0 * P.KB
            else:
                nw = 0
            fwd_tile(P.kv, 1, xq, wq, bblk, yrow + q * P.tstep, nc, P.xs_c, P.wc,
                     nd, nh, nw, xkd, xkh, aw.dil, P.wkd, P.wkh, aw.stride,
                     nk, P.tk, P.tstep, ain, aout, P.prefetch, False)
            q += 1
            continue
        # interior: the widest tile that fits before the next border / end
        end = P.qhi if P.qhi < q1 else q1
        pb = first_tile(P.kv, end - q)
        if borders and pb == end - q and end == P.qhi and end < q1 and split_fits(P.kv, pb + 1):
            # the last interior tile and the first right border position
            tap_range(aw, end, &tw0, &tw1)
            if 0 == tw0 < tw1 < aw.taps:
                split_tile(P, q0, q, pb + 1, end, tw0, tw1, xrow, wblk, bblk, yrow,
                           nc, nd, nh, nk, abuf, first, last)
                q += pb + 1
                continue
        fwd_tile(P.kv, pb, xrow + q * aw.stride + aw.off, wblk, bblk,
                 yrow + q * P.tstep, nc, P.xs_c, P.wc, nd, nh, aw.taps,
                 xkd, xkh, aw.dil, P.wkd, P.wkh, aw.stride, nk, P.tk, P.tstep,
                 ain, aout, P.prefetch, False)
        q += pb


cdef inline void border_columns(
        const Plan* P, const floating* xrow, const floating* wblk,
        const floating* bblk, floating* yrow, Py_ssize_t nd, Py_ssize_t nk,
        Py_ssize_t nrows) noexcept nogil:
    """The border positions (windows leaving the row: padding along w) of
    ``nrows`` consecutive output rows whose taps along h all lie inside the
    input, as tiles along h: the rows share the clipped taps of a border
    position, so a tile of pb rows loads each weight vector once for pb
    outputs (one row at a time, a border position is one output per weight
    load).  xrow, yrow: the first row; all input channels at once."""
    cdef const Axis* aw = &P.aw
    cdef const Axis* ah = &P.ah
    cdef Py_ssize_t q, r, pb, tw0, tw1, nw
    cdef Py_ssize_t xstep = ah.stride * P.xs_h, ystep = ah.out_step * P.ys_h
    cdef const floating* xq
    cdef const floating* wq
    q = 0
    while q < aw.n_q:
        if q == P.qlo and P.qhi > q:
            q = P.qhi
            continue
        tap_range(aw, q, &tw0, &tw1)
        nw = tw1 - tw0
        xq = xrow
        wq = wblk
        if nw > 0:
            xq = xrow + q * aw.stride + aw.off + tw0 * aw.dil
            wq = wblk + tw0 * P.KB
        else:
            nw = 0
        r = 0
        while r < nrows:
            pb = first_tile(P.kv, nrows - r)
            fwd_tile(P.kv, pb, xq + r * xstep, wq, bblk, yrow + q * aw.out_step + r * ystep,
                     P.Cg, P.xs_c, P.wc, nd, ah.taps, nw, P.ad.dil * P.xs_d,
                     ah.dil * P.xs_h, aw.dil, P.wkd, P.wkh, xstep, nk, P.ys_c, ystep,
                     NULL, NULL, True, False)
            r += pb
        q += 1


cdef inline void weave_phases(const Plan* plans, Py_ssize_t nph, Py_ssize_t s0,
                              Py_ssize_t nk, const floating* pbuf,
                              floating* yrow, bint stream) noexcept nogil:
    """y[k, q * nph + r] = pbuf[r][k][q - s0]: the row segment from s0 of
    each stride phase r (its tiles wrote it to the phase buffer pbuf, in
    rows of SEGMENT positions per channel) woven into the output row.  The
    positions every phase has go by vectors (cy_interleave; ``stream``:
    non-temporally); the last one, which the later phases lack when the
    output length is not a multiple of the stride, element by element."""
    cdef Py_ssize_t VL = vector_lanes(pbuf[0])
    cdef Py_ssize_t ss = plans[0].KB * SEGMENT, ys = plans[0].ys_c
    cdef Py_ssize_t e = plans[nph - 1].aw.n_q      # the last phase has the fewest
    cdef Py_ssize_t k, q, n, r, er
    if e > s0 + SEGMENT:
        e = s0 + SEGMENT
    for k in range(nk):
        q = s0
        while q < e:
            n = VL if e - q > VL else e - q
            if floating is float:
                cy_interleave_f32(pbuf + k * SEGMENT + (q - s0), ss, nph, n,
                                  yrow + k * ys + q * nph, stream)
            else:
                cy_interleave_f64(pbuf + k * SEGMENT + (q - s0), ss, nph, n,
                                  yrow + k * ys + q * nph, stream)
            q += n
        for r in range(nph):
            er = plans[r].aw.n_q
            if er > s0 + SEGMENT:
                er = s0 + SEGMENT
            q = e if e > s0 else s0
            while q < er:
                yrow[k * ys + q * nph + r] = pbuf[r * ss + k * SEGMENT + q - s0]
                q += 1


cdef inline void prefetch_rows(const floating* p, Py_ssize_t nrows, Py_ssize_t stride,
                              Py_ssize_t n) noexcept nogil:
    """Ask for the cache lines of ``nrows`` rows of ``n`` elements, ``stride``
    apart, into L2: the output rows a row segment's tiles will store to.
    Their last input-channel block writes each channel's row of a tile
    (one or two lines, every channel in its own page), and lines missing
    from the caches stalled those stores: 3x3 64 -> 64 layers spent 20% of
    their time there (every store a miss to L3 or memory).  Asked for at
    the segment's start, the lines arrive while the earlier blocks run."""
    cdef Py_ssize_t r
    cdef const char* a
    cdef const char* e
    for r in range(nrows):
        a = <const char*> (p + r * stride)
        e = <const char*> (p + r * stride + n - 1)
        a -= <size_t> a % 64
        while a <= e:
            cy_prefetch_l2(a)
            a += 64


cdef inline void conv_row(Py_ssize_t item, const Plan* plans, Py_ssize_t nph,
                          Py_ssize_t nq_max, const floating* x, const floating* wpk,
                          const floating* bpk, floating* y, floating* abuf,
                          floating* pbuf, Py_ssize_t nwc) noexcept nogil:
    """One output row (all positions along w) of one output-channel block.

    ``plans`` holds one Plan per phase along w (several only for strided
    transposed convolutions; they differ only in their w axis and packed
    weights; ``nq_max`` is their longest row).  The phases run per row
    segment, one after the other, so the output lines a segment writes stay
    in cache until every phase is done.  With a phase buffer ``pbuf`` (the
    phases are the output's stride phases: weave_phases) the tiles write each
    phase's segment there with unit steps, and the segment is then woven into
    the output row by vectors.  With ``nwc`` > 1 the row is split into that
    many chunks of whole segments, one per item (1-D layers with few rows,
    for the threads)."""
    cdef const Plan* P = &plans[0]
    cdef const Plan* Q
    cdef Py_ssize_t kb, r, qh, qd, g, n, td0, td1, th0, th1, nd, nh, nk
    cdef Py_ssize_t s0, s1, c0, nc, ph, h0, h1, nb
    cdef bint columns, columns_now = False
    cdef Py_ssize_t send, nseg
    cdef const floating* xrow
    cdef const floating* wblk
    cdef const floating* bblk = NULL
    cdef floating* yrow

    # the output-channel block varies fastest: consecutive items read the
    # same input rows (with it slowest, so that a block's weights stay in L1
    # from row to row: the 3x3 stride-2 64 -> 128 forward 0.83-0.85x, the
    # 7x7 stem unchanged); then the row's chunk.  Slowest (kb_items) for
    # weights beyond the caches (_run_tiled)
    if P.kb_items:
        kb = item // P.kb_items
        item = item % P.kb_items
    else:
        kb = item % P.nkb
        item = item // P.nkb
    nseg = ((nq_max + SEGMENT - 1) // SEGMENT + nwc - 1) // nwc   # segments per chunk
    s0 = (item % nwc) * nseg * SEGMENT
    send = s0 + nseg * SEGMENT if s0 + nseg * SEGMENT < nq_max else nq_max
    r = item // nwc
    qh = r % P.ah.n_q
    r = r // P.ah.n_q
    qd = r % P.ad.n_q
    r = r // P.ad.n_q
    g = r % P.G
    n = r // P.G
    tap_range(&P.ad, qd, &td0, &td1)
    tap_range(&P.ah, qh, &th0, &th1)
    nd = td1 - td0
    nh = th1 - th0
    if nd <= 0 or nh <= 0:
        nd = nh = td0 = th0 = 0
    nk = P.Kg - kb * P.KB
    if nk > P.KB:
        nk = P.KB
    xrow = x + (n * P.G + g) * P.Cg * P.xs_c
    if nd > 0:
        xrow += (qd * P.ad.stride + P.ad.off + td0 * P.ad.dil) * P.xs_d
        xrow += (qh * P.ah.stride + P.ah.off + th0 * P.ah.dil) * P.xs_h
    if bpk != NULL:
        bblk = bpk + (g * P.nkb + kb) * P.KB
    yrow = (y + ((n * P.G + g) * P.Ky + kb * P.KB) * P.ys_c
            + (qd * P.ad.out_step + P.ad.out_base) * P.ys_d
            + (qh * P.ah.out_step + P.ah.out_base) * P.ys_h)
    # rows whose taps along h all lie inside the input leave their border
    # positions to border_columns, run by the last row of each block of
    # such rows (the blocks: tile widths, first_tile) after its own tiles:
    # the block's input rows are then in cache, read by the rows' interior
    # tiles (run by the first row, the column tiles were the first to read
    # a stride-2 block's 2 x 14 new rows: the 7x7 stem forward 1.11-1.17x,
    # 3x3 forward and backward-input 1.02-1.14x).  One phase along w only:
    # with several (strided transposed convolutions) the column tiles
    # measured slower.
    interior(&P.ah, &h0, &h1)
    columns = nph == 1 and nd > 0 and h0 <= qh < h1 and h1 - h0 >= 2
    if columns:
        r = h0
        nb = first_tile(P.kv, h1 - r)
        while r + nb <= qh:
            r += nb
            nb = first_tile(P.kv, h1 - r)
        columns_now = r + nb - 1 == qh
    while s0 < send:
        # the output lines this segment stores to (phase 0 has the most
        # positions)
        s1 = s0 + SEGMENT if s0 + SEGMENT < P.aw.n_q else P.aw.n_q
        if pbuf != NULL:
            if not P.stream:
                prefetch_rows(yrow + s0 * nph, nk, P.ys_c, (s1 - s0) * nph)
        elif nph == 1 and P.tstep == 1:
            prefetch_rows(yrow + P.aw.out_base + s0, nk, P.tk, s1 - s0)
        for ph in range(nph):
            Q = &plans[ph]
            s1 = s0 + SEGMENT if s0 + SEGMENT < Q.aw.n_q else Q.aw.n_q
            if s1 <= s0:
                continue
            wblk = (wpk + Q.woff + (g * P.nkb + kb) * Q.wbs
                    + td0 * Q.wkd + th0 * Q.wkh)
            c0 = 0
            while True:
                nc = P.Cg - c0 if P.Cg - c0 < Q.cb else Q.cb
                conv_span(Q, s0, s1, xrow + c0 * Q.xs_c, wblk + c0 * Q.wc, bblk,
                          (pbuf + ph * P.KB * SEGMENT - s0) if pbuf != NULL
                          else yrow + Q.aw.out_base, nc, nd, nh, nk, abuf, c0 == 0,
                          c0 + nc >= P.Cg, not columns)
                c0 += nc
                if c0 >= P.Cg:
                    break
        if pbuf != NULL:
            weave_phases(plans, nph, s0, nk, pbuf, yrow, P.stream)
        s0 += SEGMENT
    if columns_now:
        border_columns(P, xrow - (nb - 1) * P.ah.stride * P.xs_h,
                       wpk + P.woff + (g * P.nkb + kb) * P.wbs + td0 * P.wkd,
                       bblk, yrow - (nb - 1) * P.ah.out_step * P.ys_h + P.aw.out_base,
                       nd, nk, nb)


cdef inline Py_ssize_t channel_block(Py_ssize_t Cg, Py_ssize_t channel_bytes) noexcept nogil:
    """Input channels per block of the channel tiles, each channel's packed
    weights taking ``channel_bytes``: blocks of at most WEIGHT_BLOCK_BYTES,
    as even as they go."""
    cdef Py_ssize_t cb = WEIGHT_BLOCK_BYTES // channel_bytes, nblk
    if cb < 1:
        cb = 1
    if Cg > cb:
        nblk = (Cg + cb - 1) // cb
        cb = (Cg + nblk - 1) // nblk
    return cb


def input_channel_blocks(Py_ssize_t Cg, Py_ssize_t channel_bytes):
    """How many input-channel blocks the channel tiles split ``Cg`` channels
    into (``channel_bytes``: taps x KB x itemsize of one channel's packed
    weights)."""
    cdef Py_ssize_t cb = channel_block(Cg, channel_bytes)
    return (Cg + cb - 1) // cb


cdef Plan make_plan(Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, int kv, Py_ssize_t itemsize,
                    Axis ad, Axis ah, Axis aw) noexcept nogil:
    cdef Plan P
    P.G = G
    P.Cg = Cg
    P.Kg = Kg
    P.Ky = Kg
    P.kv = kv
    P.KB = kv * (CY_VBYTES // itemsize)
    P.nkb = (Kg + P.KB - 1) // P.KB
    P.ad = ad
    P.ah = ah
    P.aw = aw
    P.xs_h = aw.n_in
    P.xs_d = ah.n_in * aw.n_in
    P.xs_c = ad.n_in * P.xs_d
    P.ys_h = aw.n_out
    P.ys_d = ah.n_out * aw.n_out
    P.ys_c = ad.n_out * P.ys_d
    P.tk = P.ys_c
    P.tstep = aw.out_step
    P.wkh = aw.taps * P.KB
    P.wkd = ah.taps * P.wkh
    P.wc = ad.taps * P.wkd
    P.wbs = Cg * P.wc
    P.cb = channel_block(Cg, P.wc * itemsize)
    interior(&P.aw, &P.qlo, &P.qhi)
    # consecutive output rows share no input row (dilation along h, or a
    # stride of at least the kernel's height): each item's rows come from L2,
    # one stream per channel and tap row, too many for the hardware
    # prefetcher, so the tiles prefetch them (dil2 3x3 3-7% faster; where
    # rows are shared, as in 3x3 stride 1 or 2, it was 0-6% slower; the 7x7
    # stride-2 stem, 5 of its 7 rows shared, 1.01x: left off).  Builds with
    # small tiles prefetch long rows regardless (PREFETCH_ROWS_MIN)
    P.prefetch = (not (ah.stride % ah.dil == 0 and ah.stride // ah.dil <= ah.taps - 1)
                  or 0 < PREFETCH_ROWS_MIN <= aw.n_in)
    P.stream = False
    P.kb_items = 0
    return P


cdef enum:
    ROW_CHUNK_BYTES = 262144    # input bytes a 1-D row chunk reads
    KB_OUTER_BYTES = 16 << 20   # packed weights per group that put the blocks outermost


cdef inline Py_ssize_t row_chunks(Py_ssize_t nq, Py_ssize_t bytes_per_position) noexcept nogil:
    """Chunks of whole segments a 1-D row is split into so that a chunk's
    input window, all channels, stays under ROW_CHUNK_BYTES."""
    cdef Py_ssize_t per = ROW_CHUNK_BYTES // (SEGMENT * bytes_per_position)
    cdef Py_ssize_t nseg = (nq + SEGMENT - 1) // SEGMENT
    if per < 1:
        per = 1
    return (nseg + per - 1) // per


def _run_tiled(const floating[::1] x, const floating[::1] wpk, const floating[::1] bpk,
               floating[::1] y, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
               Py_ssize_t Kg, int kv, tuple axes, tuple woffs, int nthreads,
               Py_ssize_t Ky, tuple pack=None, const Py_ssize_t[::1] ptaps=None):
    """The first ``Kg`` of the ``Ky`` output channels per group of ``y``.
    ``axes`` is (ad, ah, aw_0, aw_1, ...): one w axis per phase along w,
    whose packed weights start at ``woffs[i]`` in ``wpk``.

    With ``pack`` = (A, B, s1, swap) (one phase, one group: block_packing
    said yes) ``wpk`` is the weight tensor itself and each work item is an
    output-channel block, packed by its thread (pack_fill's items for
    ``ptaps``) into a buffer of one block just before its rows run."""
    cdef Axis ad = make_axis(axes[0]), ah = make_axis(axes[1])
    cdef Py_ssize_t nph = len(axes) - 2, i
    cdef Plan* plans
    cdef const floating* bp = NULL
    cdef Py_ssize_t nitems, item, nq = 0, nwc
    cdef floating* ab
    cdef floating* pt
    cdef bint one_row
    cdef floating[:, ::1] abuf
    cdef floating[:, ::1] pbuf
    cdef floating* pb = NULL
    cdef bint weave
    if y.shape[0] == 0 or x.shape[0] == 0 or wpk.shape[0] == 0 or nph < 1:
        return
    plans = <Plan*> malloc(nph * sizeof(Plan))
    if plans == NULL:
        raise MemoryError()
    try:
        for i in range(nph):
            plans[i] = make_plan(G, Cg, Kg, kv, sizeof(floating), ad, ah,
                                 make_axis(axes[2 + i]))
            plans[i].woff = woffs[i]
            plans[i].Ky = Ky
            nq = max(nq, plans[i].aw.n_q)
        if nq <= 0:
            return
        if bpk is not None and bpk.shape[0] > 0:
            bp = &bpk[0]
        # the phases along w are the output's stride phases, in order (every
        # residue has taps): their tiles write phase buffers with unit steps,
        # woven into the output by vectors, instead of storing every element
        # a stride apart
        if floating is float:
            weave = cy_interleaves_f32(nph)
        else:
            weave = cy_interleaves_f64(nph)
        for i in range(nph):
            weave = weave and plans[i].aw.out_step == nph and plans[i].aw.out_base == i
        if weave:
            for i in range(nph):
                plans[i].tk = SEGMENT
                plans[i].tstep = 1
        # a woven output of STREAM_MIN_BYTES or more whose rows all start on
        # cache lines is stored non-temporally, its lines not prefetched
        # (conv_transpose1d 64 -> 32, k16 s8, 16.8 MB: 1.07-1.08x at 1 and 2
        # threads; 1-D stride 2, 64 -> 64: 1.09x; 2-D rows of 64: 1.00-1.04x.
        # Rows of 56 (r56_64to128_s2's input gradient, conv_transpose2d),
        # half of them off a line, measured 0.96-0.98x: not streamed)
        plans[0].stream = (weave and (<size_t> &y[0]) % 64 == 0
                           and plans[0].ys_h * sizeof(floating) % 64 == 0
                           and y.shape[0] * sizeof(floating) >= STREAM_MIN_BYTES)
        # (1-D: the phases read their input in place.  A per-segment copy of
        # the input window into rows an odd number of lines apart, against
        # the L1 set conflicts of channels 8 KiB apart, measured 1.00x on a
        # 48 KiB L1D and 0.94x on a 32 KiB one (Zen 4), where the 32 KiB
        # window did not stay in L1 beside the weights)
        nitems = N * G * ad.n_q * ah.n_q * plans[0].nkb
        # 1-D rows fewer than 4 per thread (the stride-8 upsampler: 8 rows of
        # 16392 positions): each row in chunks of whole segments, so the
        # threads' shares even out (the same segments either way: the same
        # results)
        nwc = 1
        one_row = ad.n_q * ah.n_q == 1
        if one_row and 1 < nthreads and nitems < 4 * nthreads:
            nwc = min((4 * nthreads + nitems - 1) // nitems, (nq + SEGMENT - 1) // SEGMENT)
        # 1-D rows whose input window (all channels) outgrows L2 and that have
        # several output-channel blocks: in chunks too, a chunk's blocks one
        # after the other (kb varies fastest), so that the later blocks read
        # the chunk's input from L2, not the whole row's again from L3
        # (64 -> 64, k9, rows of 4096: 1 MiB of input; 1.01-1.02x at 2
        # threads, float64 1.02x, 1.00x at 1)
        if one_row and plans[0].nkb > 1:
            nwc = max(nwc, row_chunks(nq, Cg * plans[0].aw.stride * sizeof(floating)))
        nitems *= nwc
        # packed weights beyond the caches: the output-channel blocks vary
        # slowest, so that each block's weights serve every row from L2
        # (varying fastest, every row streams all of them from memory).
        # 3x3 512 -> 512 at 7 x 7, float64 (18.9 MB): 1.9-2.0x at 1 thread,
        # 1.3-1.4x at 2, batch 1 1.2x; 1024 -> 1024 float32 (37.7 MB) 1.8-2.0x,
        # batch 1 1.1-1.4x; 768 -> 768 (21 MB) 1.7-1.8x.  At 9.4 MB (512 ->
        # 512 float32) 1.07-1.17x at 1 thread but 0.97-1.0x at 2 and 0.85-1.0x
        # at batch 1 (each row's input, read from L1 by every block before,
        # comes from L2 once per block); 4.7 MB 0.97-0.99x
        if wpk.shape[0] // G * sizeof(floating) >= KB_OUTER_BYTES and plans[0].nkb > 1:
            plans[0].kb_items = nitems // plans[0].nkb
        if pack is not None:
            _tiled_blocks(x, wpk, bp, y, plans, nq, nitems, nwc, pack, ptaps, nthreads)
            return
        nthreads = max(1, min(nthreads, nitems))
        abuf = scratch("rows", nthreads, SEGMENT * plans[0].KB, float_dtype(<floating> 0))
        if weave:
            pbuf = scratch("phase_rows", nthreads, nph * SEGMENT * plans[0].KB,
                           float_dtype(<floating> 0))
            pb = &pbuf[0, 0]
        with nogil:
            if nthreads > 1:
                with parallel(num_threads=nthreads):
                    ab = &abuf[omp_get_thread_num(), 0]
                    pt = (pb + omp_get_thread_num() * nph * SEGMENT * plans[0].KB
                          if weave else NULL)
                    # (1-D rows in chunks: a few large items, dealt one at a
                    # time; guided deals the first half of them in one piece)
                    if nwc > 1:
                        for item in prange(nitems, schedule="dynamic"):
                            conv_row(item, plans, nph, nq, &x[0], &wpk[0], bp, &y[0], ab, pt,
                                     nwc)
                    else:
                        for item in prange(nitems, schedule="guided"):
                            conv_row(item, plans, nph, nq, &x[0], &wpk[0], bp, &y[0], ab, pt,
                                     nwc)
                    if plans[0].stream:
                        cy_sfence()
            else:
                for item in range(nitems):
                    conv_row(item, plans, nph, nq, &x[0], &wpk[0], bp, &y[0], &abuf[0, 0], pb,
                             nwc)
                if plans[0].stream:
                    cy_sfence()
    finally:
        free(plans)


cdef void _tiled_blocks(const floating[::1] x, const floating[::1] w, const floating* bp,
                        floating[::1] y, Plan* plans, Py_ssize_t nq, Py_ssize_t nitems,
                        Py_ssize_t nwc, tuple pack, const Py_ssize_t[::1] ptaps,
                        int nthreads) except *:
    """_run_tiled with ``pack``: per output-channel block, its thread packs
    the block's weights (pack_fill's items) into its own buffer, then runs
    every row of the block (conv_row, the blocks slowest)."""
    cdef Py_ssize_t A, B, s1, nkb = plans[0].nkb, per = nitems // nkb, kb, r, nt
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef bint swap
    cdef PackPlan PP
    cdef floating[:, ::1] abuf
    cdef floating[:, ::1] blocks
    cdef floating[:, ::1] ptmp
    cdef floating* ab
    cdef floating* wb
    cdef floating* tp
    A, B, s1, swap = pack
    PP = pack_plan(1, A, B, s1, plans[0].KB, swap, &ptaps[0], ptaps.shape[0])
    nt = pack_tmp_size(&PP, VL)
    plans[0].wbs = 0
    plans[0].kb_items = per
    nthreads = max(1, min(nthreads, nkb))
    dt = float_dtype(<floating> 0)
    abuf = scratch("rows", nthreads, SEGMENT * plans[0].KB, dt)
    blocks = scratch("weight_block", nthreads, PP.R * PP.T * PP.KB, dt)
    ptmp = scratch("pack", nthreads, max(nt, 1), dt)
    with nogil:
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                ab = &abuf[omp_get_thread_num(), 0]
                wb = &blocks[omp_get_thread_num(), 0]
                tp = &ptmp[omp_get_thread_num(), 0]
                for kb in prange(nkb, schedule="dynamic"):
                    pack_one_block(&PP, kb, &w[0], wb, tp)
                    for r in range(per):
                        conv_row(kb * per + r, plans, 1, nq, &x[0], wb, bp, &y[0], ab, NULL,
                                 nwc)
        else:
            for kb in range(nkb):
                pack_one_block(&PP, kb, &w[0], &blocks[0, 0], &ptmp[0, 0])
                for r in range(per):
                    conv_row(kb * per + r, plans, 1, nq, &x[0], &blocks[0, 0], bp, &y[0],
                             &abuf[0, 0], NULL, nwc)


# --------------------------------------------------------------------------
# pointwise forward (one tap, stride 1, no padding): position tiles
# --------------------------------------------------------------------------
#
# y[n, k, p] = b[k] + sum_c w[k, c] x[n, c, p], the positions p of a whole
# plane contiguous in x and y.  fwd_tile with its roles turned: its channel
# vectors are KB consecutive positions, read from the x rows in place (one
# row per input channel, L elements apart), its "positions" are output
# channels (broadcast weights), and each accumulator is stored as one
# vector (yk = 1).  The channel tiles broadcast 14 positions of every input
# row per tile (256 rows of 56 bytes for a 256-channel layer, too many
# streams); here a block of 2 vectors of every row is read once and serves
# every output channel.
#
# The weights are repacked per call, tile by tile, as [c][pb] (pb output
# channels side by side), so a tile steps through them at a fixed stride of
# one: read from w's own rows (Cg apart) the tile needed a runtime step and
# reloaded its 14 row offsets from the stack every input channel (the
# 256 -> 64 layer 1.05-1.07x faster packed, float64 1.08x).  Measured and
# not used, on top of that: copying each block into a contiguous panel
# (the rows of a 56 x 56 plane are 4 cache sets apart, so a block's lines
# crowd half of L1's sets) 1.00x, the copy taking the memory stalls the
# tiles had; input channels in chunks of 128 with partial sums 1.00-1.03x;
# the next block's rows prefetched into L2 a slice before each tile instead
# of the tiles' own prefetch 0.89-0.92x.
#
# An output of STREAM_MIN_BYTES or more whose rows start on cache lines (the
# layer functions allocate 64-byte aligned outputs) is stored non-temporally
# and its lines are not prefetched: the stores no longer read every line
# for ownership first, nor push the input rows and weights out of the
# caches.  The backward-input of the 256 -> 64 layer (8 x 256 x 56 x 56
# out, 25.7 MB) 1.20x faster at 1 and 2 threads, float64 1.25x; its forward
# (6.4 MB) 1.02-1.08x (same process, Zen 4).  The tiles' stores then cost
# 6% of that input gradient at 1 thread and 9% at 2 (measured by dropping
# them).

cdef enum:
    STREAM_MIN_BYTES = 2 << 20  # outputs this large (twice a Zen 4 core's L2)
                                # may be stored non-temporally: the pointwise
                                # tiles, the woven stride phases, the width
                                # path's tiles (see each for its conditions)
    PW_BLOCKS = 4            # position blocks of KB per work item
    PW_MIN_CHANNELS = 16     # output channels per group for the position tiles
    PW_MIN_ITEMS = 4         # work items per thread (else channel shares)


def pointwise_kv(tuple axes, Py_ssize_t Kg, dtype):
    """The position tiles' channel vectors (1 or 2) for a one-tap forward
    over whole planes (every axis: one tap, stride 1, no padding, output =
    input positions) with at least PW_MIN_CHANNELS output channels and a
    vector of positions; 0 where they do not apply."""
    L = 1
    for a in axes:
        n_in, taps, stride, dil, off, n_q, n_out, out_step, out_base = a
        if (taps, stride, off, out_step, out_base) != (1, 1, 0, 1, 0):
            return 0
        if n_q != n_in or n_out != n_in:
            return 0
        L *= n_in
    vl = lanes(dtype)
    if Kg < PW_MIN_CHANNELS or L < vl:
        return 0
    kv = 2 if L >= 2 * vl else 1
    # the plane's last block is a padded copy: at most 1/16 of the positions
    # padding (14 x 14 = 196 positions, 28 padded: the channel tiles were
    # 1.14x faster)
    return kv if (-L) % (kv * vl) * 16 <= L else 0


cdef inline void pointwise_item(Py_ssize_t item, Py_ssize_t G, Py_ssize_t Cg,
                                Py_ssize_t Kg, Py_ssize_t L, int kv, Py_ssize_t nkc,
                                Py_ssize_t ntl, const floating* x, const floating* w,
                                const floating* binit, floating* y,
                                floating* panel, bint stream) noexcept nogil:
    """PW_BLOCKS blocks of KB positions of one (image, group), and the
    output channels of its share kc < nkc of the ntl tiles that cover them
    (all of them where nkc = 1); the plane's last block (fewer positions)
    from a zero-padded copy in panel (Cg x KB).  w: the weights as
    _run_pointwise packs them.  ``stream``: whole vectors stored
    non-temporally (y's rows aligned).  Each output's sum runs over the
    input channels in order whatever tile holds it: the same bits for
    any nkc."""
    cdef Py_ssize_t KB = kv * vector_lanes(<floating> 0)
    cdef Py_ssize_t nb = (L + KB - 1) // KB
    cdef Py_ssize_t ni = (nb + PW_BLOCKS - 1) // PW_BLOCKS
    cdef Py_ssize_t kc = item % nkc
    cdef Py_ssize_t ng = item // nkc // ni, g = ng % G
    cdef Py_ssize_t blk = (item // nkc % ni) * PW_BLOCKS
    cdef Py_ssize_t bend = blk + PW_BLOCKS if blk + PW_BLOCKS < nb else nb
    cdef Py_ssize_t p0, nk, sc, k0, pb, c, j, t, ka = 0, kz = 0
    cdef Py_ssize_t ta = kc * ntl // nkc, tz = (kc + 1) * ntl // nkc
    cdef const floating* xn = x + ng * Cg * L
    cdef const floating* wg = w + g * Kg * Cg
    cdef const floating* bg = (binit + g * Kg * KB) if binit != NULL else NULL
    cdef const floating* src
    cdef floating* yn = y + ng * Kg * L
    # this share's channels [ka, kz): tiles ta .. tz - 1 of the cover
    t = 0
    while t < tz:
        pb = first_tile(kv, Kg - kz)
        if t == ta:
            ka = kz
        kz += pb
        t += 1
    # stored in place: each block's output lines asked for a block ahead
    # (the first block's at the start)
    if blk < bend and not stream:
        prefetch_rows(yn + ka * L + blk * KB, kz - ka, L, min(KB, L - blk * KB))
    while blk < bend:
        p0 = blk * KB
        nk = L - p0 if L - p0 < KB else KB
        if blk + 1 < bend and not stream:
            prefetch_rows(yn + ka * L + p0 + KB, kz - ka, L, min(KB, L - p0 - KB))
        src = xn + p0
        sc = L
        if nk < KB:
            for c in range(Cg):
                for j in range(nk):
                    panel[c * KB + j] = xn[c * L + p0 + j]
                for j in range(nk, KB):
                    panel[c * KB + j] = 0
            src = panel
            sc = KB
        k0 = ka
        while k0 < kz:
            pb = first_tile(kv, Kg - k0)
            fwd_tile(kv, pb, wg + k0 * Cg, src, NULL, yn + k0 * L + p0, Cg, pb, sc,
                     1, 1, 1, 0, 0, 0, 0, 0, 1, nk, 1, L,
                     (bg + k0 * KB) if bg != NULL else NULL, NULL, True, stream)
            k0 += pb
        blk += 1


def _run_pointwise(const floating[::1] x, const floating[::1] w, binit,
                   floating[::1] y, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
                   Py_ssize_t Kg, Py_ssize_t L, int kv, int nthreads):
    """y = the pointwise forward (pointwise_kv gave kv); w is [G][Kg][Cg],
    binit None or the bias as [G][Kg][KB] (each value repeated KB times).
    The weights are repacked for the tiles: the tile of pb output channels
    from k0 reads [c][pb] at (g * Kg + k0) * Cg."""
    cdef Py_ssize_t KB = kv * vector_lanes(<floating> 0)
    cdef Py_ssize_t ni = ((L + KB - 1) // KB + PW_BLOCKS - 1) // PW_BLOCKS
    cdef Py_ssize_t nitems = N * G * ni, item, ntl = 0, nkc = 1
    cdef const floating* bp = NULL
    cdef const floating[::1] bv
    cdef floating[:, ::1] panels
    cdef floating[::1] wtv
    cdef Py_ssize_t g, k0, pb, c, p
    cdef bint stream
    if nitems == 0 or y.shape[0] == 0:
        return
    k0 = 0
    while k0 < Kg:
        k0 += first_tile(kv, Kg - k0)
        ntl += 1
    # fewer position blocks than PW_MIN_ITEMS per thread (small planes,
    # small batches): each block's output channels in shares of whole tiles
    # (160 -> 960 at 7 x 7, batch 1, had one item)
    if 1 < nthreads and nitems < PW_MIN_ITEMS * nthreads:
        nkc = min(ntl, (PW_MIN_ITEMS * nthreads + nitems - 1) // nitems)
        nitems *= nkc
    # a large output (every row on a cache line) bypasses the caches: no
    # read for ownership of its lines, nothing of the inputs evicted
    stream = (y.shape[0] * sizeof(floating) >= STREAM_MIN_BYTES
              and L * sizeof(floating) % 64 == 0 and (<size_t> &y[0]) % 64 == 0)
    if binit is not None:
        bv = binit
        bp = &bv[0]
    nthreads = max(1, min(nthreads, nitems))
    panels = scratch("pw_panel", nthreads, Cg * KB, float_dtype(<floating> 0))
    wtv = aligned_empty((G * Kg * Cg,), float_dtype(<floating> 0))
    with nogil:
        for g in range(G):
            k0 = 0
            while k0 < Kg:
                pb = first_tile(kv, Kg - k0)
                for c in range(Cg):
                    for p in range(pb):
                        wtv[(g * Kg + k0) * Cg + c * pb + p] = w[(g * Kg + k0 + p) * Cg + c]
                k0 += pb
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                for item in prange(nitems, schedule="guided"):
                    pointwise_item(item, G, Cg, Kg, L, kv, nkc, ntl, &x[0], &wtv[0], bp,
                                   &y[0], &panels[omp_get_thread_num(), 0], stream)
                if stream:
                    cy_sfence()
        else:
            for item in range(nitems):
                pointwise_item(item, G, Cg, Kg, L, kv, nkc, ntl, &x[0], &wtv[0], bp, &y[0],
                               &panels[0, 0], stream)
            if stream:
                cy_sfence()


# --------------------------------------------------------------------------
# width path: few output channels per group (depthwise, signals, images,
# backward-input onto few channels); vectors run along output positions
# --------------------------------------------------------------------------

cdef enum:
    PATCH_BYTES = 524288     # per-thread input patch (was 256 KiB: the stride-2
                             # stem's backward-input, 64 -> 3 channels, re-copied
                             # its 3 halo rows per 4 rows; 1.04x, same process)
    WIDTH_MAX_REDUCTION = 32 # channel x tap products per output up to which
                             # the width path takes any number of channels
    WIDTH_SEG = 4096         # output positions per item along w
    WIDTH_GRAD_SEG = 1024    # the weight gradient's segments: each tile
                             # (4 gy rows x 6 taps) streams its gy and x rows
                             # from L1 (16 KiB rows each from L2 at 4096:
                             # c1d_1to32_k31 1.18x faster at 1024; 2048
                             # 1.13x, 512 1.12x)
    WIDTH_PAD_ROWS = 8       # row blocks of padded inputs (see width_path_plan)
    WIDTH_WRAP_MIN = 512     # input rows at least this long are read in place
                             # even when their ends need padding (width_item)
    WIDTH_MAX_STRIDE = 4     # strides along w the width path takes (phases)
    WIDTH_FLAT_MAX_VECTORS = 4  # rows shorter than this many vectors run
                                # as flat runs of positions in the weight
                                # gradient (flat_grad_rows); longer rows
                                # amortize the row tiles' per-row work and
                                # skip the flat tiles' per-vector masks:
                                # 3x3 depthwise, flat / rows, 1 thread:
                                # 14 x 14 1.6x, 28 x 28 1.5x, 56 x 56 1.1x,
                                # 112 x 112 0.93-0.95x (float64 56 x 56
                                # 0.90-0.98x)
    FLAT_GRAD_LANE_BYTES = 16384  # lane sums of the groups a flat weight-
                             # gradient item runs together (flat_grad_item)
    LANE_GRAD_MAX_POSITIONS = 100  # input planes up to this size take the
                             # channel-lane depthwise weight gradient
    LANE_GRAD_MAX_STRIDED = 4096   # the same for strided layers
    LANE_FORWARD_MAX_POSITIONS = 400   # the same for the forward (28 x 28
                             # 0.86-0.94x, 20 x 20 1.4x) and the stride-1
                             # input gradient
    LANE_FORWARD_MAX_STRIDED = 4096    # (112 x 112 0.73x)
    LANE_FORWARD_CHUNK = 8   # items per chunk of the forward's dynamic schedule
    FLAT_MAX_VECTORS = 256   # output planes of at most this many vectors may
                             # run flat (flat_planes_apply)
    WIDTH_MASKED_MAX_USES = 64  # output channels x taps up to which the
                             # several-channel tiles read padded windows in
                             # place (masked) rather than from a padded copy:
                             # the copy costs the same per input value, the
                             # masks per product.  Measured masked / copy:
                             # 3 -> 64 7x7 stride-2 input gradient (3 x 12
                             # taps per phase) 1.38x, 32 -> 3 3x3 1.38x,
                             # 32 -> 6 1.15x, 16 -> 8 1.04x; forward 3 -> 8
                             # 3x3 (72) 0.98x, 3 -> 32 (288) 0.88x


cdef struct WPlan:
    Py_ssize_t N, G, Cg, Kg, VL
    Py_ssize_t Ky, k0                 # y's channels per group; first one computed
    Py_ssize_t R, nrb, S, nsb, Wp
    Py_ssize_t xs_c, ys_c, ys_h, y0
    Py_ssize_t xlen                   # elements of x (reads in place stay below)
    Py_ssize_t wm, wc, wkh
    Py_ssize_t Wq                     # patch elements per phase of a row (Wp / stride)
    const Py_ssize_t* toff            # tap l along w reads column toff[l] of a window
    bint stream                       # one-channel tiles store non-temporally
    const unsigned short* ftab        # lane table of the flat weight-gradient runs
                                      # (whf_tile), or NULL where they do not apply
    const unsigned short* fmask       # lane table of the flat plane tiles (wff_tile,
                                      # flat_planes_apply), or NULL: [vector][tap]
    const Py_ssize_t* foff            # their taps' offsets from an output position
    Py_ssize_t fnvec                  # vectors of an output plane
    Py_ssize_t fgrid                  # elements of one input channel's phase planes
                                      # (flat_fill), 0 where x is read in place
    Axis ah, aw


cdef inline void phases2(floating* d0, floating* d1, const floating* src,
                         Py_ssize_t n) noexcept nogil:
    """d0[u] = src[2u], d1[u] = src[2u + 1] for u < n (a loop GCC vectorizes)."""
    cdef Py_ssize_t u
    for u in range(n):
        d0[u] = src[2 * u]
        d1[u] = src[2 * u + 1]


cdef inline void fill_patch(const WPlan* P, const floating* x, floating* patch,
                            Py_ssize_t ih_lo, Py_ssize_t nrows, Py_ssize_t iw_lo,
                            Py_ssize_t width) noexcept nogil:
    """patch[c][r][u] = x[c][ih_lo + r][iw_lo + u] for u < width (<= Wp),
    zero outside the input; rows of Wp elements.  With a stride s > 1 along
    w a row holds its s phases instead, Wq elements each (all of them):
    patch[c][r][ph * Wq + u] = x[c][ih_lo + r][iw_lo + u * s + ph]."""
    cdef Py_ssize_t a, e, t, c, r, ih, u, ph, col, s = P.aw.stride
    cdef floating* dst
    cdef const floating* src
    if s > 1:
        # u in [a, e): all s phases inside the row (no checks); the ends
        # u < a and u >= e checked up to t, the last u with a column inside
        # the row, zero-filled past it (the patch row is a vector longer
        # than the outputs need: element by element with checks, and the
        # bounds recomputed per row, the zeros took most of a 28 x 28
        # stride-2 depthwise layer's time)
        a = (-iw_lo + s - 1) // s if iw_lo < 0 else 0
        e = (P.aw.n_in - iw_lo - s) // s + 1 if P.aw.n_in - iw_lo - s >= 0 else 0
        a = a if a < P.Wq else P.Wq
        e = e if e < P.Wq else P.Wq
        e = e if e > a else a
        t = (P.aw.n_in - iw_lo + s - 1) // s if P.aw.n_in > iw_lo else 0
        t = t if t > e else e
        t = t if t < P.Wq else P.Wq
        for c in range(P.Cg):
            for r in range(nrows):
                ih = ih_lo + r
                dst = patch + (c * nrows + r) * P.Wp
                if ih < 0 or ih >= P.ah.n_in:
                    memset(dst, 0, P.Wp * sizeof(floating))
                    continue
                src = x + c * P.xs_c + ih * P.aw.n_in
                if s == 2:
                    phases2(dst + a, dst + P.Wq + a, src + iw_lo + 2 * a, e - a)
                else:
                    for u in range(a, e):
                        for ph in range(s):
                            dst[ph * P.Wq + u] = src[iw_lo + u * s + ph]
                for ph in range(s):
                    for u in range(a):
                        col = iw_lo + u * s + ph
                        dst[ph * P.Wq + u] = src[col] if 0 <= col < P.aw.n_in else 0
                    for u in range(e, t):
                        col = iw_lo + u * s + ph
                        dst[ph * P.Wq + u] = src[col] if 0 <= col < P.aw.n_in else 0
                    for u in range(t, P.Wq):
                        dst[ph * P.Wq + u] = 0
        return
    a = -iw_lo if iw_lo < 0 else 0
    if a > width:
        a = width
    e = P.aw.n_in - iw_lo
    if e > width:
        e = width
    for c in range(P.Cg):
        for r in range(nrows):
            ih = ih_lo + r
            dst = patch + (c * nrows + r) * P.Wp
            if ih < 0 or ih >= P.ah.n_in or e <= a:
                memset(dst, 0, width * sizeof(floating))
                continue
            src = x + c * P.xs_c + ih * P.aw.n_in + iw_lo
            if width <= 64:                 # narrow (row ends): no library calls
                for u in range(a):
                    dst[u] = 0
                for u in range(a, e):
                    dst[u] = src[u]
                for u in range(e, width):
                    dst[u] = 0
                continue
            if a > 0:
                memset(dst, 0, a * sizeof(floating))
            memcpy(dst + a, src + a, (e - a) * sizeof(floating))
            if e < width:
                memset(dst + e, 0, (width - e) * sizeof(floating))


cdef enum:                   # how the width kernels see their input window
    WIN_PATCH = 0           # a zero-padded copy
    WIN_PLACE = 1           # x itself, every read inside the rows
    WIN_WRAPPED = 2         # x itself away from the row ends; the outputs
                            # near them from narrow padded copies (width_item)
    WIN_MASKED = 3          # x itself; the kernels skip the rows outside the
                            # input and zero the lanes outside a row (wrb_tile,
                            # wh_tile)


cdef inline const floating* input_window(
        const WPlan* P, const floating* x, Py_ssize_t xoff, floating* patch,
        Py_ssize_t ih_lo, Py_ssize_t nrows, Py_ssize_t iw_lo, Py_ssize_t need,
        bint wrap, bint mask, Py_ssize_t* rs, Py_ssize_t* cs, int* mode) noexcept nogil:
    """Input rows [ih_lo, ih_lo + nrows) x columns [iw_lo, iw_lo + Wp) of
    the Cg channels at x (element xoff of the whole input), as a pointer
    with row stride rs and channel stride cs, and how to read it (mode).

    x itself (WIN_PLACE) when those rows lie inside the input, every read
    stays inside the whole input, and the columns the outputs use,
    [iw_lo, iw_lo + need), lie inside the rows (a long signal away from its
    ends).  When they do not: x itself still if the caller can ``mask`` the
    reads outside (WIN_MASKED, rows outside the input allowed too) or
    ``wrap``s the outputs that need them onto narrow copies (WIN_WRAPPED).
    Else the zero-padded copy in patch (WIN_PATCH)."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t r0 = ih_lo if ih_lo > 0 else 0
    cdef Py_ssize_t r1 = ih_lo + nrows if ih_lo + nrows < ah.n_in else ah.n_in
    cdef bint rows_in = ih_lo >= 0 and ih_lo + nrows <= ah.n_in
    cdef bint inside = rows_in and iw_lo >= 0 and iw_lo + need <= aw.n_in
    mode[0] = WIN_PATCH
    if aw.stride == 1 and r1 > r0 and (inside or mask or (wrap and rows_in)):
        # every element read in place lies in x: rows r0..r1-1, columns
        # iw_lo .. iw_lo + Wp of each channel
        if (xoff + r0 * aw.n_in + iw_lo >= 0
                and xoff + (P.Cg - 1) * P.xs_c + (r1 - 1) * aw.n_in + iw_lo + P.Wp
                    <= P.xlen):
            if inside:
                mode[0] = WIN_PLACE
            elif wrap and rows_in:      # long rows: end copies cheaper than masks
                mode[0] = WIN_WRAPPED
            else:
                mode[0] = WIN_MASKED
    if mode[0] != WIN_PATCH:
        rs[0] = aw.n_in
        cs[0] = P.xs_c
        return x + ih_lo * aw.n_in + iw_lo
    fill_patch(P, x, patch, ih_lo, nrows, iw_lo, P.Wp)
    rs[0] = P.Wp
    cs[0] = nrows * P.Wp
    return patch


cdef inline bint long_kernel_rows(const WPlan* P) noexcept nogil:
    """True when one_channel_rows runs the one-row wl tiles: a kernel longer
    than a vector along w, undilated, over consecutive positions."""
    return (P.aw.dil == 1 and P.aw.taps > P.VL and P.aw.out_step == 1
            and P.aw.stride == 1)


cdef inline bint masked_rows_apply(const WPlan* P) noexcept nogil:
    """True when channel_rows can read a padded window in place
    (WIN_MASKED), stride 1 along w: one output channel on the wrb tiles
    (masked_rows: kernel no longer than a vector along w, or dilated; rows
    shared, stride = dilation along h; consecutive output positions),
    several on the wvb tiles (channel_tiles: up to WVB_TAPS taps
    along w, each input value used at most WIDTH_MASKED_MAX_USES times)."""
    if P.aw.stride != 1:
        return False
    if P.Kg > 1:
        return (P.aw.taps <= WVB_TAPS
                and P.Kg * P.ah.taps * P.aw.taps <= WIDTH_MASKED_MAX_USES)
    return P.ah.stride == P.ah.dil and P.aw.out_step == 1 and not long_kernel_rows(P)


cdef inline void masked_rows(
        const WPlan* P, Py_ssize_t ng, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t q0,
        Py_ssize_t q1, Py_ssize_t ih_lo, const floating* src, Py_ssize_t rs,
        Py_ssize_t cs, const floating* w, const floating* b, floating* y) noexcept nogil:
    """one_channel_rows over a window read in place whose rows or columns
    leave the input (WIN_MASKED), on wrb_tile: each tile of up to 4 rows
    reads only its input rows inside the input, and zeroes the lanes of
    its first and last vectors outside their row (so tiles are cut where
    a vector between would leave it: padding wider than a vector).  Where
    wrb_blocks holds, the 4-row blocks whose input rows all lie inside the
    input go to each tile in one call (nb blocks): the tiles between the
    top and bottom padding cost one call per column of tiles."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t oh = oh0, nr, nb, q, nq, pv, pvmax, ilo, ihi, qa, qb, room
    cdef const floating* xt
    cdef const floating* wg = w + (ng % P.G) * P.wm
    cdef const floating* bg = (b + ng % P.G) if b != NULL else NULL
    cdef floating* yt
    interior(aw, &qa, &qb)            # outputs whose windows lie inside their row
    while oh < oh1:
        nr = 4 if oh1 - oh >= 4 else (2 if oh1 - oh >= 2 else 1)
        pvmax = wrb_max_pv(nr)
        # input rows i (ah.dil apart) of the tile inside the input: [ilo, ihi)
        step_range(ah, oh, ah.taps + nr - 1, &ilo, &ihi)
        nb = 1
        if wrb_blocks(<floating> 0) and nr == 4 and ilo == 0 and ihi == ah.taps + 3:
            # the blocks from oh on whose last input row is inside too
            room = ah.n_in - 1 - oh * ah.stride - ah.off - (ah.taps + 2) * ah.dil
            nb = room // (4 * ah.stride) + 1
            if nb > (oh1 - oh) // 4:
                nb = (oh1 - oh) // 4
        xt = src + (oh * ah.stride + ah.off - ih_lo) * rs
        yt = (y + P.y0 + (ng * P.Ky + P.k0) * P.ys_c
              + (oh * ah.out_step + ah.out_base) * P.ys_h + aw.out_base)
        q = q0
        while q < q1:
            pv = (q1 - q + P.VL - 1) // P.VL
            if pv > pvmax:
                pv = pvmax
            if q + P.VL < qa:
                pv = 1                # the second vector would leave the row too
            while pv > 2 and q + (pv - 1) * P.VL > qb:
                pv -= 1               # only the first and last vectors masked
            nq = q1 - q if q1 - q < pv * P.VL else pv * P.VL
            wrb_tile(nr, pv, xt + (q - q0), wg, bg, yt + q, P.Cg, cs, P.wc,
                     ah.taps, aw.taps, ah.dil * rs, aw.dil, aw.taps,
                     ah.out_step * P.ys_h, nq, ilo, ihi, q + aw.off, aw.n_in,
                     nb, nr * ah.stride * rs, nr * ah.out_step * P.ys_h)
            q += nq
        oh += nr * nb


cdef inline void one_channel_rows(
        const WPlan* P, Py_ssize_t ng, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t q0,
        Py_ssize_t q1, Py_ssize_t ih_lo, const floating* src, Py_ssize_t rs,
        Py_ssize_t cs, const floating* w, const floating* b, floating* y) noexcept nogil:
    """Width path with a single output channel per group: tiles of up to 4
    output rows x up to wr_max_pv(rows) position vectors; rows one at a
    time (wl_tile) when the kernel is longer than a vector along w."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t oh = oh0, nr, q, nq, pv, pvmax
    cdef const floating* wg = w + (ng % P.G) * P.wm
    cdef const floating* bg = (b + ng % P.G) if b != NULL else NULL
    cdef const floating* xt
    cdef floating* yt
    if long_kernel_rows(P):
        # at most 8 vectors when the tile sums over several input rows
        # (channels or taps along h): 16 measured 1.4x slower there (one
        # input row, a signal: 16 is 1.08x faster in float32)
        pvmax = wl_fit_pv(16 if P.Cg * ah.taps == 1 else 8)
        for oh in range(oh0, oh1):
            q = q0
            while q < q1:
                # every full tile of pvmax vectors in one call, then the rest
                nq = q1 - q
                if nq >= pvmax * P.VL:
                    pv = pvmax
                    nq -= nq % (pvmax * P.VL)
                else:
                    pv = wl_fit_pv((nq + P.VL - 1) // P.VL)
                    nq = nq if nq < pv * P.VL else pv * P.VL
                wl_tile(pv, src + (oh * ah.stride + ah.off - ih_lo) * rs + (q - q0), wg, bg,
                        y + P.y0 + (ng * P.Ky + P.k0) * P.ys_c
                          + (oh * ah.out_step + ah.out_base) * P.ys_h
                          + q + aw.out_base,
                        P.Cg, cs, P.wc, ah.taps, aw.taps, ah.dil * rs, aw.taps, nq, P.stream)
                q += nq
        return
    while oh < oh1:
        nr = 4 if oh1 - oh >= 4 else (2 if oh1 - oh >= 2 else 1)
        pvmax = wr_max_pv(nr)
        # the block's first input and output rows: per tile, offsets only
        xt = src + (oh * ah.stride + ah.off - ih_lo) * rs - q0
        yt = (y + P.y0 + (ng * P.Ky + P.k0) * P.ys_c
              + (oh * ah.out_step + ah.out_base) * P.ys_h + aw.out_base)
        q = q0
        while q < q1:
            nq = q1 - q
            if nq >= pvmax * P.VL:
                nq = pvmax * P.VL
                pv = pvmax
            else:
                pv = (nq + P.VL - 1) // P.VL
            wr_tile(nr, pv, xt + q, wg, bg, yt + q * aw.out_step,
                    P.Cg, cs, P.wc, ah.taps, aw.taps, ah.dil * rs, P.toff,
                    aw.taps, ah.stride * rs, ah.out_step * P.ys_h, nq, aw.out_step,
                    0, ah.taps + nr - 1 if nr > 1 else ah.taps, P.stream)
            q += nq
        oh += nr


cdef inline void channel_tiles(
        const WPlan* P, Py_ssize_t ng, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t q0,
        Py_ssize_t q1, Py_ssize_t ih_lo, const floating* src, Py_ssize_t rs,
        Py_ssize_t cs, const floating* w, const floating* b, floating* y,
        bint masked) noexcept nogil:
    """channel_rows' tiles of wv_fit_mb channels.  Over a masked window
    those are wvb tiles: each output row reads only its tap rows inside the
    input, and the lanes of a tile's first and last vectors outside their
    row read as zero (so tiles are cut where a vector between would leave
    it: padding wider than a vector); the same sums as over the padded
    copy, in the same order.  (Called with ``masked`` a constant, so that
    each call compiles to its own loop.)"""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t oh, m0, mbk, q, nq, pv, pvmax, j0 = 0, j1 = ah.taps, qa = 0, qb = 0
    cdef const floating* prow
    cdef const floating* wt
    cdef const floating* bt
    cdef floating* yt
    if masked:
        interior(aw, &qa, &qb)        # outputs whose windows lie inside their row
    for oh in range(oh0, oh1):
        if masked:
            tap_range(ah, oh, &j0, &j1)   # tap rows inside the input
        prow = src + (oh * ah.stride + ah.off + j0 * ah.dil - ih_lo) * rs
        m0 = 0
        while m0 < P.Kg:
            mbk = wv_fit_mb(P.Kg - m0, (q1 - q0 + P.VL - 1) // P.VL)
            pvmax = wv_max_pv(mbk)
            wt = w + ((ng % P.G) * P.Kg + m0) * P.wm + j0 * aw.taps
            bt = (b + (ng % P.G) * P.Kg + m0) if b != NULL else NULL
            yt = (y + P.y0 + (ng * P.Ky + P.k0 + m0) * P.ys_c
                  + (oh * ah.out_step + ah.out_base) * P.ys_h + aw.out_base)
            q = q0
            while q < q1:
                pv = (q1 - q + P.VL - 1) // P.VL
                if pv > pvmax:
                    pv = pvmax
                if masked:
                    if q + P.VL < qa:
                        pv = 1        # the second vector would leave the row too
                    while pv > 2 and q + (pv - 1) * P.VL > qb:
                        pv -= 1       # only the first and last vectors masked
                nq = q1 - q if q1 - q < pv * P.VL else pv * P.VL
                if masked:
                    wvb_tile(mbk, pv, prow + (q - q0), wt, bt, yt + q * aw.out_step,
                             P.Cg, cs, P.wc, P.wm, j1 - j0, aw.taps, ah.dil * rs,
                             aw.dil, aw.taps, nq, P.ys_c, aw.out_step, q + aw.off,
                             aw.n_in, P.stream)
                else:
                    wv_tile(mbk, pv, prow + (q - q0), wt, bt, yt + q * aw.out_step,
                            P.Cg, cs, P.wc, P.wm, ah.taps, aw.taps, ah.dil * rs,
                            aw.dil, aw.taps, nq, P.ys_c, aw.out_step, P.stream)
                q += nq
            m0 += mbk


cdef inline void channel_rows(
        const WPlan* P, Py_ssize_t ng, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t q0,
        Py_ssize_t q1, Py_ssize_t ih_lo, const floating* src, Py_ssize_t rs,
        Py_ssize_t cs, const floating* w, const floating* b, floating* y,
        bint masked) noexcept nogil:
    """Rows [oh0, oh1) x positions [q0, q1) of every output channel of one
    (image, group) from the input window src (position q0 at its column 0;
    ``masked``: a WIN_MASKED window, masked_rows_apply holds):
    one_channel_rows (masked_rows) for one channel, else channel_tiles."""
    if P.Kg == 1:
        if masked:
            masked_rows(P, ng, oh0, oh1, q0, q1, ih_lo, src, rs, cs, w, b, y)
        else:
            one_channel_rows(P, ng, oh0, oh1, q0, q1, ih_lo, src, rs, cs, w, b, y)
    elif masked:
        channel_tiles(P, ng, oh0, oh1, q0, q1, ih_lo, src, rs, cs, w, b, y, True)
    else:
        channel_tiles(P, ng, oh0, oh1, q0, q1, ih_lo, src, rs, cs, w, b, y, False)


cdef inline void width_item(Py_ssize_t item, const WPlan* P, const floating* x,
                            const floating* w, const floating* b, floating* y,
                            floating* patch) noexcept nogil:
    """Rows [oh0, oh1) x positions [q0, q1) of every output channel of one
    (image, group): the input window they read (in place, or copied
    zero-padded: input_window), then the width micro-kernels over it.

    Long rows inside the input are read in place even when the outputs
    near the row ends need padding columns: the tiles there (the vectors
    holding the first and last taps - 1 outputs) read a narrow zero-padded
    copy instead.  (For short rows, as in a 56-wide depthwise layer, the
    copies would cost more than one copy of the whole window.)"""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t sb = item % P.nsb, rb = (item // P.nsb) % P.nrb
    cdef Py_ssize_t ng = item // (P.nsb * P.nrb)
    cdef Py_ssize_t oh0 = rb * P.R, oh1 = oh0 + P.R, q0 = sb * P.S, q1 = q0 + P.S
    cdef Py_ssize_t ih_lo, nrows, rs, cs, xoff, qa, qb, ma, mb, side, lo, hi
    cdef const floating* src
    cdef int mode
    if oh1 > ah.n_q:
        oh1 = ah.n_q
    if q1 > aw.n_q:
        q1 = aw.n_q
    ih_lo = oh0 * ah.stride + ah.off
    nrows = (oh1 - 1 - oh0) * ah.stride + (ah.taps - 1) * ah.dil + 1
    xoff = ng * P.Cg * P.xs_c
    interior(aw, &qa, &qb)            # outputs whose windows lie inside a row
    src = input_window(P, x + xoff, xoff, patch, ih_lo, nrows, q0 + aw.off,
                       q1 - q0 + (aw.taps - 1) * aw.dil,
                       qa < qb and aw.n_in >= WIDTH_WRAP_MIN, masked_rows_apply(P),
                       &rs, &cs, &mode)
    if mode != WIN_WRAPPED:
        channel_rows(P, ng, oh0, oh1, q0, q1, ih_lo, src, rs, cs, w, b, y,
                     mode == WIN_MASKED)
        return
    # in place: whole vectors from q0 whose windows lie inside the row,
    # [ma, mb); the positions on either side from narrow padded copies.
    # Every output is stored once (no fence between streamed stores and
    # rewrites of the same lines; the ends rewritten after a fence cost
    # the 2048 x 2048 5x5 image 10% of its time)
    ma = q0
    if qa > q0:
        ma = q0 + (qa - q0 + P.VL - 1) // P.VL * P.VL
        ma = ma if ma < q1 else q1
    mb = q1
    if qb < q1:
        mb = ma + (qb - ma) // P.VL * P.VL if qb > ma else ma
    if mb > ma:
        channel_rows(P, ng, oh0, oh1, ma, mb, ih_lo, src + (ma - q0), rs, cs, w, b, y,
                     False)
    for side in range(2):
        lo = q0 if side == 0 else mb
        hi = ma if side == 0 else q1
        if lo >= hi:
            continue
        fill_patch(P, x + xoff, patch, ih_lo, nrows, lo + aw.off,
                   hi - lo + (aw.taps - 1) * aw.dil + P.VL)
        channel_rows(P, ng, oh0, oh1, lo, hi, ih_lo, patch, P.Wp, nrows * P.Wp, w, b, y,
                     False)


cdef bint width_fit(Py_ssize_t Cg, Py_ssize_t Kg, const Axis* ad, const Axis* ah,
                    const Axis* aw, Py_ssize_t itemsize, bint any_channels, bint forward,
                    Py_ssize_t seg, Py_ssize_t* R, Py_ssize_t* S,
                    Py_ssize_t* Wp) noexcept nogil:
    """The width path's row block R, segment S and patch row length Wp, or
    False when it does not apply: only for few output channels (any number
    with ``any_channels``), no depth axis, an input stride along w up to
    WIDTH_MAX_STRIDE (in the ``forward`` pass only with one output
    channel), and a patch of Cg rows that fits the per-thread budget.  For
    the ``forward`` pass over long rows with padding on top, row blocks of
    at most WIDTH_PAD_ROWS: only the first and last blocks then need the
    padded copy, the others read the input in place (width_item).  Rows
    are cut into segments of at most ``seg`` output positions."""
    cdef Py_ssize_t vl = CY_VBYTES // itemsize, s = aw.stride, rows, r
    if Kg * 2 > vl and not any_channels:
        return False
    # depth axis degenerate: one input plane, one tap at offset 0, one output
    # plane (its output index ad.out_base is honoured); unit stride along w
    if ad.n_in != 1 or ad.taps != 1 or ad.off != 0 or ad.n_q != 1:
        return False
    # a stride along w (forward, one output channel: wr tiles): the patch
    # rows hold its phases (fill_patch)
    if s != 1 and not (s <= WIDTH_MAX_STRIDE and (Kg == 1 or not forward)):
        return False
    S[0] = aw.n_q if aw.n_q < seg else seg
    while True:
        # tiles read at most one vector past S (in each phase row)
        Wp[0] = s * (S[0] + ((aw.taps - 1) * aw.dil) // s + vl)
        rows = PATCH_BYTES // itemsize // (Cg * Wp[0] if Cg * Wp[0] > 1 else 1)
        r = (rows - (ah.taps - 1) * ah.dil - 1) // ah.stride + 1 if rows > (ah.taps - 1) * ah.dil else 0
        if r >= 1:
            if forward and ah.off < 0 and aw.n_in >= WIDTH_WRAP_MIN and r > WIDTH_PAD_ROWS:
                r = WIDTH_PAD_ROWS
            R[0] = r if r < ah.n_q else ah.n_q
            return True
        if S[0] <= vl:
            return False
        S[0] = S[0] // 2 if S[0] // 2 > vl else vl


def width_path_plan(Py_ssize_t Cg, Py_ssize_t Kg, tuple axes, dtype,
                    bint any_channels=False, bint forward=False,
                    Py_ssize_t seg=WIDTH_SEG):
    """(R, S, Wp) for the width path (width_fit), or None when it does not
    apply."""
    cdef Axis ad = make_axis(axes[0]), ah = make_axis(axes[1]), aw = make_axis(axes[2])
    cdef Py_ssize_t R, S, Wp
    if not width_fit(Cg, Kg, &ad, &ah, &aw, np.dtype(dtype).itemsize, any_channels,
                     forward, seg, &R, &S, &Wp):
        return None
    return R, S, Wp


cdef int flat_planes_apply(const WPlan* P) noexcept nogil:
    """How the width path's (image, group) planes run as flat runs over
    their output planes (wff_tile; one output channel per group, the output
    plane whole and contiguous, at most FLAT_MAX_VECTORS vectors, on a build
    with those tiles): 1 reading x in place (stride 1, rows shorter than a
    vector and as long as the output's, so the input of each tap lies a
    fixed offset from its output), 2 from a copy of each input plane as its
    stride phases, each phase's rows as long as the output's (strides up to
    2, no phase wider than the output rows: flat_fill); 0 where neither
    applies.  Strided layers take the copy at any row length (the row tiles
    read a padded phase copy per row block: a 28 x 28 stride-2 depthwise
    layer ran at 4% of the peak)."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    if not (WFF_ENABLED and P.Kg == 1 and aw.n_out == aw.n_q and ah.n_out == ah.n_q
            and aw.out_step == 1 and ah.out_step == 1 and aw.out_base == 0
            and ah.out_base == 0 and ah.n_q * aw.n_q <= FLAT_MAX_VECTORS * P.VL
            and 1 <= ah.stride <= 2 and 1 <= aw.stride <= 2):
        return 0
    if ah.stride == 1 and aw.stride == 1:
        return 1 if aw.n_q == aw.n_in and aw.n_in < P.VL else 0
    return 2 if (aw.n_in + aw.stride - 1) // aw.stride <= aw.n_q else 0


cdef inline void flat_fill(const WPlan* P, const floating* x, floating* grid) noexcept nogil:
    """One input channel's plane x as its stride phases (flat_plane_table):
    the elements of phase (a, b) whose rows and columns lie inside the
    input, row u and column v at ((a * sw + b) * Hq + u) * Wo + v.  The rest
    is left as it is: the tiles' masks never read it."""
    cdef Py_ssize_t sh = P.ah.stride, sw = P.aw.stride, W = P.aw.n_in, Wo = P.aw.n_q
    cdef Py_ssize_t Hq = (P.ah.n_in + sh - 1) // sh, a, u, n0, n1
    cdef floating* d
    cdef const floating* src
    n0 = (W + sw - 1) // sw          # columns of phase 0 (inside the rows: flat_planes_apply)
    n1 = W // sw                     # of phase 1 (sw = 2)
    for a in range(sh):
        for u in range((P.ah.n_in - a + sh - 1) // sh):
            src = x + (u * sh + a) * W
            d = grid + (a * sw * Hq + u) * Wo
            if sw == 1:
                memcpy(d, src, W * sizeof(floating))
                continue
            phases2(d, d + Hq * Wo, src, n1)
            if n0 > n1:
                d[n1] = src[W - 1]


cdef inline void flat_item(Py_ssize_t item, const WPlan* P, const floating* x,
                           const floating* w, const floating* b, floating* y,
                           floating* grid) noexcept nogil:
    """The output planes of (image, group) 2 * item and 2 * item + 1 (flat
    in n * G + g, so a pair may span two images) on wff_tile, both planes
    in each tile (every lane mask loaded once for two planes), at most
    WFF_VECTORS vectors per tile; their input read in place or from their
    phase planes in ``grid`` (P.fgrid > 0: flat_fill)."""
    cdef Py_ssize_t ng = 2 * item, npl = 2 if 2 * item + 1 < P.N * P.G else 1
    cdef Py_ssize_t g0 = ng % P.G, g1 = (ng + 1) % P.G, ntaps = P.wc
    cdef Py_ssize_t n_out = P.ah.n_q * P.aw.n_q, v0 = 0, nv, nlast, c
    cdef Py_ssize_t xc = P.xs_c
    cdef const floating* xp = x + ng * P.Cg * P.xs_c
    cdef floating* yp = y + P.y0 + (ng * P.Ky + P.k0) * P.ys_c
    if P.fgrid:
        for c in range(npl * P.Cg):
            flat_fill(P, xp + c * P.xs_c, grid + c * P.fgrid)
        xp = grid
        xc = P.fgrid
    while v0 < P.fnvec:
        nv = P.fnvec - v0 if P.fnvec - v0 < WFF_VECTORS else WFF_VECTORS
        nlast = n_out - (v0 + nv - 1) * P.VL
        if nlast > P.VL:
            nlast = P.VL
        wff_tile(npl, nv, xp + v0 * P.VL, P.Cg * xc, P.Cg, xc,
                 w + g0 * P.wm, w + g1 * P.wm, P.wc,
                 (b + g0) if b != NULL else NULL, (b + g1) if b != NULL else NULL,
                 yp + v0 * P.VL, P.Ky * P.ys_c, ntaps, P.foff, P.fmask + v0 * ntaps, nlast)
        v0 += nv


cdef bint flat_grad_rows(const WPlan* P) noexcept nogil:
    """True when the weight gradient's row blocks can run as flat runs of
    positions (whf_tile): stride 1 and no dilation, an odd kernel width
    centred on its output column (the output rows as long as the input's,
    gy rows too), rows shorter than WIDTH_FLAT_MAX_VECTORS vectors, and a
    tile for the taps."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    return (aw.stride == 1 and aw.dil == 1 and aw.taps % 2 == 1
            and aw.off == -(aw.taps // 2) and aw.n_q == aw.n_in and P.ys_h == aw.n_in
            and aw.n_in < WIDTH_FLAT_MAX_VECTORS * P.VL and ah.stride == 1 and ah.dil == 1
            and whf_supported(ah.taps, aw.taps, 1))


@functools.lru_cache(maxsize=64)
def flat_grad_table(Py_ssize_t W, Py_ssize_t taps, Py_ssize_t VL):
    """tab[c * taps + t]: bit l set when lane l of a vector whose lane 0 is in
    column c (of rows W long) stays inside its row at tap t (column offset
    t - taps // 2).  Read-only, kept for the next call (numpy's steps took
    about as long as a small layer's kernel)."""
    c = np.arange(W)[:, None, None]
    t = np.arange(taps)[None, :, None]
    l = np.arange(VL)[None, None, :]
    col = (c + l) % W + t - taps // 2
    inside = (col >= 0) & (col < W)
    tab = (inside * (1 << np.arange(VL))).sum(axis=2).astype(np.uint16).reshape(-1)
    tab.flags.writeable = False
    return tab


cdef inline void masked_grad_rows(
        const WPlan* P, Py_ssize_t kh, Py_ssize_t mk, const floating* g, const floating* xc,
        Py_ssize_t rs, Py_ssize_t nr, Py_ssize_t q0, Py_ssize_t q1, floating* acc,
        const floating* gend, Py_ssize_t ilo, Py_ssize_t ihi) noexcept nogil:
    """The row-block weight gradient (wh_tile) of kh tap rows and mk (1
    or 2) gy channels from g (rows ys_h apart, position q0 first) and one
    input channel xc read in place (WIN_MASKED; position q0's window at
    column 0): input rows [ilo, ihi) of the block only, the lanes of the
    first and last vectors of a call outside their row zeroed; calls are
    cut where a vector between would leave the row (padding wider than a
    vector)."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t q = q0, k, n, qa, qb
    interior(aw, &qa, &qb)            # outputs whose windows lie inside their row
    while q < q1:
        # vectors 0 .. k-1 from q, those between the first and last inside
        k = 1 if q + P.VL < qa else (qb - q) // P.VL + 1
        if k < 2 and q + P.VL >= qa:
            k = 2
        n = q1 - q if q1 - q < k * P.VL else k * P.VL
        wh_tile(kh, aw.taps, mk, g + (q - q0), P.ys_h, P.ys_c, xc + (q - q0),
                ah.stride * rs, nr, n // P.VL, n % P.VL, aw.dil, acc, P.Cg * P.wc * P.VL,
                gend, ilo, ihi, q + aw.off, aw.n_in)
        q += n


cdef inline void width_grad_item(Py_ssize_t item, const WPlan* P, Py_ssize_t N,
                                 Py_ssize_t nchunks, Py_ssize_t chunk0, const floating* x,
                                 const floating* gy, floating* part,
                                 floating* patch, floating* lanes) noexcept nogil:
    """Weight gradient of one (batch chunk, group) on the width path: lane
    partial sums lanes[m][c][kh][kw][VL] (the thread's) of the sum over its
    images, rows and positions of gy[m, row, q] * patch[c, row*s + kh*d,
    q + kw*d] (vectors along q), then part[chunk, g] (lanes_to_part).
    Rows run as one block (wh_tile) where that tile exists, else one by one
    (wd_tile over blocks of gy rows and taps, wg_tile for one gy row, and
    wg_tail for the partial last vector of a row)."""
    cdef const Axis* ah = &P.ah
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t g = item % P.G, chunk = item // P.G
    cdef Py_ssize_t n, rb, sb, oh0, oh1, q0, q1, ih_lo, nrows, nvec, oh, m, c, kh, kw0, nkw
    cdef Py_ssize_t rs, cs, xoff, m0, mk, ilo, ihi
    cdef const floating* src
    cdef int mode
    cdef floating* a
    # rows of a block reduce together when output row r reads input row r + kh:
    # all tap rows at once, or for kernels wider than 5 taps (whose tiles
    # fit fewer tap rows in the registers) in groups of khg tap rows (the
    # 7x7 depthwise weight gradient, row by row: 16% of the peak)
    cdef Py_ssize_t khg = (ah.taps if wh_supported(ah.taps, aw.taps, 1)
                           else (wh_rows(aw.taps) if aw.taps > 5 else 0))
    cdef bint shared = ah.stride == ah.dil and aw.stride == 1 and khg > 0
    cdef bint pairs = shared and khg == ah.taps and wh_supported(ah.taps, aw.taps, 2)
    cdef Py_ssize_t h0, khn, jlo, jhi
    cdef const floating* gend = gy + N * P.G * P.Ky * P.ys_c
    cdef const floating* grow
    cdef const floating* xr
    cdef const floating* gnext
    cdef const floating* gimg
    cdef const floating* pf
    cdef Py_ssize_t mnext, call
    cdef floating* acc
    memset(lanes, 0, P.Kg * P.Cg * P.wc * P.VL * sizeof(floating))
    for n in range(chunk * N // nchunks, (chunk + 1) * N // nchunks):
        for rb in range(P.nrb):
            oh0 = rb * P.R
            oh1 = oh0 + P.R if oh0 + P.R < ah.n_q else ah.n_q
            ih_lo = oh0 * ah.stride + ah.off
            nrows = (oh1 - 1 - oh0) * ah.stride + (ah.taps - 1) * ah.dil + 1
            for sb in range(P.nsb):
                q0 = sb * P.S
                q1 = q0 + P.S if q0 + P.S < aw.n_q else aw.n_q
                nvec = (q1 - q0) // P.VL      # whole vectors, then a masked tail
                xoff = (n * P.G + g) * P.Cg * P.xs_c
                src = input_window(P, x + xoff, xoff, patch, ih_lo, nrows, q0 + aw.off,
                                   q1 - q0 + (aw.taps - 1) * aw.dil, False, shared,
                                   &rs, &cs, &mode)
                if shared:
                    # every row of the block at once, row tails included; the
                    # input rows inside the input only (WIN_MASKED) or all
                    ilo, ihi = 0, oh1 - oh0 + ah.taps - 1
                    if mode == WIN_MASKED:
                        step_range(ah, oh0, ihi, &ilo, &ihi)
                    # gy channels two at a time where that tile exists: each
                    # x vector loaded (and masked) serves both, and there are
                    # half as many calls (bww_big_batch, 3x3 over 32 x 32
                    # images: 1.3-1.4x at 1 thread, 1.1-1.3x at 2)
                    m = 0
                    while m < P.Kg:
                        mk = 2 if pairs and m + 1 < P.Kg else 1
                        grow = (gy + ((n * P.G + g) * P.Ky + P.k0 + m) * P.ys_c
                                + oh0 * P.ys_h + q0)
                        for c in range(P.Cg):
                            acc = lanes + (m * P.Cg + c) * P.wc * P.VL
                            # tap rows [h0, h0 + khn): the tile's input rows
                            # from the window's row h0 on (rows [jlo, jhi) of them)
                            h0 = 0
                            while h0 < ah.taps:
                                khn = ah.taps - h0 if ah.taps - h0 < khg else khg
                                jlo = ilo - h0 if ilo > h0 else 0
                                jhi = ihi - h0
                                if jhi > oh1 - oh0 + khn - 1:
                                    jhi = oh1 - oh0 + khn - 1
                                xr = src + c * cs + h0 * ah.stride * rs
                                a = acc + h0 * aw.taps * P.VL
                                if jlo < jhi and mode == WIN_MASKED:
                                    masked_grad_rows(P, khn, mk, grow, xr, rs, oh1 - oh0,
                                                     q0, q1, a, gend, jlo, jhi)
                                elif jlo < jhi:
                                    wh_tile(khn, aw.taps, mk, grow, P.ys_h, P.ys_c, xr,
                                            ah.stride * rs, oh1 - oh0, nvec,
                                            q1 - q0 - nvec * P.VL, aw.dil, a,
                                            P.Cg * P.wc * P.VL, gend, jlo, jhi, 0, 0)
                                h0 += khn
                        m += mk
                    continue
                # row by row: blocks of mk gy rows x nkw taps (wd_tile: each x
                # vector serves every gy row; wg_tile for a single gy row)
                gimg = gy + ((n * P.G + g) * P.Ky + P.k0) * P.ys_c    # this image's gy
                for oh in range(oh0, oh1):
                    m0 = 0
                    while m0 < P.Kg:
                        mk = P.Kg - m0 if P.Kg - m0 < wd_rows() else wd_rows()
                        grow = gimg + m0 * P.ys_c + oh * P.ys_h + q0
                        # the next block's gy rows (read once, from memory) are
                        # asked for a line per vector step, a row per tile call:
                        # the next channels of this row, else the first ones of
                        # the next row of the block, else of the next segment's
                        # first row when it has as many whole vectors
                        mnext = min(P.Kg, wd_rows())      # a row's first block
                        if m0 + mk < P.Kg:
                            gnext = grow + mk * P.ys_c
                            mnext = min(P.Kg - m0 - mk, wd_rows())
                        elif oh + 1 < oh1:
                            gnext = gimg + (oh + 1) * P.ys_h + q0
                        elif sb + 1 < P.nsb and q1 + nvec * P.VL <= aw.n_q:
                            gnext = gimg + oh0 * P.ys_h + q1
                        else:
                            gnext, mnext = NULL, 0
                        call = 0
                        for c in range(P.Cg):
                            acc = lanes + (m0 * P.Cg + c) * P.wc * P.VL
                            for kh in range(ah.taps):
                                kw0 = 0
                                while kw0 < aw.taps:
                                    nkw = 8 if mk == 1 else wd_cols()
                                    if aw.taps - kw0 < nkw:
                                        nkw = aw.taps - kw0
                                    if aw.stride > 1:
                                        nkw = 1       # taps in different phases
                                    xr = (src + c * cs + ((oh - oh0) * ah.stride
                                                          + kh * ah.dil) * rs + P.toff[kw0])
                                    a = acc + (kh * aw.taps + kw0) * P.VL
                                    if nvec > 0 and mk == 1:
                                        wg_tile(nkw, grow, xr, a, nvec, aw.dil)
                                    elif nvec > 0:
                                        pf = gnext + call * P.ys_c if call < mnext else NULL
                                        call += 1
                                        wd_tile(mk, nkw, grow, P.ys_c, xr, aw.dil, a,
                                                P.Cg * P.wc, nvec, pf)
                                    # positions past the last whole vector: one masked
                                    # vector step (lanes past the row add exactly +0)
                                    if nvec * P.VL < q1 - q0:
                                        for m in range(mk):
                                            wg_tail(nkw, grow + m * P.ys_c + nvec * P.VL,
                                                    xr + nvec * P.VL,
                                                    a + m * P.Cg * P.wc * P.VL, aw.dil,
                                                    q1 - q0 - nvec * P.VL, gend)
                                    kw0 += nkw
                        m0 += mk
    lanes_to_part(lanes, P.Kg * P.Cg * P.wc, P.VL,
                  part + ((chunk - chunk0) * P.G + g) * P.Kg * P.Cg * P.wc)


cdef void flat_grad_item(Py_ssize_t item, const WPlan* P, Py_ssize_t N,
                         Py_ssize_t nchunks, Py_ssize_t chunk0, Py_ssize_t gb,
                         const floating* x, const floating* gy, floating* part,
                         floating* lanes) noexcept nogil:
    """width_grad_item where flat_grad_rows holds, over a block of gb groups
    (item: chunk * blocks + block): every image's rows as one block, gy
    channels two at a time where that tile exists, each (gy channels, input
    channel) pair one flat run of positions over the input rows inside the
    input, read in place (whf_tile: its masked loads stay inside the arrays,
    so no padded copy even at their ends).  Per image the block's groups
    run in memory order, their planes one stream (one group's planes of a
    small layer are a few cache lines: group by group, image after image,
    they were as many separate reads from memory); each group's lane sums
    add the images in the same order whatever the block."""
    cdef const Axis* ah = &P.ah
    cdef Py_ssize_t nblk = (P.G + gb - 1) // gb
    cdef Py_ssize_t chunk = item // nblk, g0 = item % nblk * gb
    cdef Py_ssize_t g1 = g0 + gb if g0 + gb < P.G else P.G
    cdef Py_ssize_t ls = P.Kg * P.Cg * P.wc * P.VL, W = P.aw.n_in, nr = ah.n_q
    cdef Py_ssize_t n0 = chunk * N // nchunks, n1 = (chunk + 1) * N // nchunks
    cdef Py_ssize_t n, g, m, mk, c, ilo, ihi, nx
    cdef Py_ssize_t xorg = ah.off * W + P.aw.off
    cdef bint pairs = whf_supported(ah.taps, P.aw.taps, 2)
    cdef floating* acc
    cdef const floating* xw
    cdef const floating* grow
    cdef const floating* gnext
    cdef const floating* xnext
    cdef const floating* pf0
    cdef const floating* pf1
    cdef bint last
    memset(lanes, 0, (g1 - g0) * ls * sizeof(floating))
    # the input rows inside the input, of the block of every output row
    # whose row 0 is input row ah.off
    ilo, ihi = 0, nr + ah.taps - 1
    step_range(ah, 0, ihi, &ilo, &ihi)
    for n in range(n0, n1):
        for g in range(g0, g1):
            # the window of output position (0, 0): input row ah.off, column aw.off
            xw = x + (n * P.G + g) * P.Cg * P.xs_c + xorg
            acc = lanes + (g - g0) * ls
            # the (image, group) whose planes come next
            nx = n * P.G + g + 1 if g + 1 < g1 else ((n + 1) * P.G + g0 if n + 1 < n1 else -1)
            m = 0
            while m < P.Kg:
                mk = 2 if pairs and m + 1 < P.Kg else 1
                grow = gy + ((n * P.G + g) * P.Ky + P.k0 + m) * P.ys_c
                # while the tiles read these planes, the next ones are asked
                # for into L2, one line per vector step: the next gy
                # channels' planes during the first input channel's run,
                # the next group's input planes during the last gy
                # channels' (elsewhere the current planes, already in L1)
                last = m + mk >= P.Kg
                if not last:
                    gnext = grow + mk * P.ys_c
                elif nx >= 0:
                    gnext = gy + (nx * P.Ky + P.k0) * P.ys_c
                else:
                    gnext = grow
                xnext = x + nx * P.Cg * P.xs_c + xorg if last and nx >= 0 else xw
                for c in range(P.Cg):
                    if c == 0:
                        pf0 = gnext
                        pf1 = gnext + P.ys_c if mk == 2 else xnext
                    else:
                        pf0 = pf1 = xnext + c * P.xs_c
                    whf_tile(ah.taps, P.aw.taps, mk, grow, P.ys_c, xw + c * P.xs_c, W, nr,
                             ilo * W, ihi * W, acc + (m * P.Cg + c) * P.wc * P.VL,
                             P.Cg * P.wc * P.VL, P.ftab, pf0, pf1)
                m += mk
    for g in range(g0, g1):
        lanes_to_part(lanes + (g - g0) * ls, P.Kg * P.Cg * P.wc, P.VL,
                      part + ((chunk - chunk0) * P.G + g) * P.Kg * P.Cg * P.wc)


cdef void flat_copy_grad_item(Py_ssize_t item, const WPlan* P, Py_ssize_t N,
                              Py_ssize_t nchunks, Py_ssize_t chunk0, const floating* x,
                              const floating* gy, floating* part, floating* lanes,
                              floating* grid) noexcept nogil:
    """width_grad_item where flat_planes_apply gives 2 (strided planes): per
    image, each input channel's plane as its stride phases (flat_fill), then
    per (gy channel, input channel) the taps' dot products over the flat
    output plane, WGF_TAPS taps at a time (wgf_tile), into the lane partial
    sums; part[chunk, g] as width_grad_item leaves it."""
    cdef Py_ssize_t g = item % P.G, chunk = item // P.G, n, m, c, t0, nt
    cdef Py_ssize_t n_out = P.ah.n_q * P.aw.n_q
    cdef Py_ssize_t nlast = n_out - (P.fnvec - 1) * P.VL
    cdef const floating* xs
    cdef Py_ssize_t xc = P.fgrid if P.fgrid else P.xs_c
    memset(lanes, 0, P.Kg * P.Cg * P.wc * P.VL * sizeof(floating))
    for n in range(chunk * N // nchunks, (chunk + 1) * N // nchunks):
        xs = x + (n * P.G + g) * P.Cg * P.xs_c
        if P.fgrid:
            for c in range(P.Cg):
                flat_fill(P, xs + c * P.xs_c, grid + c * P.fgrid)
            xs = grid
        for m in range(P.Kg):
            for c in range(P.Cg):
                t0 = 0
                while t0 < P.wc:
                    nt = P.wc - t0 if P.wc - t0 < WGF_TAPS else WGF_TAPS
                    wgf_tile(nt, gy + ((n * P.G + g) * P.Ky + P.k0 + m) * P.ys_c,
                             xs + c * xc, P.fnvec, nlast, P.wc, P.foff + t0,
                             P.fmask + t0, lanes + ((m * P.Cg + c) * P.wc + t0) * P.VL)
                    t0 += nt
    lanes_to_part(lanes, P.Kg * P.Cg * P.wc, P.VL,
                  part + ((chunk - chunk0) * P.G + g) * P.Kg * P.Cg * P.wc)


def _run_width_grad(const floating[::1] x, const floating[::1] gy, floating[::1] slots,
                    floating[::1] total, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
                    Py_ssize_t Kg, Py_ssize_t nchunks, tuple axes, tuple plan, int nthreads,
                    Py_ssize_t Ky=0, Py_ssize_t k0=0):
    """total = the weight gradient, [G][Kg][Cg][KH][KW] (weight_slots), of
    gy's channels [k0, k0 + Kg) of Ky per group (Ky = Kg by default)."""
    cdef WPlan P = width_plan(G, Cg, Kg, axes, plan, vector_lanes(<floating> 0),
                              x.shape[0])
    cdef Py_ssize_t i, c0, nw, nslots, n = total.shape[0]
    cdef floating[:, ::1] patch, lanes
    if Ky:
        P.Ky, P.k0 = Ky, k0
    if x.shape[0] == 0 or gy.shape[0] == 0 or n == 0:
        return
    nslots = slots.shape[0] // n
    nthreads = max(1, min(nthreads, nslots * G))
    dt = float_dtype(<floating> 0)
    cdef Py_ssize_t gb = 1, nblk = G
    cdef const unsigned short[::1] ftab
    cdef const unsigned short[::1] fmask
    cdef const Py_ssize_t[::1] foff
    cdef bint copies = False
    cdef int flat = flat_planes_apply(&P)
    if flat_grad_rows(&P):
        ftab = flat_grad_table(P.aw.n_in, P.aw.taps, P.VL)
        P.ftab = &ftab[0]
        # groups per item: their lane sums within FLAT_GRAD_LANE_BYTES, and
        # at least 4 items per thread
        gb = max(1, min(FLAT_GRAD_LANE_BYTES // (Kg * Cg * P.wc * P.VL * dt.itemsize),
                        (G * nchunks + 4 * nthreads - 1) // (4 * nthreads)))
        nblk = (G + gb - 1) // gb
    elif flat:
        # the planes read in place or (strided) as their stride phases in
        # each thread's patch
        fmask, foff, grid = flat_plane_table(axes[1], axes[2], P.VL)
        P.fmask, P.foff, P.fnvec = &fmask[0], &foff[0], fmask.shape[0] // P.wc
        P.fgrid = grid if flat == 2 else 0
        copies = True
    lanes = scratch("lanes", nthreads, gb * Kg * Cg * P.wc * P.VL, dt)
    patch = scratch("patch", nthreads,
                    max(1, Cg * P.fgrid) if copies else width_patch_size(&P), dt)
    tap_offsets(&P)
    try:
        with nogil:
            c0 = 0
            while c0 < nchunks:
                nw = start_wave(&slots[0], n, nslots, c0, nchunks, nthreads)
                if copies and nthreads > 1:
                    for i in prange(nw * G, num_threads=nthreads, schedule="dynamic"):
                        flat_copy_grad_item(c0 * G + i, &P, N, nchunks, c0, &x[0], &gy[0],
                                            &slots[0], &lanes[omp_get_thread_num(), 0],
                                            &patch[omp_get_thread_num(), 0])
                elif copies:
                    for i in range(nw * G):
                        flat_copy_grad_item(c0 * G + i, &P, N, nchunks, c0, &x[0], &gy[0],
                                            &slots[0], &lanes[0, 0], &patch[0, 0])
                elif P.ftab != NULL and nthreads > 1:
                    for i in prange(nw * nblk, num_threads=nthreads, schedule="dynamic"):
                        flat_grad_item(c0 * nblk + i, &P, N, nchunks, c0, gb, &x[0], &gy[0],
                                       &slots[0], &lanes[omp_get_thread_num(), 0])
                elif P.ftab != NULL:
                    for i in range(nw * nblk):
                        flat_grad_item(c0 * nblk + i, &P, N, nchunks, c0, gb, &x[0], &gy[0],
                                       &slots[0], &lanes[0, 0])
                elif nthreads > 1:
                    for i in prange(nw * G, num_threads=nthreads, schedule="dynamic"):
                        width_grad_item(c0 * G + i, &P, N, nchunks, c0, &x[0], &gy[0], &slots[0],
                                        &patch[omp_get_thread_num(), 0],
                                        &lanes[omp_get_thread_num(), 0])
                else:
                    for i in range(nw * G):
                        width_grad_item(c0 * G + i, &P, N, nchunks, c0, &x[0], &gy[0], &slots[0],
                                        &patch[0, 0], &lanes[0, 0])
                end_wave(&total[0], &slots[0], n, nw, c0, nthreads)
                c0 += nw
    finally:
        free(<void*> P.toff)


cdef struct LanePlan:
    Py_ssize_t N, C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, Hp, Wp, VL
    Py_ssize_t h0, h1, w0, w1           # the input rows and columns inside the padded plane


cdef inline void transpose_planes(const floating* src, Py_ssize_t P, Py_ssize_t nc,
                                  floating* dst, Py_ssize_t VL) noexcept nogil:
    """dst[p * VL + c] = src[c * P + p]: nc planes of P positions as P
    vectors (lanes nc and up zero)."""
    cdef Py_ssize_t p = 0
    if nc == VL:
        while p + VL <= P:
            transpose_full(src + p, P, dst + p * VL, VL)
            p += VL
    while p < P:
        transpose(src + p, P, nc, P - p if P - p < VL else VL, dst + p * VL, VL, VL)
        p += VL


cdef inline void lane_plane(const LanePlan* L, const floating* src, Py_ssize_t nc,
                            floating* tmp, floating* xt) noexcept nogil:
    """The nc input planes at src (H x W each) as position-major vectors in
    the zero-padded plane xt (Hp x Wp vectors; its padding already zero),
    through tmp (H * W vectors)."""
    cdef Py_ssize_t h, VL = L.VL
    transpose_planes(src, L.H * L.W, nc, tmp, VL)
    for h in range(L.h0, L.h1):
        memcpy(xt + ((h + L.ph) * L.Wp + L.w0 + L.pw) * VL, tmp + (h * L.W + L.w0) * VL,
               (L.w1 - L.w0) * VL * sizeof(floating))


cdef void lane_forward_item(Py_ssize_t item, const LanePlan* L, const floating* x,
                            const floating* wpk, floating* y, floating* buf) noexcept nogil:
    """The forward of depthwise channels [cb * VL, + VL) of image n (item
    n * blocks + cb), one channel per lane: the input planes transposed into
    a zero-padded position-major plane (lane_plane; buf's padding zero on
    entry and left so), each output position's taps with the weights in
    registers (dwf_tile; wpk as _run_lane_forward packs them), the outputs
    transposed back into their planes."""
    cdef Py_ssize_t VL = L.VL, nb = (L.C + L.VL - 1) // L.VL
    cdef Py_ssize_t n = item // nb, cb = item % nb, c0 = cb * VL, nc, p, m
    cdef Py_ssize_t P = L.H * L.W, Q = L.Ho * L.Wo, ntap = L.kh * L.kw
    cdef floating* xt = buf
    cdef floating* tmp = xt + L.Hp * L.Wp * VL
    cdef floating* yt = tmp + P * VL
    cdef const floating* wt = wpk + cb * (ntap + 1) * VL
    cdef floating* dst = y + (n * L.C + c0) * Q
    nc = L.C - c0 if L.C - c0 < VL else VL
    lane_plane(L, x + (n * L.C + c0) * P, nc, tmp, xt)
    dwf_tile(L.kh, L.kw, xt, L.Wp * VL, L.sw * VL, L.sh * L.Wp * VL, wt, wt + ntap * VL, yt,
             L.Ho, L.Wo)
    p = 0
    while p < Q:
        m = Q - p if Q - p < VL else VL
        if m == VL and nc == VL:
            transpose_full(yt + p * VL, VL, dst + p, Q)
        else:
            transpose(yt + p * VL, VL, m, nc, dst + p, Q, m)
        p += VL


cdef void lane_grad_block(Py_ssize_t cb, const LanePlan* L, const floating* x,
                          const floating* gy, floating* dw, floating* buf) noexcept nogil:
    """The weight gradient of depthwise channels [cb * VL, + VL) (fewer in
    the last block), one per lane: per image, each input plane transposed
    into a zero-padded position-major plane and each output-gradient plane
    into a position-major one (the channels along the lanes: no lane sums
    to reduce, no masks at the rows' ends), then every output position's
    taps (dwl_tile, the taps' sums in registers over the plane).  Each
    channel's sum runs over the images, then the positions, in order."""
    cdef Py_ssize_t VL = L.VL, c0 = cb * VL, nc, P = L.H * L.W, Q = L.Ho * L.Wo
    cdef Py_ssize_t n, l, t, ntap = L.kh * L.kw
    cdef floating* xt = buf
    cdef floating* tmp = xt + L.Hp * L.Wp * VL
    cdef floating* gt = tmp + P * VL
    cdef floating* acc = gt + Q * VL
    cdef const floating* src
    nc = L.C - c0 if L.C - c0 < VL else VL
    memset(xt, 0, L.Hp * L.Wp * VL * sizeof(floating))
    memset(acc, 0, ntap * VL * sizeof(floating))
    for n in range(L.N):
        lane_plane(L, x + (n * L.C + c0) * P, nc, tmp, xt)
        src = gy + (n * L.C + c0) * Q
        transpose_planes(src, Q, nc, gt, VL)
        dwl_tile(L.kh, L.kw, xt, L.Wp * VL, L.sw * VL, L.sh * L.Wp * VL, gt, L.Ho, L.Wo, acc)
    for l in range(nc):
        for t in range(ntap):
            dw[(c0 + l) * ntap + t] = acc[t * VL + l]


def lane_fits(tuple axes, Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, Py_ssize_t VL,
              bint forward):
    """True when a 2-D depthwise layer (one input and one output channel per
    group, at least a vector's worth of groups), dilation 1, with a tile for
    its taps, runs with the channels in the lanes: the forward (and the
    stride-1 input gradient) on lane_forward_item, the weight gradient on
    lane_grad_block, each up to its own plane size (LANE_FORWARD_* and
    LANE_GRAD_*: positions of the input plane, at stride 1 and strided)."""
    ad, ah, aw = axes
    cdef Py_ssize_t limit
    if ah[2] == aw[2] == 1:
        limit = LANE_FORWARD_MAX_POSITIONS if forward else LANE_GRAD_MAX_POSITIONS
    else:
        limit = LANE_FORWARD_MAX_STRIDED if forward else LANE_GRAD_MAX_STRIDED
    return (Cg == 1 and Kg == 1 and G >= VL and ad[:2] == (1, 1) and ad[4] == 0
            and ah[3] == 1 and aw[3] == 1 and dwl_supported(ah[1], aw[1])
            and ah[0] * aw[0] <= limit)


cdef LanePlan lane_plan(Py_ssize_t N, Py_ssize_t C, tuple ah, tuple aw,
                        Py_ssize_t VL) except *:
    """The LanePlan of a depthwise layer from its forward axes along h and w
    (see forward_axes)."""
    cdef LanePlan L
    L.VL, L.N, L.C = VL, N, C
    L.H, L.kh, L.sh, L.Ho = ah[0], ah[1], ah[2], ah[5]
    L.W, L.kw, L.sw, L.Wo = aw[0], aw[1], aw[2], aw[5]
    L.ph, L.pw = -ah[4], -aw[4]
    L.Hp, L.Wp = (L.Ho - 1) * L.sh + L.kh, (L.Wo - 1) * L.sw + L.kw
    L.h0, L.h1 = max(0, -L.ph), min(L.H, L.Hp - L.ph)
    L.w0, L.w1 = max(0, -L.pw), min(L.W, L.Wp - L.pw)
    L.w1 = max(L.w1, L.w0)
    return L


def _run_lane_forward(const floating[::1] x, const floating[::1] w, b, floating[::1] y,
                      Py_ssize_t N, Py_ssize_t C, tuple ah, tuple aw, int nthreads):
    """y (N, C, Ho, Wo) = the forward of a 2-D depthwise layer (one channel
    per group, dilation 1; bias b or None): lane_forward_item per (image,
    block of VL channels), spread over the threads."""
    cdef LanePlan L = lane_plan(N, C, ah, aw, vector_lanes(<floating> 0))
    cdef Py_ssize_t i, t, nb = (C + L.VL - 1) // L.VL, nitems = N * nb
    cdef Py_ssize_t ntap = L.kh * L.kw, VL = L.VL
    cdef const floating[::1] bv
    cdef const floating* bp = NULL
    if b is not None:
        bv = b
        bp = &bv[0]
    nthreads = max(1, min(nthreads, nitems))
    # items of a small plane take about a microsecond: taken a few at a time
    # (at least 8 chunks per thread), each thread's share is not one
    # shared counter's increment per item
    cdef int chunk = max(1, min(LANE_FORWARD_CHUNK, nitems // (8 * nthreads)))
    dt = float_dtype(<floating> 0)
    # per block of channels its taps' weight vectors, then its bias vector
    # (lanes past the last channel zero)
    cdef floating[:, ::1] wpk = scratch("lanewts", 1, nb * (ntap + 1) * VL, dt)
    wpk[...] = 0
    for i in range(C):
        for t in range(ntap):
            wpk[0, (i // VL * (ntap + 1) + t) * VL + i % VL] = w[i * ntap + t]
        if bp != NULL:
            wpk[0, (i // VL * (ntap + 1) + ntap) * VL + i % VL] = bp[i]
    # each thread's padded plane: its padding stays zero (every item writes
    # the same interior)
    cdef floating[:, ::1] sv = scratch(
        "laneplane", nthreads, lane_buffer(L.H, L.W, L.Ho, L.Wo, L.Hp, L.Wp, 0, VL), dt)
    sv[...] = 0
    with nogil:
        if nthreads > 1:
            for i in prange(nitems, num_threads=nthreads, schedule="dynamic",
                            chunksize=chunk):
                lane_forward_item(i, &L, &x[0], &wpk[0, 0], &y[0],
                                  &sv[omp_get_thread_num(), 0])
        else:
            for i in range(nitems):
                lane_forward_item(i, &L, &x[0], &wpk[0, 0], &y[0], &sv[0, 0])


def _run_lane_grad(const floating[::1] x, const floating[::1] gy, floating[::1] dw,
                   Py_ssize_t N, Py_ssize_t C, tuple ah, tuple aw, int nthreads):
    """dw (C, 1, kh, kw) = the weight gradient of a 2-D depthwise layer
    (one channel per group; dilation 1), x (N, C, H, W) and gy (N, C, Ho,
    Wo): lane_grad_block per block of VL channels, the blocks spread over
    the threads (each channel's sum in one block: the same bits for every
    thread count).  ah, aw: the forward axes (see forward_axes)."""
    cdef LanePlan L = lane_plan(N, C, ah, aw, vector_lanes(<floating> 0))
    cdef Py_ssize_t cb, nb = (C + L.VL - 1) // L.VL
    nthreads = max(1, min(nthreads, nb))
    buf = scratch("lanegrad", nthreads, lane_buffer(L.H, L.W, L.Ho, L.Wo, L.Hp, L.Wp,
                                                     L.kh * L.kw, L.VL),
                  float_dtype(<floating> 0))
    cdef floating[:, ::1] bv = buf
    with nogil:
        if nthreads > 1:
            for cb in prange(nb, num_threads=nthreads, schedule="dynamic"):
                lane_grad_block(cb, &L, &x[0], &gy[0], &dw[0], &bv[omp_get_thread_num(), 0])
        else:
            for cb in range(nb):
                lane_grad_block(cb, &L, &x[0], &gy[0], &dw[0], &bv[0, 0])


cdef inline Py_ssize_t lane_buffer(Py_ssize_t H, Py_ssize_t W, Py_ssize_t Ho,
                                        Py_ssize_t Wo, Py_ssize_t Hp, Py_ssize_t Wp,
                                        Py_ssize_t ntap, Py_ssize_t VL) noexcept nogil:
    """Elements of a lane_grad_block or lane_forward_item buffer: the padded
    input plane, the transposed input plane, the output (gradient) plane and
    the taps' sums (ntap vectors; none in the forward)."""
    return (Hp * Wp + H * W + Ho * Wo + ntap) * VL


cdef Py_ssize_t* tap_offsets(WPlan* P) except NULL:
    """P.toff[l]: the patch column of tap l along w in a window (stride s:
    phase (l * dil) % s, (l * dil) // s along it; see fill_patch), in a
    buffer the caller frees."""
    cdef Py_ssize_t l
    cdef Py_ssize_t* toff = <Py_ssize_t*> malloc((P.aw.taps + 1) * sizeof(Py_ssize_t))
    if toff == NULL:
        raise MemoryError()
    for l in range(P.aw.taps):
        toff[l] = (l * P.aw.dil) % P.aw.stride * P.Wq + (l * P.aw.dil) // P.aw.stride
    P.toff = toff
    return toff


cdef WPlan make_wplan(Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, const Axis* ad,
                      const Axis* ah, const Axis* aw, Py_ssize_t R, Py_ssize_t S,
                      Py_ssize_t Wp, Py_ssize_t VL, Py_ssize_t xlen) noexcept nogil:
    cdef WPlan P
    P.ah = ah[0]
    P.aw = aw[0]
    P.N, P.G, P.Cg, P.Kg = 1, G, Cg, Kg
    P.Ky, P.k0 = Kg, 0
    P.VL = VL
    P.R, P.S, P.Wp = R, S, Wp
    P.nrb = (P.ah.n_q + P.R - 1) // P.R
    P.nsb = (P.aw.n_q + P.S - 1) // P.S
    P.xs_c = P.ah.n_in * P.aw.n_in
    P.xlen = xlen
    P.ys_h = P.aw.n_out
    P.ys_c = ad.n_out * P.ah.n_out * P.aw.n_out
    P.y0 = ad.out_base * P.ah.n_out * P.aw.n_out     # output depth index ad.out_base
    P.wkh = P.aw.taps
    P.wc = P.ah.taps * P.aw.taps
    P.wm = Cg * P.wc
    P.Wq = P.Wp // P.aw.stride
    P.toff = NULL
    P.stream = False
    P.ftab = NULL
    P.fmask = NULL
    P.foff = NULL
    P.fnvec = 0
    P.fgrid = 0
    return P


cdef WPlan width_plan(Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, tuple axes, tuple plan,
                      Py_ssize_t VL, Py_ssize_t xlen) except *:
    cdef Axis ad = make_axis(axes[0]), ah = make_axis(axes[1]), aw = make_axis(axes[2])
    R, S, Wp = plan
    return make_wplan(G, Cg, Kg, &ad, &ah, &aw, R, S, Wp, VL, xlen)


cdef inline void width_items(WPlan* P, const floating* x, const floating* w,
                             const floating* b, floating* y, floating* patch,
                             Py_ssize_t patch_size, int nthreads) noexcept nogil:
    """Every item of the width path (P.toff set), on nthreads threads, each
    with its own patch (patch_size elements apart)."""
    cdef Py_ssize_t item, nitems = P.N * P.G * P.nrb * P.nsb
    if P.fmask != NULL:
        # whole planes, two per item (flat_item); stores through the cache
        nitems = (P.N * P.G + 1) // 2
        if nthreads > 1:
            for item in prange(nitems, num_threads=nthreads, schedule="guided"):
                flat_item(item, P, x, w, b, y, patch + omp_get_thread_num() * patch_size)
        else:
            for item in range(nitems):
                flat_item(item, P, x, w, b, y, patch)
        return
    # outputs larger than a core's caches bypass them (no read for ownership):
    # 2048^2 5x5 image 1.19x (kernel alone, aligned output); 1e6-sample
    # signal 1.21x (float32), 1.03-1.07x (float64), same process.  Several
    # channels where each output is a short sum (store-bound): c1d_1to32_k31
    # forward (32.8 MB) 1.08x at 1 thread, 1.28x at 2; with a long one (the
    # stem's input gradient, 64 x 12 products per output) 0.98-0.99x
    P.stream = ((P.Kg == 1 or P.Cg * P.wc <= WIDTH_MAX_REDUCTION)
                and P.N * P.G * P.Kg * P.ys_c * sizeof(floating) >= STREAM_MIN_BYTES)
    # streamed stores are fenced once per thread, after its last item (a
    # fence per item cost a 1e6-sample signal 6-7%), and before fix-ups
    if nthreads > 1:
        with parallel(num_threads=nthreads):
            for item in prange(nitems, schedule="guided"):
                width_item(item, P, x, w, b, y, patch + omp_get_thread_num() * patch_size)
            if P.stream:
                cy_sfence()
    else:
        for item in range(nitems):
            width_item(item, P, x, w, b, y, patch)
        if P.stream:
            cy_sfence()


cdef inline Py_ssize_t width_patch_size(const WPlan* P) noexcept nogil:
    """Elements of one thread's input patch."""
    return P.Cg * ((P.R - 1) * P.ah.stride + (P.ah.taps - 1) * P.ah.dil + 1) * P.Wp


def _run_width(const floating[::1] x, const floating[::1] w, const floating[::1] b,
               floating[::1] y, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
               Py_ssize_t Kg, tuple axes, tuple plan, int nthreads,
               Py_ssize_t Ky, Py_ssize_t k0):
    """Output channels [k0, k0 + Kg) of the Ky per group of ``y``."""
    cdef WPlan P = width_plan(G, Cg, Kg, axes, plan, vector_lanes(<floating> 0),
                              x.shape[0])
    cdef const floating* bp = NULL
    cdef floating[:, ::1] patch
    P.Ky, P.k0, P.N = Ky, k0, N
    if y.shape[0] == 0 or N * G * P.nrb * P.nsb == 0:
        return
    if b is not None and b.shape[0] > 0:
        bp = &b[0]
    nthreads = max(1, min(nthreads, N * G * P.nrb * P.nsb))
    cdef const unsigned short[::1] fmask
    cdef const Py_ssize_t[::1] foff
    cdef int flat = flat_planes_apply(&P)
    if flat:
        fmask, foff, grid = flat_plane_table(axes[1], axes[2], P.VL)
        P.fmask, P.foff, P.fnvec = &fmask[0], &foff[0], fmask.shape[0] // P.wc
        P.fgrid = grid if flat == 2 else 0
        nthreads = max(1, min(nthreads, (N * G + 1) // 2))
        # a pair of planes' phase copies in each thread's patch
        patch = scratch("patch", nthreads, max(1, 2 * Cg * P.fgrid), float_dtype(<floating> 0))
    else:
        patch = scratch("patch", nthreads, width_patch_size(&P), float_dtype(<floating> 0))
    tap_offsets(&P)
    try:
        with nogil:
            width_items(&P, &x[0], &w[0], bp, &y[0], &patch[0, 0], patch.shape[1], nthreads)
    finally:
        free(<void*> P.toff)


cdef cnp.ndarray c_array(a, int typenum, dtype):
    """a as a C-contiguous array of typenum (a itself when it is one)."""
    if (isinstance(a, cnp.ndarray) and cnp.PyArray_TYPE(<cnp.ndarray> a) == typenum
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray> a)):    # aligned, native order
        return <cnp.ndarray> a
    return np.ascontiguousarray(a, dtype=dtype)


cdef void signal_width(WPlan* P, const floating* x, const floating* w, floating* wf,
                       floating* y, floating* patch, Py_ssize_t patch_size,
                       int nthreads) noexcept nogil:
    """The one-channel width path of correlate_signal.  With ``wf`` (a
    convolution), w reversed into it first (along every axis: its elements
    in reverse order) and read from there."""
    cdef Py_ssize_t i, m = P.wc
    if wf != NULL:
        for i in range(m):
            wf[i] = w[m - 1 - i]
        w = wf
    width_items(P, x, w, NULL, y, patch, patch_size, nthreads)


def correlate_signal(a, v, tuple crops, bint flip, int nthreads, dtype):
    """The output of ``signal.correlate`` (``signal.convolve`` with
    ``flip``) of the arrays a and v (same number of dims, 1 to 3; computed
    in ``dtype``, float32 or float64), whose axis i is the part [start,
    start + length) = crops[i] of the 'full' result.

    Planned here on C structs, the one call into the kernels: a signal's
    call costs mostly its planning at small sizes, and planning that runs
    after the kernels have swept the caches runs from memory (the Python
    planner's objects, code and tuples: ~100 us per call then, at any
    size).  Where the width path does not apply (3-D), the layer path
    (conv_forward)."""
    cdef int typenum = dtype.num
    cdef Py_ssize_t itemsize = dtype.itemsize
    cdef cnp.ndarray x = c_array(a, typenum, dtype)
    cdef cnp.ndarray w = c_array(v, typenum, dtype)
    cdef int nd = cnp.PyArray_NDIM(x), i, j
    cdef Axis ax[3]
    cdef Py_ssize_t n, m, start, length, ny = 1, R, S, Wp, psize
    cdef WPlan P
    cdef cnp.ndarray y, patch
    cdef void* wf = NULL
    cdef bint finite
    for i in range(3):
        ax[i].n_in = ax[i].taps = ax[i].stride = ax[i].dil = 1
        ax[i].off = ax[i].out_base = 0
        ax[i].n_q = ax[i].n_out = ax[i].out_step = 1
        j = i - (3 - nd)
        if j >= 0:
            n = cnp.PyArray_DIMS(x)[j]
            m = cnp.PyArray_DIMS(w)[j]
            start, length = crops[j]
            # correlate's full output index f reads x[f - (m - 1) + t]
            ax[i].n_in, ax[i].taps, ax[i].off = n, m, start - (m - 1)
            ax[i].n_q = ax[i].n_out = length
            ny *= length
    y = aligned_buffer(ny, typenum, itemsize).reshape(tuple([l for _, l in crops]))
    if ny == 0:
        return y
    finite = array_finite(w)
    # the width path multiplies the zeros of its padded copies: a sum of
    # shifted copies has no such product (an inf in v would make NaN there)
    if not finite or not width_fit(1, 1, &ax[0], &ax[1], &ax[2], itemsize, True, True,
                                   WIDTH_SEG, &R, &S, &Wp):
        if flip:
            w = np.ascontiguousarray(w[(slice(None, None, -1),) * nd])
        # one image, one channel: padding (m - 1 - start) before each axis
        # and whatever makes the output length after it
        pads = tuple([(-ax[i].off, ax[i].n_q - ax[i].n_in + ax[i].off + ax[i].taps - 1)
                      for i in range(3 - nd, 3)])
        conv_forward(x[None, None], w[None, None], None, y[None, None], 1, (1,) * nd,
                     pads, (1,) * nd, nthreads, False)
        return y
    P = make_wplan(1, 1, 1, &ax[0], &ax[1], &ax[2], R, S, Wp, CY_VBYTES // itemsize,
                   cnp.PyArray_SIZE(x))
    nthreads = max(1, min(nthreads, P.nrb * P.nsb))
    psize = width_patch_size(&P)
    patch = scratch("patch", nthreads, psize, dtype)
    if flip:
        wf = malloc(P.wc * itemsize)
        if wf == NULL:
            raise MemoryError()
    try:
        tap_offsets(&P)
        with nogil:
            if typenum == cnp.NPY_FLOAT:
                signal_width(&P, <const float*> cnp.PyArray_DATA(x),
                             <const float*> cnp.PyArray_DATA(w), <float*> wf,
                             <float*> cnp.PyArray_DATA(y), <float*> cnp.PyArray_DATA(patch),
                             psize, nthreads)
            else:
                signal_width(&P, <const double*> cnp.PyArray_DATA(x),
                             <const double*> cnp.PyArray_DATA(w), <double*> wf,
                             <double*> cnp.PyArray_DATA(y), <double*> cnp.PyArray_DATA(patch),
                             psize, nthreads)
    finally:
        free(wf)
        free(<void*> P.toff)
    return y


def _convolve_packed(x, w, b, y, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
                     Py_ssize_t Kg, ad, ah, list w_phases, int nthreads, bint swap,
                     taps_d=None, taps_h=None, bint skip_padding=False):
    """Pick the path for this geometry, pack the weights for it and run it.
    ``w`` is the 5-D weight tensor (see ``pack_weights`` for ``swap``);
    ``w_phases`` lists (taps_w, aw): one entry for a convolution, one per
    stride phase along w for a transposed one (all written by one pass).

    Channel tiles cover whole blocks of KB output channels; when a few
    channels are left over (e.g. 33 = 2 x 16 + 1) and the width path can take
    them, it computes those instead of a block that would be mostly padding.

    The width tiles multiply the zeros of a padded copy (or of masked
    lanes), the channel tiles skip them: with ``skip_padding`` (a sum of
    shifted copies, no product with a padding value exists) and a weight of
    the width path's channels that is not finite, every channel runs on
    channel tiles."""
    VL = lanes(x.dtype)
    kv = pointwise_kv((ad, ah, w_phases[0][1]), Kg, x.dtype) if len(w_phases) == 1 else 0
    if kv:
        L = ad[0] * ah[0] * w_phases[0][1][0]
        binit = None
        if b is not None:
            binit = np.repeat(np.asarray(b, dtype=x.dtype).reshape(-1, 1), kv * VL, axis=1).reshape(-1)
        # [G][Kg][Cg]: w's own layout, or its first two axes swapped
        wm = w.reshape(G, Cg, Kg).transpose(0, 2, 1) if swap else w
        _run_pointwise(x.reshape(-1), np.ascontiguousarray(wm, dtype=x.dtype).reshape(-1),
                       binit, y.reshape(-1), N, G, Cg, Kg, L, kv, nthreads)
        return
    kv = choose_kv(Kg, x.dtype)
    KB = kv * VL
    # The width path alone for few channels, or for a short reduction (each
    # channel tile would be mostly its transposing store: 1 -> 32 channels,
    # 31 taps); else a remainder of at most a quarter vector on it
    cdef Py_ssize_t max_wtaps = 0
    for _, aw in w_phases:             # (loops, not generators: this runs per call)
        max_wtaps = max(max_wtaps, aw[1])
    short = Cg * ad[1] * ah[1] * max_wtaps <= WIDTH_MAX_REDUCTION
    rem = Kg if (Kg * 2 <= VL or short) else left_over_channels(Kg, KB, VL)
    plans = None
    if rem:
        plans = []
        for _, aw in w_phases:
            plan = width_path_plan(Cg, rem, (ad, ah, aw), x.dtype, True, True)
            if plan is None:
                plans = None
                break
            plans.append(plan)
    if plans is None:
        rem = 0
    if rem:
        wr, br = _channel_slice(w, b, G, Kg, Kg - rem, Kg, swap)
        if skip_padding and not np.isfinite(wr).all():   # (few channels' weights)
            rem = 0
    # (kv stays the one chosen for Kg: rechosen for Kt, as the weight
    # gradient does, 33 -> 32 channels ran one block of 32 instead of two of
    # 16 and measured 1.00x at 1 and 2 threads, float64 1.02x)
    Kt = Kg - rem                      # channels on the channel tiles
    if Kt:
        wt, bt = _channel_slice(w, b, G, Kg, 0, Kt, swap)
        bpk = pack_bias(bt, G, kv) if bt is not None else None
    if Kt and len(w_phases) == 1 and block_packing(N, G, Cg, Kt, kv, ad, ah, w_phases[0][1],
                                                   swap, nthreads, x.dtype):
        wt = np.ascontiguousarray(wt, dtype=x.dtype)
        tidx = flat_taps((taps_d, taps_h, w_phases[0][0]), *wt.shape[2:])
        _run_tiled(x.reshape(-1), wt.reshape(-1), bpk, y.reshape(-1), N, G, Cg, Kt, kv,
                   (ad, ah, w_phases[0][1]), (0,), nthreads, Kg,
                   (wt.shape[0], wt.shape[1], math.prod(wt.shape[2:]), swap), tidx.reshape(-1))
    elif Kt:
        packs = [pack_weights(wt, G, kv, swap, (taps_d, taps_h, taps_w), nthreads).reshape(-1)
                 for taps_w, _ in w_phases]
        sizes = [p.size for p in packs]
        woffs = tuple(sum(sizes[:i]) for i in range(len(packs)))
        wpk = packs[0] if len(packs) == 1 else np.concatenate(packs)
        _run_tiled(x.reshape(-1), wpk, bpk, y.reshape(-1), N, G, Cg, Kt, kv,
                   (ad, ah) + tuple(aw for _, aw in w_phases), woffs, nthreads, Kg)
    if rem:
        for (taps_w, aw), plan in zip(w_phases, plans):
            wpk = pack_weights(wr, G, 0, swap, (taps_d, taps_h, taps_w), nthreads)
            _run_width(x.reshape(-1), wpk.reshape(-1), br, y.reshape(-1), N, G, Cg, rem,
                       (ad, ah, aw), plan, nthreads, Kg, Kt)


cdef enum:
    BLOCK_PACK_MAX_POSITIONS = 4096    # output positions (all images) at most this
    BLOCK_PACK_MIN_BLOCKS = 4          # output-channel blocks per thread
    BLOCK_PACK_SWAP_MAX_BYTES = 1 << 20  # swapped weights: at most this, packed


def block_packing(Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, int kv, ad, ah,
                  aw, bint swap, int nthreads, dtype):
    """True where the channel tiles' weights are packed block by block by
    the threads that run them (_tiled_blocks) rather than all at once before
    the call: weights that each serve few output positions (late layers of
    an image network, small batches).  Packing them all first is a pass of
    its own, a large share of such a call, and beyond L2 it wrote a tensor
    the tiles read back from L3 or memory; with the blocks slowest each
    thread also writes whole output planes (small planes' rows share cache
    lines).  One group and enough blocks for every thread.  Swapped
    channels (the input gradient) only on several threads and for at most
    BLOCK_PACK_SWAP_MAX_BYTES of packed weights: a block gathers a run from
    every output channel's row (3x3 512 -> 512 at 7 x 7, batch 1, 0.96x at
    1 thread; 1x1 512 -> 2048 0.93x at 2), while the whole-tensor pack's
    own parallel pass weighed on small layers at 2 threads (1x1 at 7 x 7
    and 14 x 14, batch 1: 1.26-1.37x without it)."""
    cdef Py_ssize_t KB = kv * lanes(dtype), nkb = (Kg + KB - 1) // KB
    cdef Py_ssize_t nbytes = nkb * KB * Cg * ad[1] * ah[1] * aw[1] * np.dtype(dtype).itemsize
    if swap and (nthreads == 1 or nbytes > BLOCK_PACK_SWAP_MAX_BYTES):
        return False
    if G != 1 or nkb < BLOCK_PACK_MIN_BLOCKS * nthreads:
        return False
    return N * ad[5] * ah[5] * aw[5] <= BLOCK_PACK_MAX_POSITIONS


def left_over_channels(Py_ssize_t Kg, Py_ssize_t KB, Py_ssize_t VL):
    """Output channels past the last whole block of KB that the width path
    computes instead of a block of KB (at most a quarter vector: 33 = 2 x 16
    + 1), or 0."""
    cdef Py_ssize_t rem = Kg % KB if Kg > KB else 0
    return rem if rem * 4 <= VL else 0


def _channel_slice(w, b, Py_ssize_t G, Py_ssize_t Kg, Py_ssize_t k0, Py_ssize_t k1,
                   bint swap):
    """Weights and bias of output channels [k0, k1) of each group (the output
    channels are w's axis 0 per group, or axis 1 with ``swap``)."""
    if k0 == 0 and k1 == Kg:
        return w, b
    if swap:
        w = w[:, k0:k1]
    else:
        w = w.reshape((G, Kg) + w.shape[1:])[:, k0:k1].reshape((G * (k1 - k0),) + w.shape[1:])
    if b is not None:
        b = np.ascontiguousarray(b.reshape(G, Kg)[:, k0:k1]).reshape(-1)
    return w, b


def choose_kv(Py_ssize_t channels, dtype):
    """Channel vectors per register tile: two (one broadcast feeds two FMAs)
    unless blocks of one vector pad fewer channels (e.g. 33 channels: 3 x 16
    computed instead of 2 x 32)."""
    cdef Py_ssize_t vl = lanes(dtype)
    cdef Py_ssize_t pad1 = (vl - channels % vl) % vl             # (C division: no
    cdef Py_ssize_t pad2 = (2 * vl - channels % (2 * vl)) % (2 * vl)  # negative operands)
    if channels < 2 * vl:
        return 1
    return 2 if pad2 <= pad1 else 1


cdef enum:
    PACK_PARALLEL_MIN = 65536    # weight tensors at least this long pack (and finish) on all threads


def pack_weights(w, Py_ssize_t G, int kv, bint swap, taps=(None, None, None),
                 int nthreads=1):
    """Repack weights into the order the forward micro-kernel streams them.

    ``w`` is (G*A, B, KD, KH, KW).  Without ``swap`` the tile's output
    channels are A (per group) and the reduction runs over B; with ``swap``
    (backward-input) the output channels are B and the reduction is over A.
    ``taps`` optionally selects (and orders) the taps of each axis.
    Result: [G][blocks][reduction][kd][kh][kw][KB], zero-padded channels;
    ``kv = 0`` gives KB = 1, i.e. [G][out][reduction][kd][kh][kw] (width path;
    without ``swap`` and tap selections that is w itself, returned as a view).
    One pass (pack_fill, on ``nthreads`` for large weights), no
    temporaries: it runs before every call, and the numpy chain it replaces
    (take, swap, pad, move axes) took 0.4 ms of a 128 -> 128 3x3
    backward-input, ~4% of it at 2 threads, serial.
    """
    w = np.ascontiguousarray(w)
    KD, KH, KW = w.shape[2:]
    A = w.shape[0] // G
    if kv == 0 and not swap and taps[0] is None and taps[1] is None and taps[2] is None:
        # one channel per block, every tap in order: w's own layout (the
        # width path reads scalars, no alignment needed); no copy
        return w.reshape((G, A, w.shape[1], KD, KH, KW, 1))
    tidx = flat_taps(taps, KD, KH, KW)
    M, R = (w.shape[1], A) if swap else (A, w.shape[1])
    KB = kv * lanes(w.dtype) if kv else 1
    nb = -(-M // KB)
    packed = aligned_empty((G, nb, R) + tidx.shape + (KB,), w.dtype)
    if packed.size:
        pack_fill(w.reshape(-1), packed.reshape(-1), G, A, w.shape[1], KD * KH * KW, KB,
                  swap, tidx.reshape(-1), nthreads)
    return packed


def flat_taps(taps, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW):
    """Flat offsets (d * KH + h) * KW + w of the taps ``taps`` selects along
    each axis (all of an axis where None), as an (nd, nh, nw) array in packed
    order (one typed loop: the numpy version took 5 of a 31-tap signal
    call's 28 us)."""
    cdef Py_ssize_t nd, nh, nw, i, j, k, n = 0, a, b
    td, th, tw = taps
    nd = KD if td is None else len(td)
    nh = KH if th is None else len(th)
    nw = KW if tw is None else len(tw)
    out = np.empty(nd * nh * nw, dtype=np.intp)
    cdef Py_ssize_t[::1] o = out
    for i in range(nd):
        a = i if td is None else td[i]
        for j in range(nh):
            b = (a * KH + (j if th is None else th[j])) * KW
            for k in range(nw):
                o[n] = b + (k if tw is None else tw[k])
                n += 1
    return out.reshape(nd, nh, nw)


cdef enum:
    PACK_COLUMNS = 128           # source columns per work item (at least)


cdef inline void pack_block(const floating* src, Py_ssize_t step, Py_ssize_t nm,
                            Py_ssize_t nr, Py_ssize_t s1, const Py_ssize_t* tidx,
                            Py_ssize_t T, Py_ssize_t KB, floating* out,
                            floating* tmp) noexcept nogil:
    """out[(rr * T + k) * KB + j] = src[j * step + rr * s1 + tidx[k]] for
    rr < nr, k < T, j < nm, and 0 for nm <= j < KB (tidx NULL: every tap in
    order, T = s1).  The source is KB rows (output channels) of nr * s1
    columns; each VL x VL block is transposed in registers, straight into
    out in order (tidx NULL), else into tmp (a vector per column) and then
    copied to its taps' places (a load from tmp reads what a whole-vector
    store just wrote: forwarded, no stall).  Non-temporal stores for large
    weights measured 0.92-1.10x (the tiles read them right after, from L3)."""
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef Py_ssize_t ncols = nr * s1, j0, c0, m, n, rr, k
    cdef floating* dst
    j0 = 0
    while j0 < KB:
        m = nm - j0 if nm - j0 < VL else VL
        if m < 0:
            m = 0
        c0 = 0
        while c0 < ncols:
            n = ncols - c0 if ncols - c0 < VL else VL
            if tidx == NULL:
                transpose(src + j0 * step + c0, step, m, n, out + c0 * KB + j0, KB, VL)
            else:
                transpose(src + j0 * step + c0, step, m, n, tmp + c0 * VL, VL, VL)
            c0 += n
        if tidx != NULL:
            for rr in range(nr):
                for k in range(T):
                    dst = out + (rr * T + k) * KB + j0
                    if floating is float:
                        cy_store_f32(dst, cy_load_f32(tmp + (rr * s1 + tidx[k]) * VL))
                    else:
                        cy_store_f64(dst, cy_load_f64(tmp + (rr * s1 + tidx[k]) * VL))
        j0 += VL


cdef struct PackPlan:
    Py_ssize_t G, A, M, R, nb, T, s0, s1, KB
    Py_ssize_t rc, nrc, step           # reduction channels per item; items'
                                       # runs of them; w's step between channels m
    const Py_ssize_t* tidx
    const Py_ssize_t* order            # tidx, or NULL: every tap in order
    bint swap
    Py_ssize_t blk0                    # the block (g * nb + blk) packed at out


cdef inline void pack_item(Py_ssize_t item, const PackPlan* P, const floating* w,
                           floating* out, floating* tmp) noexcept nogil:
    """One work item of pack_fill: the block of KB output channels and the run
    of reduction channels it names."""
    cdef Py_ssize_t g, blk, r, rr, k, nr, nm, KB = P.KB
    cdef const floating* src
    cdef floating* o
    g = item // (P.nrc * P.nb)
    if P.swap:
        # blocks fastest: consecutive items read consecutive runs of w (with
        # r fastest, runs 18 KiB apart for 512 -> 512 3x3 weights: the loads
        # waited on L3, 0.6x)
        blk = item % P.nb
        r = (item // P.nb) % P.nrc * P.rc
        src = w + (g * P.A + r) * P.s0 + blk * KB * P.s1
    else:
        r = item % P.nrc * P.rc
        blk = (item // P.nrc) % P.nb
        src = w + (g * P.A + blk * KB) * P.s0 + r * P.s1
    nr = P.R - r if P.R - r < P.rc else P.rc
    nm = P.M - blk * KB if P.M - blk * KB < KB else KB
    o = out + ((g * P.nb + blk - P.blk0) * P.R + r) * P.T * KB
    if KB == 1:
        for rr in range(nr):
            for k in range(P.T):
                o[rr * P.T + k] = src[rr * P.s1 + P.tidx[k]]
    elif P.step == 1:
        # swap with one tap (tidx all 0): the block's channels lie side by
        # side in w
        for k in range(P.T):
            memcpy(o + k * KB, src, nm * sizeof(floating))
            memset(o + k * KB + nm, 0, (KB - nm) * sizeof(floating))
    else:
        pack_block(src, P.step, nm, nr, P.s1, P.order, P.T, KB, o, tmp)


cdef PackPlan pack_plan(Py_ssize_t G, Py_ssize_t A, Py_ssize_t B, Py_ssize_t s1,
                        Py_ssize_t KB, bint swap, const Py_ssize_t* tidx,
                        Py_ssize_t T) noexcept nogil:
    """pack_fill's work items (see there)."""
    cdef PackPlan P
    cdef Py_ssize_t k
    P.G, P.A, P.s1, P.KB, P.swap, P.T = G, A, s1, KB, swap, T
    P.M, P.R = (B, A) if swap else (A, B)
    P.nb = (P.M + KB - 1) // KB
    P.s0 = B * s1
    P.tidx = P.order = tidx
    P.blk0 = 0
    if T == s1:
        for k in range(T):
            if tidx[k] != k:
                break
        else:
            P.order = NULL                      # every tap, in order
    # reduction channels per item: one with swap, else enough for
    # PACK_COLUMNS source columns
    P.rc = 1 if swap else max(1, min(P.R, (PACK_COLUMNS + s1 - 1) // s1))
    P.nrc = (P.R + P.rc - 1) // P.rc
    P.step = s1 if swap else P.s0
    return P


cdef inline Py_ssize_t pack_tmp_size(const PackPlan* P, Py_ssize_t VL) noexcept nogil:
    """Elements of pack_item's per-thread buffer (0: none needed)."""
    if P.order != NULL and P.KB > 1 and P.step > 1:
        return P.rc * P.s1 * VL
    return 0


cdef inline void pack_one_block(const PackPlan* P, Py_ssize_t blk, const floating* w,
                                floating* out, floating* tmp) noexcept nogil:
    """Output-channel block ``blk`` (group 0) alone, packed at ``out``."""
    cdef PackPlan Q = P[0]
    cdef Py_ssize_t rr
    Q.blk0 = blk
    for rr in range(Q.nrc):
        pack_item(rr * Q.nb + blk if Q.swap else blk * Q.nrc + rr, &Q, w, out, tmp)


def pack_fill(const floating[::1] w, floating[::1] out, Py_ssize_t G, Py_ssize_t A,
              Py_ssize_t B, Py_ssize_t s1, Py_ssize_t KB, bint swap,
              const Py_ssize_t[::1] tidx, int nthreads=1):
    """out[g][blk][r][k][j] = w's weight of output channel m = blk*KB + j and
    reduction channel r (group g) at flat tap offset tidx[k] (s1 taps per
    channel pair), 0 for m >= M (see pack_weights).  A work item is a block
    of KB output channels and a run of reduction channels whose taps lie
    side by side in w (without ``swap`` w[m] holds every r's taps in one
    row; with it each r is its own item), transposed by pack_block; KB = 1
    (the width path's layout) and one-tap channels with ``swap`` (whose
    block is one contiguous run of w) are copies."""
    cdef PackPlan P = pack_plan(G, A, B, s1, KB, swap, &tidx[0], tidx.shape[0])
    cdef Py_ssize_t item, nitems, nt
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef floating* tmp = NULL
    cdef floating[:, ::1] tv
    nitems = G * P.nb * P.nrc
    if out.shape[0] < PACK_PARALLEL_MIN:
        nthreads = 1
    nthreads = max(1, min(nthreads, nitems))
    nt = pack_tmp_size(&P, VL)
    if nt:
        tv = scratch("pack", nthreads, nt, float_dtype(<floating> 0))
        tmp = &tv[0, 0]
    with nogil:
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                for item in prange(nitems, schedule="static"):
                    pack_item(item, &P, &w[0], &out[0],
                              tmp + omp_get_thread_num() * nt if tmp != NULL else NULL)
        else:
            for item in range(nitems):
                pack_item(item, &P, &w[0], &out[0], tmp)


def pack_bias(b, Py_ssize_t G, int kv):
    """Bias as [G][blocks][KB], zero-padded."""
    M = b.shape[0] // G
    KB = kv * lanes(b.dtype)
    nb = -(-M // KB)
    packed = np.zeros((G, nb * KB), dtype=b.dtype)
    packed[:, :M] = b.reshape(G, M)
    return packed.reshape(-1)


def conv_forward(x, w, b, y, Py_ssize_t G, tuple stride, tuple pads, tuple dilation,
                 int nthreads, bint padding_zeros=True):
    """y = conv(x, w) + b: x (N, C, *spatial), w (K, C/G, *kernel), y (N, K,
    *out) preallocated, 1 to 3 spatial axes; stride, pads ((lo, hi)) and
    dilation per spatial axis.  ``padding_zeros``: the padding holds zeros
    that multiply the weights (the layer API: 0 * inf is NaN, _nonfinite);
    else the outputs are sums of shifted copies of x (the signal API: no
    product with a padding value)."""
    axes = forward_axes(x.shape[2:], w.shape[2:], stride, pads, dilation, y.shape[2:])
    x5, w5, y5 = view5(x), view5(w), view5(y)
    N, C = x5.shape[:2]
    K = w5.shape[0]
    Cg, Kg = C // G, K // G
    if Cg == 0 or x5.size == 0:      # every window empty or all padding: the bias
        y5[...] = 0 if b is None else b.reshape((1, -1, 1, 1, 1))
    elif padding_zeros and lane_fits(axes, G, Cg, Kg, lanes(x.dtype), True):
        _run_lane_forward(x5.reshape(-1), w5.reshape(-1), b, y5.reshape(-1), N, C,
                          axes[1], axes[2], nthreads)
    else:
        _convolve_packed(x5, w5, b, y5, N, G, Cg, Kg, axes[0], axes[1], [(None, axes[2])],
                         nthreads, False, skip_padding=not padding_zeros)
    cdef bint padded = False
    for lo, hi in pads:
        padded = padded or lo != 0 or hi != 0
    if padding_zeros and padded and not interior_finite(y5, axes):
        forward_nans(y, w, x.shape[2:], stride, pads, dilation)


cdef bint interior_finite(y, tuple axes) except -1:
    """The outputs of the first image at one position whose window lies
    wholly inside the input, every channel, are finite (False when there is
    no such position).  A weight that is not finite reaches every such
    output of its channel (it multiplies an input value there), so this
    clears the whole weight tensor for the padding's products (forward_nans)
    at the cost of K reads."""
    cdef Axis a
    cdef Py_ssize_t q0, q1, k, pos[3]
    cdef int i
    cdef const float[:, :, :, :, :] y32
    cdef const double[:, :, :, :, :] y64
    for i in range(3):
        a = make_axis(axes[i])
        interior(&a, &q0, &q1)
        if q0 >= q1:
            return False
        pos[i] = q0
    if y.shape[0] == 0:
        return True
    if y.dtype == np.float32:
        y32 = y
        for k in range(y32.shape[1]):
            if not all_finite(&y32[0, k, pos[0], pos[1], pos[2]], 1):
                return False
    else:
        y64 = y
        for k in range(y64.shape[1]):
            if not all_finite(&y64[0, k, pos[0], pos[1], pos[2]], 1):
                return False
    return True


def conv_backward_input(gy, w, b, dx, Py_ssize_t G, tuple stride, tuple pads,
                        tuple dilation, int nthreads):
    """dx = conv_transpose(gy, w) (+ b), without touching inserted zeros:
    gy (N, K, *out), w (K, C/G, *kernel), dx (N, C, *spatial) preallocated,
    1 to 3 spatial axes; stride, pads ((lo, hi)) and dilation of the
    forward convolution per spatial axis.

    For stride s the input positions split into s phases per axis; each phase
    is a dense stride-1 convolution of ``gy`` with the subset of taps that
    reach it (``backward_input_phases``), written with step s into ``dx``.
    """
    fax = forward_axes(dx.shape[2:], w.shape[2:], stride, pads, dilation, gy.shape[2:])
    # per axis (n_x, n_y, k, stride, pad_lo, dilation), from the forward axes
    geom = [(a[0], a[5], a[1], a[2], -a[4], a[3]) for a in fax]
    gy, w, dx = view5(gy), view5(w), view5(dx)
    N, K = gy.shape[:2]
    C = dx.shape[1]
    Cg, Kg = C // G, K // G
    if fax[1][2] == fax[2][2] == 1 and gy.size:
        # stride 1: a forward correlation of gy with the flipped taps (tap 0
        # at pad_lo - (k - 1) * dilation along each axis), input plane gy's,
        # output plane dx's
        tax = tuple((a[5], a[1], 1, a[3], -(a[4] + (a[1] - 1) * a[3]), a[0], a[0], 1, 0)
                    for a in fax)
        if lane_fits(tax, G, Cg, Kg, lanes(dx.dtype), True) and array_finite(w):
            # depthwise (no product with a padding value is formed when the
            # weights are finite: non-finite ones take the paths below)
            wf = np.ascontiguousarray(w[:, :, :, ::-1, ::-1])
            _run_lane_forward(gy.reshape(-1), wf.reshape(-1),
                              None if b is None else np.ascontiguousarray(b, dtype=dx.dtype),
                              dx.reshape(-1), N, C, tax[1], tax[2], nthreads)
            return
    if (fax[0][0] == 1 and fax[0][1] == 1 and fax[0][4] == 0 and fax[0][5] == 1 and gy.size
            and flat_transposed_fit(fax[1], fax[2], Cg, Kg, dx.dtype) and array_finite(w)):
        # depthwise, strided: flat runs per stride phase (no product with a
        # padding value is formed: non-finite weights take the paths below)
        taps, _, _, meta, _ = flat_transposed_table(fax[1], fax[2], lanes(dx.dtype))
        wf = w.reshape(G, Kg, -1)
        parts, t0 = [], 0
        for m in meta[2::3]:
            parts.append(wf[:, :, taps[t0:t0 + m]].reshape(-1))
            t0 += m
        wph = np.ascontiguousarray(np.concatenate(parts), dtype=dx.dtype)
        _run_flat_transposed(gy.reshape(-1), wph,
                             None if b is None else np.ascontiguousarray(b, dtype=dx.dtype),
                             dx.reshape(-1), N, G, Kg, fax[1], fax[2], nthreads)
        return
    phases = [backward_input_phases(*g) for g in geom]
    if any(len(taps) == 0 for ph in phases for taps, _ in ph) or Kg == 0 or gy.size == 0:
        dx[...] = 0 if b is None else b.reshape((1, -1, 1, 1, 1))
    if Kg == 0 or gy.size == 0:
        return
    # phases along d and h write disjoint output rows: one call each; the
    # phases along w share rows and run together, per row segment
    w_phases = [(taps, axis) for taps, axis in phases[2] if len(taps)]
    for taps_d, axis_d in phases[0]:
        for taps_h, axis_h in phases[1]:
            if not (len(taps_d) and len(taps_h) and w_phases):
                continue
            if phase_lanes_fit(geom[2], Cg, Kg, len(taps_d) * len(taps_h), gy.dtype):
                _phase_lanes(gy, w, b, dx, G, geom[2], taps_d, axis_d, taps_h, axis_h,
                             nthreads)
            else:
                _convolve_packed(gy, w, b, dx, N, G, Kg, Cg, axis_d, axis_h, w_phases,
                                 nthreads, True, taps_d, taps_h, skip_padding=True)


# --------------------------------------------------------------------------
# backward-input of strided depthwise planes as flat runs (wff_tile)
# --------------------------------------------------------------------------
#
# With one input channel per group and strides up to 2, the input position
# X = sh * u + a, Y = sw * v + b (stride phase (a, b)) sums w[i, j] *
# gy[u - di, v - dj] over the taps whose input offset i * dh - pad_h =
# sh * di + a (and j likewise): per phase a stride-1 correlation of gy,
# whose planes are read in place as flat runs (rows of Wo, gy's width) on a
# grid of ceil(H / sh) rows of Wo (each phase's row fits: ceil(W / sw) <=
# Wo), every tap at offset -(di * Wo + dj) and masked to gy's plane.  The
# phases' grids are then interleaved into dx's rows.  Each dx value is
# computed once, by one item, in a fixed order; no product with a zero of
# the strided-up gy.


cdef struct TPlan:
    Py_ssize_t N, G, Kg, VL
    Py_ssize_t sh, sw, H, W, Ho, Wo, Hq, nvec
    const Py_ssize_t* off              # flat_transposed_table's arrays
    const unsigned short* tab
    const Py_ssize_t* meta


cdef inline void unphases2(floating* d, const floating* s0, const floating* s1,
                           Py_ssize_t n) noexcept nogil:
    """d[2u] = s0[u], d[2u + 1] = s1[u] for 2u + 1 < n, and d[n - 1] = s0[n // 2]
    for odd n (a loop GCC vectorizes)."""
    cdef Py_ssize_t u
    for u in range(n // 2):
        d[2 * u] = s0[u]
        d[2 * u + 1] = s1[u]
    if n % 2:
        d[n - 1] = s0[n // 2]


cdef inline void flat_transposed_item(Py_ssize_t item, const TPlan* T, const floating* gy,
                                      const floating* wph, const floating* b, floating* dx,
                                      floating* grid) noexcept nogil:
    """dx planes (image, group) 2 * item and 2 * item + 1: each stride phase
    on wff_tile into its grid (two planes per tile), then the grids
    interleaved into the planes' rows."""
    cdef Py_ssize_t ng = 2 * item, npl = 2 if 2 * item + 1 < T.N * T.G else 1
    cdef Py_ssize_t g0 = ng % T.G, g1 = (ng + 1) % T.G, gys = T.Ho * T.Wo
    cdef Py_ssize_t gsz = T.nvec * T.VL, nph = T.sh * T.sw, ph, nt, v0, nv, k, X, i
    cdef const floating* wp
    cdef floating* gp
    cdef floating* d
    cdef floating bv
    for ph in range(nph):
        nt = T.meta[3 * ph + 2]
        gp = grid + ph * 2 * gsz
        if nt == 0:
            # no tap reaches this phase: the bias alone
            for k in range(npl):
                bv = b[(ng + k) % T.G] if b != NULL else 0
                for i in range(gsz):
                    gp[k * gsz + i] = bv
            continue
        wp = wph + T.G * T.Kg * T.meta[3 * ph]
        v0 = 0
        while v0 < T.nvec:
            nv = T.nvec - v0 if T.nvec - v0 < WFF_VECTORS else WFF_VECTORS
            wff_tile(npl, nv, gy + ng * T.Kg * gys + v0 * T.VL, T.Kg * gys, T.Kg, gys,
                     wp + g0 * T.Kg * nt, wp + g1 * T.Kg * nt, nt,
                     (b + g0) if b != NULL else NULL, (b + g1) if b != NULL else NULL,
                     gp + v0 * T.VL, gsz, nt, T.off + T.meta[3 * ph],
                     T.tab + T.meta[3 * ph + 1] + v0 * nt, T.VL)
            v0 += nv
    for k in range(npl):
        for X in range(T.H):
            d = dx + (ng + k) * T.H * T.W + X * T.W
            gp = grid + (X % T.sh) * T.sw * 2 * gsz + k * gsz + (X // T.sh) * T.Wo
            if T.sw == 1:
                memcpy(d, gp, T.W * sizeof(floating))
            else:
                unphases2(d, gp, gp + 2 * gsz, T.W)


def flat_transposed_fit(tuple ah, tuple aw, Py_ssize_t Cg, Py_ssize_t Kg, dtype):
    """True when conv_backward_input runs the flat strided planes: one input
    channel per group, strides up to 2 (not both 1), each phase's rows no
    longer than gy's (ceil(W / sw) <= Wo), at most FLAT_MAX_VECTORS grid
    vectors, on a build with the tiles."""
    cdef Axis h = make_axis(ah), w = make_axis(aw)
    VL = lanes(dtype)
    return bool(WFF_ENABLED and Cg == 1 and Kg >= 1 and 1 <= h.stride <= 2
                and 1 <= w.stride <= 2 and h.stride * w.stride > 1
                and (w.n_in + w.stride - 1) // w.stride <= w.n_q
                and h.n_q > 0 and w.n_q > 0
                and (h.n_in + h.stride - 1) // h.stride * w.n_q <= FLAT_MAX_VECTORS * VL)


def _run_flat_transposed(const floating[::1] gy, const floating[::1] wph, bias,
                         floating[::1] dx, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Kg,
                         tuple ah, tuple aw, int nthreads):
    """dx (N, G, H, W) from gy (N, G * Kg, Ho, Wo): flat_transposed_item over
    every pair of planes; wph the weights per phase [G][Kg][taps of the
    phase] (flat_transposed_table's order), bias (G,) or None."""
    cdef TPlan T
    cdef Axis h = make_axis(ah), w = make_axis(aw)
    cdef const Py_ssize_t[::1] off
    cdef const unsigned short[::1] tab
    cdef const Py_ssize_t[::1] meta
    cdef const floating[::1] bv
    cdef const floating* bp = NULL
    cdef floating[:, ::1] grid
    cdef Py_ssize_t item, nitems = (N * G + 1) // 2
    T.VL = vector_lanes(<floating> 0)
    _, off, tab, meta, T.nvec = flat_transposed_table(ah, aw, T.VL)
    T.N, T.G, T.Kg = N, G, Kg
    T.sh, T.sw, T.H, T.W, T.Ho, T.Wo = h.stride, w.stride, h.n_in, w.n_in, h.n_q, w.n_q
    T.Hq = (h.n_in + h.stride - 1) // h.stride
    T.off, T.tab, T.meta = &off[0], &tab[0], &meta[0]
    if bias is not None:
        bv = bias
        bp = &bv[0]
    nthreads = max(1, min(nthreads, nitems))
    grid = scratch("patch", nthreads, T.sh * T.sw * 2 * T.nvec * T.VL, float_dtype(<floating> 0))
    with nogil:
        if nthreads > 1:
            for item in prange(nitems, num_threads=nthreads, schedule="guided"):
                flat_transposed_item(item, &T, &gy[0], &wph[0], bp, &dx[0],
                                     &grid[omp_get_thread_num(), 0])
        else:
            for item in range(nitems):
                flat_transposed_item(item, &T, &gy[0], &wph[0], bp, &dx[0], &grid[0, 0])


def _phase_lanes(gy, w, b, dx, Py_ssize_t G, tuple gw, taps_d, axis_d, taps_h, axis_h,
                 int nthreads):
    """One phase along d and h of conv_backward_input on pl_tile (5-D views;
    phase_lanes_fit said yes).  The output channels split into the fewest
    classes whose rows share their alignment (at most PL_MAX_CLASSES, else
    one class and the other channels' stores as they fall)."""
    N, K = gy.shape[:2]
    C = dx.shape[1]
    ys = (dx.shape[2] * dx.shape[3] * dx.shape[4], dx.shape[3] * dx.shape[4], dx.shape[4])
    xs = (gy.shape[2] * gy.shape[3] * gy.shape[4], gy.shape[3] * gy.shape[4], gy.shape[4])
    A = 64 // math.gcd(64, ys[0] * dx.dtype.itemsize)
    if A > PL_MAX_CLASSES or A > C // G:
        A = 1
    wpk, bpk = pack_phase_lanes(w, b, G, taps_d, taps_h, gw[3], A, dx.dtype)
    _run_phase_lanes(gy.reshape(-1), wpk, bpk, dx.reshape(-1), N, G, C // G, K // G, gw,
                     axis_d, axis_h, len(taps_d) * len(taps_h), len(taps_h), A, xs, ys,
                     nthreads)


# --------------------------------------------------------------------------
# backward-input with the stride phases in the lanes (pl_tile)
# --------------------------------------------------------------------------
#
# Along w, stride s (dividing the vector length L), T * s taps, no dilation:
# output u = i + p_lo = q * s + p (phase p) sums w[p + t * s] * dy[q - t]
# over t < T, so a vector of P = L / s consecutive q in every phase (lane
# p * P + r) is one weight vector (phase p's taps, each repeated P times)
# times one broadcast of P consecutive dy values per (channel, tap row, t):
# the products of the phase path, none with an inserted zero, and no
# interleaving of phases after (pl_tile's one permute per stored vector).
# Along d and h the phases are those of backward_input_phases (rows).
#
# Each row's vectors split into chunks of whole tiles; a work item is
# (image, group, output row, chunk) and computes every output channel of
# its vectors, block by block (the chunk's input, all channels and tap rows,
# about PL_CHUNK_BYTES, stays in L1 across the blocks).  The vectors of a
# row start on its cache lines: output i0 + v * L with i0 in (-L, 0], so a
# vector starts at a phase e = (i0 + p_lo) mod s, and its lanes of phases
# p < e hold the next position (cy_bcastr: a second broadcast merged under
# a mask; cy_permute with the index for e).  The output channels split into
# classes whose rows share their alignment (channels cl, cl + A, ...), each
# with its own i0.  Chunk ch owns the vectors whose outputs start in
# [ch * chv * L, (ch + 1) * chv * L) (the first and last open-ended), so
# every output is computed once, by one item, in one order (c, tap row, t).
# Vectors whose inputs or outputs pass a row end go through pl_edge; a
# chunk's last vectors, fewer than a tile, through a tile that ends at its
# last vector (recomputing, bit for bit, some of its own).  Large outputs
# are stored non-temporally, straight from the registers.

cdef enum:
    PL_CHUNK_BYTES = 16384     # a chunk's input window (all channels, tap rows)
    PL_MAX_ROWS = 64           # tap rows (along d and h) of one phase
    PL_MAX_CLASSES = 4         # alignment classes of output channels
    PL_MIN_VECTORS = 48        # rows of at least this many vectors
    PL_MIN_REDUCTION = 16      # products per output (channels x tap rows x T)
    PL_MAX_WEIGHT_BYTES = 1 << 20  # packed weights (per phase along d and h)


cdef struct LPlan:
    Py_ssize_t G, Cg, Kg, C, K
    Py_ssize_t s, T, P, VL
    Py_ssize_t n_in, n_out, p_lo      # along w
    Axis ad, ah                       # the phase's axes along d and h
    Py_ssize_t nth, rows              # tap rows along h, along d and h (packed)
    Py_ssize_t xs_c, xs_d, xs_h       # dy strides (elements)
    Py_ssize_t ys_c, ys_d, ys_h       # dx strides
    Py_ssize_t A                      # output-channel classes
    Py_ssize_t cho, nch               # outputs per chunk, chunks per row
    Py_ssize_t wpc                    # packed weights per output channel
    bint stream


cdef inline Py_ssize_t floordiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """a // b rounded toward minus infinity (b > 0)."""
    return a // b if a >= 0 else -((-a + b - 1) // b)


cdef inline Py_ssize_t clamp(Py_ssize_t v, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


cdef void pl_item(Py_ssize_t item, const LPlan* L, const floating* x, const floating* wpk,
                  const floating* bpk, floating* y) noexcept nogil:
    """One work item of _run_phase_lanes (see above)."""
    cdef Py_ssize_t xo[PL_MAX_ROWS]
    cdef Py_ssize_t wo[PL_MAX_ROWS]
    cdef Py_ssize_t widx[PL_MAX_ROWS]
    cdef Py_ssize_t ch = item % L.nch, r = item // L.nch
    cdef Py_ssize_t oh = r % L.ah.n_q, od = (r // L.ah.n_q) % L.ad.n_q
    cdef Py_ssize_t ng = r // L.ah.n_q // L.ad.n_q
    cdef Py_ssize_t n = ng // L.G, g = ng % L.G
    cdef Py_ssize_t d0, d1, h0, h1, jd, jh, R = 0, j, cl, ncl, start = 0, b0, cob, mv, wc, ys
    cdef Py_ssize_t i0, q0, e, nv, va, vb, vlo, vhi, v, vs, ia, ib, lo, hi, k, i
    cdef Py_ssize_t VL = L.VL, P = L.P, s = L.s
    cdef const floating* xg = x + (n * L.K + g * L.Kg) * L.xs_c
    cdef const floating* xq
    cdef const floating* wb
    cdef const floating* bb
    cdef floating* yrow = (y + (n * L.C + g * L.Cg) * L.ys_c
                           + (od * L.ad.out_step + L.ad.out_base) * L.ys_d
                           + (oh * L.ah.out_step + L.ah.out_base) * L.ys_h)
    cdef floating* yc
    cdef floating bval
    tap_range(&L.ad, od, &d0, &d1)
    tap_range(&L.ah, oh, &h0, &h1)
    for jd in range(d0, d1):
        for jh in range(h0, h1):
            xo[R] = ((od + L.ad.off + jd * L.ad.dil) * L.xs_d
                     + (oh + L.ah.off + jh * L.ah.dil) * L.xs_h)
            widx[R] = jd * L.nth + jh
            R += 1
    if ch + 1 < L.nch:
        # the next chunk's input window (likely this thread's next item)
        # into L2: its rows are too many separate streams for the hardware
        # prefetcher (a 2048-long input: 1.03-1.05x)
        lo = max(0, floordiv((ch + 1) * L.cho + L.p_lo, s) - L.T)
        hi = min(L.n_in, floordiv((ch + 2) * L.cho + L.p_lo, s) + P + 2)
        for k in range(L.Kg):
            for j in range(R):
                xq = xg + k * L.xs_c + xo[j]
                i = lo
                while i < hi:
                    cy_prefetch_l2(xq + i)
                    i += 64 // sizeof(floating)
                if hi > lo:
                    cy_prefetch_l2(xq + hi - 1)
    for cl in range(L.A):
        ncl = (L.Cg - cl + L.A - 1) // L.A
        yc = yrow + cl * L.ys_c
        # this class's vectors: outputs from i0 + v * L (i0 on a cache line
        # where the row's elements allow), first position q0 + v * P, phase e
        i0 = -<Py_ssize_t> ((<size_t> yc) % 64 // sizeof(floating))
        q0 = floordiv(i0 + L.p_lo, s)
        e = i0 + L.p_lo - q0 * s
        nv = (L.n_out - i0 + VL - 1) // VL
        # interior: inputs q - T + 1 .. q + P (lanes p < e read one on) and
        # outputs inside the row
        va = max(0, max(-floordiv(i0, VL), -floordiv(q0 - L.T + 1, P)))
        vb = min(nv, min(floordiv(L.n_out - i0, VL), floordiv(L.n_in - 1 - P - q0, P) + 1))
        # the vectors this chunk owns
        vlo = 0 if ch == 0 else clamp(-floordiv(i0 - ch * L.cho, VL), 0, nv)
        vhi = nv if ch == L.nch - 1 else clamp(-floordiv(i0 - (ch + 1) * L.cho, VL), 0, nv)
        ia = clamp(va, vlo, vhi)
        ib = clamp(vb, ia, vhi)
        xq = xg + q0
        ys = L.A * L.ys_c            # between the channels of a class
        b0 = 0
        while b0 < ncl:
            cob = ncl - b0 if ncl - b0 < PL_CHANNELS else PL_CHANNELS
            wb = wpk + (g * L.Cg + start + b0) * L.wpc
            bb = (bpk + g * L.Cg + start + b0) if bpk != NULL else NULL
            if R == 0:
                # no tap row reaches these output rows: the bias alone
                lo = max(0, i0 + vlo * VL)
                hi = min(L.n_out, i0 + vhi * VL)
                for k in range(cob):
                    bval = bb[k] if bb != NULL else 0
                    for i in range(lo, hi):
                        yc[(b0 + k) * ys + i] = bval
                b0 += cob
                continue
            for j in range(R):
                wo[j] = widx[j] * L.T * cob * VL
            wc = L.rows * L.T * cob * VL
            mv = pl_vectors(cob)
            v = vlo
            while v < vhi:
                if ia <= v < ib and ib - ia >= mv:
                    # the interior: whole tiles, the last one ending at ib
                    if v + mv <= ib:
                        vs = (ib - v) // mv
                        pl_tile(cob, P, xq + v * P, wb, bb, yc + b0 * ys + i0 + v * VL, L.Kg,
                                L.xs_c, wc, R, xo, wo, L.T, ys, e, vs, L.stream)
                        v += vs * mv
                    else:
                        pl_tile(cob, P, xq + (ib - mv) * P, wb, bb,
                                yc + b0 * ys + i0 + (ib - mv) * VL, L.Kg, L.xs_c, wc, R, xo, wo,
                                L.T, ys, e, 1, L.stream)
                        v = ib
                    continue
                lo = max(0, -(i0 + v * VL))
                hi = min(VL, L.n_out - (i0 + v * VL))
                pl_edge(xq + v * P, wb, bb, yc + b0 * ys + i0 + v * VL, cob, P, L.Kg, L.xs_c,
                        wc, R, xo, wo, L.T, ys, e, q0 + v * P, L.n_in, lo, hi)
                v += 1
            b0 += cob
        start += ncl


def phase_lanes_fit(tuple gw, Py_ssize_t Cg, Py_ssize_t Kg, Py_ssize_t rows, dtype):
    """P (positions per vector) for pl_tile along w, or 0 where it does not
    apply: ``gw`` is the w axis as (n_x, n_y, k, s, p_lo, d)
    (conv_backward_input's geometry), ``rows`` the tap rows of a phase
    along d and h.  Stride s dividing the vector length with P = L / s
    inputs in one 64-bit broadcast (wider ones, vbroadcastf32x4 and up,
    measured 0.78-0.82x the phase path on Zen 4 at strides 4 and 2), k a
    multiple of s, no dilation; rows of at least PL_MIN_VECTORS vectors, a
    reduction (Kg x rows x T) of at least PL_MIN_REDUCTION products per
    output and at most PL_MAX_WEIGHT_BYTES of packed weights (P times the
    phase's: each chunk streams them all; 8 MiB measured 0.46x)."""
    n_x, n_y, k, s, p_lo, d = gw
    VL = lanes(dtype)
    esize = np.dtype(dtype).itemsize
    if not PL_ENABLED or d != 1 or s < 2 or VL % s or k % s or k // s > PL_TAPS:
        return 0
    if rows > PL_MAX_ROWS or rows < 1:
        return 0
    P = VL // s
    if P * esize > PL_BCAST_BYTES or n_x < PL_MIN_VECTORS * VL:
        return 0
    if Kg * rows * (k // s) < PL_MIN_REDUCTION:
        return 0
    if Cg * Kg * rows * k * P * esize > PL_MAX_WEIGHT_BYTES:
        return 0
    return P


PHASE_LANES = bool(PL_ENABLED)     # this build has the phase-lane tiles


def _run_phase_lanes(const floating[::1] x, const floating[::1] wpk, bpk, floating[::1] y,
                     Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, tuple gw,
                     ad, ah, Py_ssize_t rows, Py_ssize_t nth, Py_ssize_t A, tuple xs,
                     tuple ys, int nthreads):
    """dx (y) for one phase along d and h: pl_item over every (image,
    group, output row, chunk).  wpk and bpk as pack_phase_lanes gives them
    for A classes; xs, ys: the (channel, plane, row) strides of x and y."""
    cdef LPlan L
    cdef const floating[::1] bv
    cdef const floating* bp = NULL
    cdef Py_ssize_t item, nitems, chv
    n_x, n_y, k, s, p_lo, d = gw
    L.G, L.Cg, L.Kg, L.C, L.K = G, Cg, Kg, G * Cg, G * Kg
    L.VL = vector_lanes(<floating> 0)
    L.s, L.T = s, k // s
    L.P = L.VL // L.s
    L.n_in, L.n_out, L.p_lo = n_y, n_x, p_lo
    L.ad, L.ah = make_axis(ad), make_axis(ah)
    L.nth, L.rows = nth, rows
    L.xs_c, L.xs_d, L.xs_h = xs
    L.ys_c, L.ys_d, L.ys_h = ys
    L.A = A
    L.wpc = Kg * rows * L.T * L.VL
    # chunks: whole tiles of every width, about PL_CHUNK_BYTES of input
    chv = PL_VECTORS * max(1, PL_CHUNK_BYTES // (Kg * rows * L.P * PL_VECTORS * sizeof(floating)))
    L.cho = chv * L.VL
    L.nch = max(1, L.n_out // L.cho)
    L.stream = y.shape[0] * sizeof(floating) >= STREAM_MIN_BYTES
    nitems = N * G * L.ad.n_q * L.ah.n_q * L.nch
    if bpk is not None:
        bv = bpk
        bp = &bv[0]
    nthreads = max(1, min(nthreads, nitems))
    with nogil:
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                for item in prange(nitems, schedule="guided"):
                    pl_item(item, &L, &x[0], &wpk[0], bp, &y[0])
                if L.stream:
                    cy_sfence()
        else:
            for item in range(nitems):
                pl_item(item, &L, &x[0], &wpk[0], bp, &y[0])
            if L.stream:
                cy_sfence()


def pack_phase_lanes(w, b, Py_ssize_t G, taps_d, taps_h, Py_ssize_t s, Py_ssize_t A, dtype):
    """The weights (K, Cg, kd, kh, kw) of one phase along d and h for
    pl_tile, and the bias (or None) in the same channel order: per group,
    per class (output channels cl, cl + A, ...), per block of up to
    PL_CHANNELS of them, [c][tap row][t][channel][L] with lane p * P + r
    holding w[c, channel, row, p + t * s] (P = L / s)."""
    K, Cg = w.shape[:2]
    Kg = K // G
    P = lanes(dtype) // s
    sel = w[:, :, taps_d][:, :, :, taps_h]              # (K, Cg, nd, nh, kw)
    nd, nh, kw = sel.shape[2:]
    sel = np.repeat(sel.reshape(G, Kg, Cg, nd, nh, kw // s, s), P, axis=6)
    classes = [np.arange(cl, Cg, A) for cl in range(A)]
    out = aligned_empty((G * Cg * Kg * nd * nh * kw * P,), dtype)
    o = 0
    for g in range(G):
        for chans in classes:
            for b0 in range(0, chans.size, PL_CHANNELS):
                # (Kg, nb, nd, nh, T, L) -> (Kg, nd, nh, T, nb, L)
                blk = sel[g][:, chans[b0:b0 + PL_CHANNELS]].transpose(0, 2, 3, 4, 1, 5)
                out[o:o + blk.size].reshape(blk.shape)[...] = blk
                o += blk.size
    if b is None:
        return out, None
    b = np.asarray(b, dtype=dtype).reshape(G, Cg)[:, np.concatenate(classes)]
    return out, np.ascontiguousarray(b).reshape(-1)


# --------------------------------------------------------------------------
# backward-weight
# --------------------------------------------------------------------------
#
# dw[k, c, t] = sum_{n, o} gy[n, k, o] x[n, c, o*s + off + t*d] is the forward
# micro-kernel with the roles swapped: a row segment of gy packed [o][KB] is
# the streamed operand (like packed weights), the matching input row packed
# channel-contiguous [u][Cg] (zero-padded) is broadcast, and the tile of KB
# output channels x PB input channels accumulates in place in the partial
# weight gradient [kd][kh][kw][Cg][KB] of its batch chunk.

cdef enum:
    XBUF_ELEMS = 65536       # one packed input row segment (elements)
    XCACHE_ELEMS = 131072    # per-thread windows of packed input rows (elements)
    GBUF_ELEMS = 65536       # the packed gy rows of one item's channel blocks
    ROW_GROUP = 8            # output rows per tile reduction (at most)
    BAND_MIN_FLOPS = 16000000  # a row band's share of an image's weight gradient
    PARTIAL_SUM_BYTES = 64 << 20  # bound on the batch chunks' partial sums (as float64)


cdef struct BPlan:
    Py_ssize_t N, G, Cg, Kg, KB, nkb, nchunks, chunk0, oseg
    Py_ssize_t bands                  # row bands per batch chunk (its chunks:
                                      # nchunks * bands)
    Py_ssize_t Ky                     # gy's channels per group (its first Kg here)
    Py_ssize_t nkg, nkbg              # channel blocks per item, items per group
    int kv
    Py_ssize_t xs_c, xs_d, ys_c, ys_d, blk
    Py_ssize_t span_d, span_h, slot_elems
    Py_ssize_t wrows, rmax            # rows per input-row window; output rows per group
    Axis ad, ah, aw


cdef inline void transpose(const floating* src, Py_ssize_t ss, Py_ssize_t m, Py_ssize_t n,
                           floating* dst, Py_ssize_t ds, Py_ssize_t dn) noexcept nogil:
    """dst[j * ds + i] = src[i * ss + j] for i < m, j < n (m, n <= one
    vector); lanes m <= i < dn of dst zero."""
    if floating is float:
        cy_transpose_f32(src, ss, m, n, dst, ds, dn)
    else:
        cy_transpose_f64(src, ss, m, n, dst, ds, dn)


cdef inline void transpose_full(const floating* src, Py_ssize_t ss, floating* dst,
                                Py_ssize_t ds) noexcept nogil:
    """transpose of a whole vector x vector block."""
    if floating is float:
        cy_transpose_full_f32(src, ss, dst, ds)
    else:
        cy_transpose_full_f64(src, ss, dst, ds)


cdef inline void pack_grad_rows(const BPlan* P, const floating* grow, Py_ssize_t nk,
                                Py_ssize_t nr, Py_ssize_t o0, Py_ssize_t no,
                                floating* gbuf) noexcept nogil:
    """Segment [o0, o0 + no) of the nr gy rows from ``grow`` (one row of
    the layer apart), nk channels, as [row][o][KB], zero-padded (vector
    blocks transposed in registers).  One vector's channels go through
    all nr rows before the next vector's: the loads follow one stream per
    lane (a channel's rows are consecutive in memory), not one per channel
    of the block, more than the hardware prefetcher follows (row by row,
    the r56 3x3 weight gradient spent 14% of its time in these loads,
    their lines missing from the caches; 7% this way)."""
    cdef Py_ssize_t VL = vector_lanes(gbuf[0]), v, o, m, n, r
    v = 0
    while v < P.KB:
        m = nk - v if nk - v < VL else VL
        if m < 0:
            m = 0
        for r in range(nr):
            o = 0
            while o < no:
                n = no - o if no - o < VL else VL
                transpose(grow + v * P.ys_c + r * P.aw.n_q + o0 + o, P.ys_c, m, n,
                          gbuf + (r * no + o) * P.KB + v, P.KB, VL)
                o += VL
        v += VL


cdef inline void pack_input_rows(const BPlan* P, const floating* xrow, Py_ssize_t nr,
                                 Py_ssize_t iw0, Py_ssize_t width,
                                 floating* xbuf) noexcept nogil:
    """Positions [iw0, iw0 + width) of the nr input rows from ``xrow`` (one
    row of the layer apart), all Cg channels, as [row][u][Cg] with rows
    slot_elems apart, zero outside the row (vector blocks transposed in
    registers; a block of channels through all the rows before the next,
    as pack_grad_rows)."""
    cdef Py_ssize_t VL = vector_lanes(xbuf[0]), a, e, c, u, m, n, r
    a = -iw0 if iw0 < 0 else 0
    e = P.aw.n_in - iw0
    if e > width:
        e = width
    if e < a:
        e = a
    for r in range(nr):
        if a > 0:
            memset(xbuf + r * P.slot_elems, 0, a * P.Cg * sizeof(floating))
        if e < width:
            memset(xbuf + r * P.slot_elems + e * P.Cg, 0,
                   (width - e) * P.Cg * sizeof(floating))
    c = 0
    while c < P.Cg:
        m = P.Cg - c if P.Cg - c < VL else VL
        for r in range(nr):
            u = a
            while u < e:
                n = e - u if e - u < VL else VL
                transpose(xrow + c * P.xs_c + r * P.aw.n_in + iw0 + u, P.xs_c, m, n,
                          xbuf + r * P.slot_elems + u * P.Cg + c, P.Cg, m)
                u += VL
        c += VL


cdef inline floating* input_rows(const BPlan* P, const floating* ximg, Py_ssize_t idep,
                                 Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t iw0,
                                 Py_ssize_t width, floating* xcache,
                                 Py_ssize_t* state) noexcept nogil:
    """Packed input rows [lo, hi] of depth plane ``idep`` (row r at the
    returned pointer + (r - lo) * slot_elems).

    Each of the span_d planes an output plane reads has a window of up to
    ``wrows`` consecutive packed rows (state[3 * slot]: plane, first row,
    rows held).  Row groups advance downwards, so rows still needed move to
    the front of the window and only the new ones are packed."""
    cdef Py_ssize_t slot = idep % P.span_d
    cdef Py_ssize_t* st = state + 3 * slot
    cdef floating* win = xcache + slot * P.wrows * P.slot_elems
    cdef Py_ssize_t keep = 0, r
    if st[0] == idep and st[2] > 0 and lo >= st[1]:
        if hi < st[1] + st[2]:
            return win + (lo - st[1]) * P.slot_elems
        keep = st[1] + st[2] - lo
        if keep < 0:
            keep = 0
        if keep > 0 and lo > st[1]:
            memmove(win, win + (lo - st[1]) * P.slot_elems,
                    keep * P.slot_elems * sizeof(floating))
    if hi + 1 > lo + keep:
        pack_input_rows(P, ximg + idep * P.xs_d + (lo + keep) * P.aw.n_in, hi + 1 - lo - keep,
                        iw0, width, win + keep * P.slot_elems)
    st[0] = idep
    st[1] = lo
    st[2] = hi + 1 - lo
    return win


cdef inline void bww_item(Py_ssize_t item, const BPlan* P, const floating* x,
                          const floating* gy, floating* part, floating* gbuf,
                          floating* xcache, Py_ssize_t* state) noexcept nogil:
    """Channel blocks [kb0, kb1) of one (batch chunk, group): reduce over its
    images.  Each input row is packed once for all of them.

    Output rows with the same taps along h run in groups of up to ``rmax``:
    every tile reduces over all their positions (the rows of a group are
    one packed-row stride apart in the input-row window, ``input_rows``),
    so the accumulators go through memory once per group, not per row.
    The gy rows of a group are packed [block][row][o][KB] in gbuf."""
    cdef const Axis* aw = &P.aw
    cdef Py_ssize_t kbg = item % P.nkbg, g = (item // P.nkbg) % P.G
    cdef Py_ssize_t chunk = item // (P.nkbg * P.G)
    cdef Py_ssize_t band = chunk % P.bands, ic = chunk // P.bands
    cdef Py_ssize_t h_lo = band * P.ah.n_q // P.bands, h_hi = (band + 1) * P.ah.n_q // P.bands
    cdef Py_ssize_t kb0 = kbg * P.nkg, kb1 = kb0 + P.nkg, kb, nk
    cdef Py_ssize_t n, qd, qh, nr, r, td0, td1, th0, th1, t0, t1, td, th, o0, no, i
    cdef Py_ssize_t width, kw, c0, pb, span, idep, lo, hi
    cdef Py_ssize_t gstride = P.rmax * P.oseg * P.KB
    cdef const floating* grow
    cdef const floating* ximg
    cdef floating* rows
    cdef floating* gb
    cdef floating* acc = part + ((chunk - P.chunk0) * P.G + g) * P.nkb * P.blk
    cdef floating* at
    if kb1 > P.nkb:
        kb1 = P.nkb
    # (kw, c) pairs: with dilation 1 their input offsets kw*Cg + c are one
    # contiguous run, so tiles span taps
    span = aw.taps * P.Cg if aw.dil == 1 else P.Cg
    for n in range(ic * P.N // P.nchunks, (ic + 1) * P.N // P.nchunks):
        ximg = x + (n * P.G + g) * P.Cg * P.xs_c
        o0 = 0
        while o0 < aw.n_q:
            no = aw.n_q - o0 if aw.n_q - o0 < P.oseg else P.oseg
            width = (no - 1) * aw.stride + (aw.taps - 1) * aw.dil + 1
            for i in range(P.span_d):
                state[3 * i] = -1
            for qd in range(P.ad.n_q):
                tap_range(&P.ad, qd, &td0, &td1)
                qh = h_lo
                while qh < h_hi:
                    tap_range(&P.ah, qh, &th0, &th1)
                    nr = 1
                    while nr < P.rmax and qh + nr < h_hi:
                        tap_range(&P.ah, qh + nr, &t0, &t1)
                        if t0 != th0 or t1 != th1:
                            break
                        nr += 1
                    if td1 <= td0 or th1 <= th0:
                        qh += nr
                        continue
                    for kb in range(kb0, kb1):
                        nk = P.Kg - kb * P.KB if P.Kg - kb * P.KB < P.KB else P.KB
                        grow = (gy + ((n * P.G + g) * P.Ky + kb * P.KB) * P.ys_c
                                + qd * P.ys_d + qh * aw.n_q)
                        pack_grad_rows(P, grow, nk, nr, o0, no, gbuf + (kb - kb0) * gstride)
                    lo = qh * P.ah.stride + P.ah.off + th0 * P.ah.dil
                    hi = (qh + nr - 1) * P.ah.stride + P.ah.off + (th1 - 1) * P.ah.dil
                    for td in range(td0, td1):
                        idep = qd * P.ad.stride + P.ad.off + td * P.ad.dil
                        rows = input_rows(P, ximg, idep, lo, hi, o0 * aw.stride + aw.off,
                                          width, xcache, state)
                        for th in range(th0, th1):
                            for kb in range(kb0, kb1):
                                at = (acc + kb * P.blk
                                      + (td * P.ah.taps + th) * aw.taps * P.Cg * P.KB)
                                gb = gbuf + (kb - kb0) * gstride
                                for kw in range(1 if aw.dil == 1 else aw.taps):
                                    c0 = 0
                                    while c0 < span:
                                        pb = first_tile(P.kv, span - c0)
                                        fwd_tile(P.kv, pb,
                                                 rows + (th - th0) * P.ah.dil * P.slot_elems
                                                 + kw * aw.dil * P.Cg + c0,
                                                 gb, NULL, NULL, 1, 0, 0, 1, nr, no, 0,
                                                 P.ah.stride * P.slot_elems,
                                                 aw.stride * P.Cg, 0, no * P.KB, 1, 0, 0, 0,
                                                 at + (kw * P.Cg + c0) * P.KB,
                                                 at + (kw * P.Cg + c0) * P.KB, False, False)
                                        c0 += pb
                    qh += nr
            o0 += no


cdef inline void wave_blocks(BPlan* P, Py_ssize_t nw, int nthreads) noexcept nogil:
    """Channel blocks per item for a wave of nw chunks: all of a group's
    (each input row is packed once for all of them) unless that leaves a
    thread without an item; a last, shorter wave splits them further (3
    chunks on 2 threads: the third chunk's blocks on both).  The summation
    order of every block is the same either way.  (positive operands only:
    these divisions are C divisions)"""
    P.nkbg = min(P.nkb, max(1, (nthreads + nw * P.G - 1) // (nw * P.G)))
    P.nkg = (P.nkb + P.nkbg - 1) // P.nkbg
    P.nkbg = (P.nkb + P.nkg - 1) // P.nkg


def _run_backward_weight(const floating[::1] x, const floating[::1] gy,
                         floating[::1] slots, floating[::1] out, Py_ssize_t N,
                         Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, int kv,
                         Py_ssize_t nchunks, tuple axes, int nthreads, Py_ssize_t Ky=0,
                         Py_ssize_t bands=1):
    """The weight gradient of gy's first Kg channels of Ky per group (Ky = Kg
    by default) into out, dw's layout (G, Ky, Cg, KD, KH, KW) flattened; each
    batch chunk's output rows in ``bands`` bands, a chunk each.  The chunks'
    partial sums (weight_slots of G * nkb * KD * KH * KW * Cg * KB elements)
    are [G][nkb][KD][KH][KW][Cg][KB]; finish_wave stores their sum in out."""
    cdef BPlan P
    cdef Py_ssize_t nitems, t, i, nw, c0, nslots, n
    cdef floating* tp = NULL
    cdef floating[::1] total
    cdef floating[:, ::1] ftmp
    cdef floating[:, ::1] gbuf
    cdef floating[:, ::1] xcache
    cdef Py_ssize_t[:, ::1] windows
    P.ad, P.ah, P.aw = make_axis(axes[0]), make_axis(axes[1]), make_axis(axes[2])
    P.N, P.G, P.Cg, P.Kg, P.kv, P.nchunks, P.bands = N, G, Cg, Kg, kv, nchunks, max(1, bands)
    P.Ky = Ky if Ky else Kg
    P.KB = kv * vector_lanes(<floating> 0)
    P.nkb = (Kg + P.KB - 1) // P.KB
    P.xs_d = P.ah.n_in * P.aw.n_in
    P.xs_c = P.ad.n_in * P.xs_d
    P.ys_d = P.ah.n_q * P.aw.n_q
    P.ys_c = P.ad.n_q * P.ys_d
    P.blk = P.ad.taps * P.ah.taps * P.aw.taps * Cg * P.KB
    n = G * P.nkb * P.blk
    if x.shape[0] == 0 or gy.shape[0] == 0 or n == 0:
        return
    nslots = slots.shape[0] // n
    # channel blocks per item (per wave of chunks, wave_blocks): the plan's
    # sizes follow from the largest, that of a full wave
    wave_blocks(&P, nslots, nthreads)
    # output positions per segment: one packed input row fits XBUF_ELEMS and
    # the packed gy rows of all a group's blocks fit GBUF_ELEMS (not those of
    # an item: segments set the order of each sum, which must not depend on
    # the thread count; a 1100-wide layer of 4 blocks had 512 positions per
    # segment at 1 thread and 1100 at 4)
    P.oseg = ((XBUF_ELEMS // max(Cg, 1) - (P.aw.taps - 1) * P.aw.dil - 1)
              // P.aw.stride + 1)
    P.oseg = max(1, min(P.oseg, P.aw.n_q, GBUF_ELEMS // (P.nkb * P.KB)))
    # the input rows one output row reads: (taps - 1) * dil + 1 per axis
    P.span_d = (P.ad.taps - 1) * P.ad.dil + 1
    P.span_h = (P.ah.taps - 1) * P.ah.dil + 1
    # a window of packed rows per depth plane read: the span_h rows of one
    # output row, plus stride rows per extra output row of a group, within
    # XCACHE_ELEMS (shorter row segments when even one output row's rows
    # do not fit)
    P.oseg = max(1, min(P.oseg, ((XCACHE_ELEMS // (P.span_d * P.span_h * max(Cg, 1))
                                  - (P.aw.taps - 1) * P.aw.dil - 1) // P.aw.stride + 1)))
    P.slot_elems = ((P.oseg - 1) * P.aw.stride + (P.aw.taps - 1) * P.aw.dil + 1) * max(Cg, 1)
    P.wrows = max(P.span_h, XCACHE_ELEMS // (P.span_d * P.slot_elems))
    P.rmax = max(1, min(ROW_GROUP, (P.wrows - P.span_h) // P.ah.stride + 1,
                        GBUF_ELEMS // (P.nkg * P.oseg * P.KB)))
    nthreads = max(1, min(nthreads, nslots * G * P.nkb))
    dt = float_dtype(<floating> 0)
    gbuf = scratch("grad_row", nthreads, P.nkg * P.rmax * P.oseg * P.KB, dt)
    xcache = scratch("input_rows", nthreads, P.span_d * P.wrows * P.slot_elems, dt)
    windows = scratch("input_row_windows", nthreads, 3 * P.span_d, np.intp)
    ftmp = scratch("grad_finish", nthreads, vector_lanes(<floating> 0) ** 2, dt)
    nchunks *= P.bands
    if nchunks > nslots:                # several waves: their running sum (the
        total = aligned_empty(n, dt)    # last wave's finish_wave adds to it)
        tp = &total[0]
    with nogil:
        c0 = 0
        while c0 < nchunks:
            nw = start_wave(&slots[0], n, nslots, c0, nchunks, nthreads)
            P.chunk0 = c0
            wave_blocks(&P, nw, nthreads)
            nitems = G * P.nkbg                 # per chunk
            if nthreads > 1:
                for i in prange(nw * nitems, num_threads=nthreads, schedule="dynamic"):
                    t = omp_get_thread_num()
                    bww_item(c0 * nitems + i, &P, &x[0], &gy[0], &slots[0], &gbuf[t, 0],
                             &xcache[t, 0], &windows[t, 0])
            else:
                for i in range(nw * nitems):
                    bww_item(c0 * nitems + i, &P, &x[0], &gy[0], &slots[0], &gbuf[0, 0],
                             &xcache[0, 0], &windows[0, 0])
            if c0 + nw < nchunks:
                end_wave(tp, &slots[0], n, nw, c0, nthreads)
            else:
                finish_wave(&out[0], tp, &slots[0], n, nw, G, P.nkb,
                            P.ad.taps * P.ah.taps * P.aw.taps, Cg, P.KB, Kg, P.Ky,
                            &ftmp[0, 0], nthreads)
            c0 += nw


def backward_weight_chunks(Py_ssize_t N, Py_ssize_t blocks, Py_ssize_t block_size):
    """Batch chunks of the weight-gradient reduction: a function of the shape
    only (never of the thread count), so the summation order is fixed.
    Enough independent items for 16 threads, bounded partial-sum memory."""
    cdef Py_ssize_t n = max(1, 16 // max(blocks, 1))     # (at most 16 items)
    n = min(n, max(N, 1))
    n = min(n, max(1, PARTIAL_SUM_BYTES // max(blocks * block_size * 8, 1)))
    return n


def backward_weight_bands(Py_ssize_t N, Py_ssize_t nchunks, Py_ssize_t blocks,
                          Py_ssize_t block_size, Py_ssize_t rows, double image_flops):
    """Row bands per batch chunk of the channel tiles' weight gradient: a
    batch of one image per chunk with at most 8 items (3 images, one
    channel block) splits each image's output rows into bands of at least
    ROW_GROUP rows and BAND_MIN_FLOPS, a chunk each, up to 16 items, the
    partial sums within backward_weight_chunks' bound.  Like the chunks, a
    function of the shape only.  (Each wave of chunks is a parallel region
    and a sum of partial tensors: 4 x 16 -> 16 3x3 channels on 32 x 32, in
    4 bands per image, ran 0.85x at 2 threads.)"""
    cdef Py_ssize_t items = N * max(blocks, 1)
    if nchunks != N or items > 8:
        return 1
    return max(1, min(16 // items, rows // ROW_GROUP,
                      <Py_ssize_t> (image_flops / BAND_MIN_FLOPS),
                      PARTIAL_SUM_BYTES // max(items * block_size * 8, 1)))


# --------------------------------------------------------------------------
# backward-weight of one-tap convolutions (1x1..., stride 1, no padding)
# --------------------------------------------------------------------------
#
# dw[k, c] = sum_{n, p} gy[n, k, p] x[n, c, p]: a matrix product reduced along
# the contiguous positions p.  The dot-product tiles (wd_*) read the gy and x
# rows where they are (nothing is packed or transposed) and keep lane partial
# sums [k][c][VL] in a per-thread buffer; at the end of a work item the lanes
# are added in a fixed order into its batch chunk's weight tensor, and the
# chunks in a fixed order (weight_slots).

cdef enum:
    DOT_SEG = 4096           # positions per pass: a block's gy rows stay in L2
    DOT_KBLOCK = 16          # output channels per work item
    DOT_MIN_VECTORS = 8      # shorter rows: the channel path is cheaper


def one_tap_axes(tuple axes):
    """True for one tap per axis, unit stride, no padding: x and gy share
    their (flattened, contiguous) positions."""
    for a in axes:
        n_in, taps, stride, dil, off, n_q = a[:6]
        if taps != 1 or stride != 1 or off != 0 or n_q != n_in:
            return False
    return True


cdef inline void dot_grad_item(Py_ssize_t item, Py_ssize_t N, Py_ssize_t nchunks,
                               Py_ssize_t chunk0,
                               Py_ssize_t G, Py_ssize_t Cg, Py_ssize_t Kg, Py_ssize_t L,
                               Py_ssize_t nkblk, const floating* x, const floating* gy,
                               floating* part, floating* acc) noexcept nogil:
    """Output channels [k0, k1) of one (batch chunk, group), all input
    channels: lane partial sums in acc (the thread's, [k - k0][c][VL]), then
    part[chunk, g, k, c] (lanes_to_part)."""
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef Py_ssize_t kblk = item % nkblk, g = (item // nkblk) % G
    cdef Py_ssize_t chunk = item // (nkblk * G)
    cdef Py_ssize_t k0 = kblk * DOT_KBLOCK, k1 = k0 + DOT_KBLOCK
    cdef Py_ssize_t MK = wd_rows(), MC = wd_cols()
    cdef Py_ssize_t nfull = (L // VL) * VL
    cdef Py_ssize_t n, p0, p1, c0, mc, kk, mk, k, c, p
    cdef const floating* gn
    cdef const floating* xn
    cdef floating s
    if k1 > Kg:
        k1 = Kg
    memset(acc, 0, (k1 - k0) * Cg * VL * sizeof(floating))
    for n in range(chunk * N // nchunks, (chunk + 1) * N // nchunks):
        gn = gy + (n * G + g) * Kg * L
        xn = x + (n * G + g) * Cg * L
        p0 = 0
        while p0 < nfull:
            p1 = p0 + DOT_SEG if p0 + DOT_SEG < nfull else nfull
            c0 = 0
            while c0 < Cg:
                mc = Cg - c0 if Cg - c0 < MC else MC
                kk = k0
                while kk < k1:
                    mk = k1 - kk if k1 - kk < MK else MK
                    wd_tile(mk, mc, gn + kk * L + p0, L, xn + c0 * L + p0, L,
                            acc + ((kk - k0) * Cg + c0) * VL, Cg, (p1 - p0) // VL, NULL)
                    kk += mk
                c0 += mc
            p0 = p1
        # positions past the last whole vector: scalar, into lane 0
        if nfull < L:
            for k in range(k0, k1):
                for c in range(Cg):
                    s = 0
                    for p in range(nfull, L):
                        s = s + gn[k * L + p] * xn[c * L + p]
                    acc[((k - k0) * Cg + c) * VL] += s
    lanes_to_part(acc, (k1 - k0) * Cg, VL, part + (((chunk - chunk0) * G + g) * Kg + k0) * Cg)


def _run_dot_grad(const floating[::1] x, const floating[::1] gy, floating[::1] slots,
                  floating[::1] total, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
                  Py_ssize_t Kg, Py_ssize_t L, Py_ssize_t nchunks, int nthreads):
    """total = the weight gradient, [G][Kg][Cg] (one_tap_slots: every item
    writes its part of a slot, so one batch chunk writes total itself)."""
    cdef Py_ssize_t nkblk = (Kg + DOT_KBLOCK - 1) // DOT_KBLOCK
    cdef Py_ssize_t nitems = G * nkblk, i, c0, nw, nslots, n = total.shape[0]
    cdef floating[:, ::1] lanes
    if x.shape[0] == 0 or gy.shape[0] == 0 or n == 0:
        return
    nslots = slots.shape[0] // n
    nthreads = max(1, min(nthreads, nslots * nitems))
    lanes = scratch("lanes", nthreads, DOT_KBLOCK * Cg * vector_lanes(<floating> 0),
                    float_dtype(<floating> 0))
    with nogil:
        c0 = 0
        while c0 < nchunks:
            nw = start_wave(&slots[0], n, nslots, c0, nchunks, nthreads)
            if nthreads > 1:
                for i in prange(nw * nitems, num_threads=nthreads, schedule="dynamic"):
                    dot_grad_item(c0 * nitems + i, N, nchunks, c0, G, Cg, Kg, L, nkblk,
                                  &x[0], &gy[0], &slots[0], &lanes[omp_get_thread_num(), 0])
            else:
                for i in range(nw * nitems):
                    dot_grad_item(c0 * nitems + i, N, nchunks, c0, G, Cg, Kg, L, nkblk,
                                  &x[0], &gy[0], &slots[0], &lanes[0, 0])
            if &slots[0] != &total[0]:
                end_wave(&total[0], &slots[0], n, nw, c0, nthreads)
            c0 += nw


# The same product on the channel tiles (gemm_grad_item): the operand with
# fewer rows (gy's output channels, or x's input channels) is packed, per
# block of GEMM_PANEL positions, into a panel [p][KB] (KB = the tile's
# channel vectors); the other operand's rows are the tile's "positions"
# (a stride of L elements between them) and the positions p its "input
# channels" (step 1): fwd_tile's one-tap loop, whose accumulators stay in
# registers over the whole panel (partial sums between panels in a
# per-thread row, as the forward's channel blocks).  The dot-product tiles
# keep only lane sums in registers and read every row from L2 for each
# tile (4 gy x 6 x rows: 10 loads per 24 FMAs), 36% of peak on a 256 -> 64
# pointwise layer; the channel tiles read 2 vectors per 28 FMAs from the
# panel.  Panels of 1024 positions (128 KiB at KB = 32 float32, in L2)
# rather than 256 (32 KiB, in L1): each tile's broadcast rows are read in
# runs of 4 KiB instead of 1 KiB from memory, fewer restarts for the
# hardware prefetcher, while the panel's 2 vectors per step come from L2
# fast enough (as the forward's weight blocks).  In-process A/B, 1x1
# weight gradients (256 -> 64 at 56 x 56, 64 -> 256, 128 -> 512 at 28 x 28):
# AVX-512 float32 1.03-1.07x at 1 thread, 1.02-1.08x at 2, float64
# 1.00-1.04x, AVX2 1.02-1.12x; 4096 positions measured the same as 1024.

cdef enum:
    GEMM_PANEL = 1024        # positions per packed panel
    GEMM_ROW_BYTES = 524288  # per-thread partial sums (rows x KB) at most this


def gemm_grad_plan(Py_ssize_t Cg, Py_ssize_t Kg, dtype):
    """(kv, vec_k) for the channel-tile weight gradient of a one-tap
    convolution, or None where the dot-product tiles are used: the vectors
    run along the smaller of Kg and Cg (vec_k: along the output channels),
    which needs whole vectors of them (or at least 8 vectors), and the
    per-thread partial sums (the other count x KB) stay within
    GEMM_ROW_BYTES."""
    cdef Py_ssize_t vl = lanes(dtype)
    vec_k = Kg <= Cg
    m1 = Kg if vec_k else Cg
    m2 = Cg if vec_k else Kg
    if m1 < vl:
        return None
    kv = choose_kv(m1, dtype)
    # padded lanes: the dot-product tiles were faster (33, 40 float32
    # channels: 0.69x, 0.87x) unless the padding is a small share
    if m1 % vl and m1 < 8 * vl:
        return None
    if m2 * kv * vl * np.dtype(dtype).itemsize > GEMM_ROW_BYTES:
        return None
    return kv, vec_k


cdef inline void pack_panel(const floating* src, Py_ssize_t L, Py_ssize_t m,
                            Py_ssize_t KB, Py_ssize_t p0, Py_ssize_t p1,
                            floating* dst) noexcept nogil:
    """dst[(p - p0) * KB + j] = src[j * L + p] for p in [p0, p1): rows j < m
    of src, zero for m <= j < KB; by vector blocks (transpose: in registers
    where the vector extension has shuffles; element by element, the pack
    had been 11% of a pointwise layer's weight gradient)."""
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef Py_ssize_t j = 0, p, n = p1 - p0, mj, nj
    while j < KB:
        mj = m - j if m - j < VL else VL
        p = 0
        while p < n:
            nj = n - p if n - p < VL else VL
            transpose(src + (j * L if mj > 0 else 0) + p0 + p, L, mj if mj > 0 else 0,
                      nj, dst + p * KB + j, KB, VL)
            p += VL
        j += VL


cdef inline void gemm_grad_item(Py_ssize_t item, Py_ssize_t N, Py_ssize_t nchunks,
                                Py_ssize_t chunk0, Py_ssize_t G, Py_ssize_t Cg,
                                Py_ssize_t Kg, Py_ssize_t L, int kv, bint vec_k,
                                const floating* x, const floating* gy, floating* part,
                                floating* panel, floating* arow) noexcept nogil:
    """One block of KB packed rows (output channels when vec_k, else input
    channels) x all the other rows, of one (batch chunk, group): its images
    and panels in order, into part[chunk, g, k, c]."""
    cdef Py_ssize_t KB = kv * vector_lanes(<floating> 0)
    cdef Py_ssize_t m1 = Kg if vec_k else Cg
    cdef Py_ssize_t m2 = Cg if vec_k else Kg
    cdef Py_ssize_t nb = (m1 + KB - 1) // KB
    cdef Py_ssize_t blk = item % nb, g = (item // nb) % G, chunk = item // (nb * G)
    cdef Py_ssize_t r0 = blk * KB, nk = m1 - r0 if m1 - r0 < KB else KB
    cdef Py_ssize_t s1 = Cg if vec_k else 1, s2 = 1 if vec_k else Cg
    cdef Py_ssize_t n0 = chunk * N // nchunks, n1 = (chunk + 1) * N // nchunks
    cdef Py_ssize_t n, p0, p1, q, pb
    cdef bint first, last
    cdef const floating* gn
    cdef const floating* xn
    cdef const floating* rows
    cdef floating* out = part + ((chunk - chunk0) * G + g) * Kg * Cg + r0 * s1
    for n in range(n0, n1):
        gn = gy + (n * G + g) * Kg * L
        xn = x + (n * G + g) * Cg * L
        rows = xn if vec_k else gn
        p0 = 0
        while p0 < L:
            p1 = p0 + GEMM_PANEL if p0 + GEMM_PANEL < L else L
            pack_panel((gn if vec_k else xn) + r0 * L, L, nk, KB, p0, p1, panel)
            first = n == n0 and p0 == 0
            last = n == n1 - 1 and p1 == L
            q = 0
            while q < m2:
                pb = first_tile(kv, m2 - q)
                fwd_tile(kv, pb, rows + q * L + p0, panel, NULL, out + q * s2,
                         p1 - p0, 1, KB, 1, 1, 1, 0, 0, 0, 0, 0, L, nk, s1, s2,
                         NULL if first else arow + q * KB,
                         NULL if last else arow + q * KB, False, False)
                q += pb
            p0 = p1


def _run_gemm_grad(const floating[::1] x, const floating[::1] gy, floating[::1] slots,
                   floating[::1] total, Py_ssize_t N, Py_ssize_t G, Py_ssize_t Cg,
                   Py_ssize_t Kg, Py_ssize_t L, int kv, bint vec_k, Py_ssize_t nchunks,
                   int nthreads):
    """total = the weight gradient, [G][Kg][Cg], on the channel tiles
    (gemm_grad_plan gave kv, vec_k); batch chunks and slots as
    _run_dot_grad."""
    cdef Py_ssize_t KB = kv * vector_lanes(<floating> 0)
    cdef Py_ssize_t m1 = Kg if vec_k else Cg, m2 = Cg if vec_k else Kg
    cdef Py_ssize_t nitems = G * ((m1 + KB - 1) // KB), i, c0, nw, nslots
    cdef Py_ssize_t n = total.shape[0], t
    cdef floating[:, ::1] panels
    cdef floating[:, ::1] arows
    if x.shape[0] == 0 or gy.shape[0] == 0 or n == 0:
        return
    nslots = slots.shape[0] // n
    nthreads = max(1, min(nthreads, nslots * nitems))
    panels = scratch("grad_panel", nthreads, GEMM_PANEL * KB, float_dtype(<floating> 0))
    arows = scratch("grad_rows", nthreads, m2 * KB, float_dtype(<floating> 0))
    with nogil:
        c0 = 0
        while c0 < nchunks:
            nw = start_wave(&slots[0], n, nslots, c0, nchunks, nthreads)
            if nthreads > 1:
                for i in prange(nw * nitems, num_threads=nthreads, schedule="dynamic"):
                    t = omp_get_thread_num()
                    gemm_grad_item(c0 * nitems + i, N, nchunks, c0, G, Cg, Kg, L, kv,
                                   vec_k, &x[0], &gy[0], &slots[0], &panels[t, 0],
                                   &arows[t, 0])
            else:
                for i in range(nw * nitems):
                    gemm_grad_item(c0 * nitems + i, N, nchunks, c0, G, Cg, Kg, L, kv,
                                   vec_k, &x[0], &gy[0], &slots[0], &panels[0, 0],
                                   &arows[0, 0])
            if &slots[0] != &total[0]:
                end_wave(&total[0], &slots[0], n, nw, c0, nthreads)
            c0 += nw


cdef inline void lanes_to_part(const floating* acc, Py_ssize_t n, Py_ssize_t VL,
                               floating* out) noexcept nogil:
    """out[i] = acc[i*VL] + acc[i*VL + 1] + ... + acc[i*VL + VL-1], i < n: the
    lane partial sums of a work item, added in a fixed order (so the result
    does not depend on the thread that ran it)."""
    cdef Py_ssize_t i, l
    cdef floating s
    for i in range(n):
        s = acc[i * VL]
        for l in range(1, VL):
            s = s + acc[i * VL + l]
        out[i] = s


cdef enum:
    WAVE_BLOCK = 16384           # elements per thread work unit of start_wave / end_wave


cdef inline Py_ssize_t start_wave(floating* slots, Py_ssize_t n, Py_ssize_t nslots,
                                  Py_ssize_t c0, Py_ssize_t nchunks,
                                  int nthreads) noexcept nogil:
    """The next wave of batch chunks, [c0, c0 + nw): its slots zeroed (on
    nthreads for large tensors)."""
    cdef Py_ssize_t nw = nchunks - c0 if nchunks - c0 < nslots else nslots
    cdef Py_ssize_t j, nb = (nw * n + WAVE_BLOCK - 1) // WAVE_BLOCK
    if c0 > 0:
        for j in prange(nb, num_threads=nthreads if nb > 1 else 1, schedule="static"):
            memset(slots + j * WAVE_BLOCK, 0,
                   (WAVE_BLOCK if nw * n - j * WAVE_BLOCK > WAVE_BLOCK
                    else nw * n - j * WAVE_BLOCK) * sizeof(floating))
    return nw


cdef inline void end_wave(floating* total, const floating* slots, Py_ssize_t n,
                          Py_ssize_t nw, Py_ssize_t c0, int nthreads) noexcept nogil:
    """The slots of chunks c0 .. c0 + nw - 1 added into total in chunk order
    (chunk 0 copied): each element's sum in that order, so splitting the
    elements over threads (large tensors) changes no bit."""
    cdef Py_ssize_t i, j, k, k1, nb = (n + WAVE_BLOCK - 1) // WAVE_BLOCK
    for k in prange(nb, num_threads=nthreads if nb > 1 else 1, schedule="static"):
        k1 = (k + 1) * WAVE_BLOCK if (k + 1) * WAVE_BLOCK < n else n
        for i in range(nw):
            if c0 + i == 0:
                memcpy(total + k * WAVE_BLOCK, slots + k * WAVE_BLOCK,
                       (k1 - k * WAVE_BLOCK) * sizeof(floating))
            else:
                for j in range(k * WAVE_BLOCK, k1):
                    total[j] += slots[i * n + j]


cdef inline void finish_item(Py_ssize_t item, const floating* total, const floating* slots,
                             Py_ssize_t n, Py_ssize_t nw, Py_ssize_t nkb, Py_ssize_t T,
                             Py_ssize_t Cg, Py_ssize_t KB, Py_ssize_t Kt, Py_ssize_t Kg,
                             floating* out, floating* tmp) noexcept nogil:
    """finish_wave's item (g, kb, positions [p0, p0 + VL) of dw's rows, p =
    c * T + t): for each VL channels of the block, the sums of the VL
    positions' vectors (VL channels each) in tmp, transposed into VL whole
    vectors of the channels' rows in out."""
    cdef Py_ssize_t VL = vector_lanes(<floating> 0), CT = Cg * T
    cdef Py_ssize_t npc = (CT + VL - 1) // VL
    cdef Py_ssize_t p0 = (item % npc) * VL, kb = (item // npc) % nkb, g = item // (npc * nkb)
    cdef Py_ssize_t nk = Kt - kb * KB if Kt - kb * KB < KB else KB
    cdef Py_ssize_t pn = CT - p0 if CT - p0 < VL else VL
    cdef Py_ssize_t base = (g * nkb + kb) * T * Cg * KB
    cdef Py_ssize_t i0 = 0 if total != NULL else 1          # slots after the first term
    cdef Py_ssize_t pp, c, t, j0, jn, i, o
    cdef const floating* first = total if total != NULL else slots
    cdef cy_vf32 a32
    cdef cy_vf64 a64
    j0 = 0
    while j0 < nk:
        jn = nk - j0 if nk - j0 < VL else VL
        c = p0 // T
        t = p0 - c * T
        for pp in range(pn):
            o = base + (t * Cg + c) * KB + j0
            if floating is float:
                a32 = cy_load_f32(first + o)
                for i in range(i0, nw):
                    a32 = cy_add_f32(a32, cy_load_f32(slots + i * n + o))
                cy_store_f32(tmp + pp * VL, a32)
            else:
                a64 = cy_load_f64(first + o)
                for i in range(i0, nw):
                    a64 = cy_add_f64(a64, cy_load_f64(slots + i * n + o))
                cy_store_f64(tmp + pp * VL, a64)
            t += 1
            if t == T:
                t = 0
                c += 1
        transpose(tmp, VL, pn, jn, out + (g * Kg + kb * KB + j0) * CT + p0, CT, pn)
        j0 += VL


cdef inline void finish_wave(floating* out, const floating* total, const floating* slots,
                             Py_ssize_t n, Py_ssize_t nw, Py_ssize_t G, Py_ssize_t nkb,
                             Py_ssize_t T, Py_ssize_t Cg, Py_ssize_t KB, Py_ssize_t Kt,
                             Py_ssize_t Kg, floating* tmp, int nthreads) noexcept nogil:
    """The last wave of the channel tiles' weight gradient: total (the earlier
    waves' sum, or NULL for none) + the nw slots in chunk order (end_wave's
    order: the same bits), stored in dw's layout, out[g][k][c][t] for the
    first Kt of Kg channels per group, from [g][kb][t][c][KB]; tmp: VL x VL
    per thread.  Fused with the transposition, the sum reads the slots once
    (numpy's strided copy of the sum took a third of a 512 -> 512 3x3 weight
    gradient at 7 x 7, batch 1).  The transposed blocks are VL positions of
    dw's rows, stored as whole vectors."""
    cdef Py_ssize_t VL = vector_lanes(<floating> 0)
    cdef Py_ssize_t item, nitems = G * nkb * ((Cg * T + VL - 1) // VL)
    if n < PACK_PARALLEL_MIN or nthreads < 2:
        for item in range(nitems):
            finish_item(item, total, slots, n, nw, nkb, T, Cg, KB, Kt, Kg, out, tmp)
    else:
        with parallel(num_threads=nthreads):
            for item in prange(nitems, schedule="static"):
                finish_item(item, total, slots, n, nw, nkb, T, Cg, KB, Kt, Kg, out,
                            tmp + omp_get_thread_num() * VL * VL)


def weight_slots(Py_ssize_t nchunks, int nthreads, Py_ssize_t n, dtype):
    """Partial-sum tensors (n elements each) for the weight-gradient batch
    chunks: one per thread.  The chunks run in waves of that many
    (start_wave, end_wave); each wave's slots are added into the result in
    chunk order, so the summation order (chunk 0, + chunk 1, + chunk 2, ...)
    does not depend on the thread count."""
    slots = aligned_empty(max(1, min(nchunks, nthreads)) * n, dtype)
    slots.fill(0)
    return slots


def one_tap_slots(Py_ssize_t nchunks, int nthreads, dw):
    """weight_slots for the one-tap weight gradients, whose work items
    write (not add to) their part of a slot: with one batch chunk, dw itself
    (a 512 -> 2048 1x1 gradient at 7 x 7, batch 1: zeroing and copying a
    4 MiB slot had taken 12% of it)."""
    if nchunks == 1:
        return dw.reshape(-1)
    return weight_slots(nchunks, nthreads, dw.size, dw.dtype)


def conv_backward_weight(x, gy, dw, Py_ssize_t G, tuple stride, tuple pads,
                         tuple dilation, int nthreads):
    """dw = sum over batch and positions of gy (x) x-windows: x (N, C,
    *spatial), gy (N, K, *out), dw (K, C/G, *kernel) preallocated (zeros),
    1 to 3 spatial axes; stride, pads ((lo, hi)) and dilation per spatial
    axis.  The windows' padding holds zeros that multiply gy (0 * inf is
    NaN: _nonfinite)."""
    _backward_weight_kernels(x, gy, dw, G, stride, pads, dilation, nthreads)
    if not any(lo or hi for lo, hi in pads):
        return
    # A non-finite gy value whose window reads the input somewhere leaves
    # dw non-finite already: a finite dw (one pass at memory speed) and no
    # window wholly in the padding clear it, when dw is small beside gy;
    # else a finite gy (one pass over it, no larger than dw) does.  Only
    # when neither holds does weight_grad_nans read the bands of gy next to
    # the padding (numpy: its fixed cost outweighed a small layer's kernels).
    if dw.size * 8 <= gy.size:
        if array_finite(dw) and not empty_windows(
                forward_axes(x.shape[2:], dw.shape[2:], stride, pads, dilation, gy.shape[2:])):
            return
    elif array_finite(gy):
        return
    weight_grad_nans(dw, gy, x.shape[2:], stride, pads, dilation)


def _backward_weight_kernels(x, gy, dw, Py_ssize_t G, tuple stride, tuple pads,
                             tuple dilation, int nthreads):
    """conv_backward_weight's kernels (products with the padding skipped)."""
    axes = forward_axes(x.shape[2:], dw.shape[2:], stride, pads, dilation, gy.shape[2:])
    x, gy, dw = view5(x), view5(gy), view5(dw)
    N, C = x.shape[:2]
    K = gy.shape[1]
    Cg, Kg = C // G, K // G
    KD, KH, KW = dw.shape[2:]
    xf, gf = x.reshape(-1), gy.reshape(-1)
    VL = lanes(x.dtype)
    if lane_fits(axes, G, Cg, Kg, VL, False):
        _run_lane_grad(xf, gf, dw.reshape(-1), N, C, axes[1], axes[2], nthreads)
        return
    # the width path for few output channels, or for many over a short
    # reduction with at least 3 taps along w (its tiles pair gy rows with taps)
    short = Cg * KD * KH * KW <= WIDTH_MAX_REDUCTION and KW >= 3
    plan = width_path_plan(Cg, Kg, axes, x.dtype, short, seg=WIDTH_GRAD_SEG)
    if plan is not None:
        nchunks = backward_weight_chunks(N, G, Kg * Cg * KH * KW * VL)
        _run_width_grad(xf, gf, weight_slots(nchunks, nthreads, dw.size, x.dtype),
                        dw.reshape(-1), N, G, Cg, Kg, nchunks, axes, plan, nthreads)
        return
    if one_tap_axes(axes):
        L = x.shape[2] * x.shape[3] * x.shape[4]
        gp = gemm_grad_plan(Cg, Kg, x.dtype)
        if gp is not None:
            kv, vec_k = gp
            KB = kv * VL
            nb = -(-(Kg if vec_k else Cg) // KB)
            nchunks = backward_weight_chunks(N, G * nb, KB * (Cg if vec_k else Kg))
            _run_gemm_grad(xf, gf, one_tap_slots(nchunks, nthreads, dw), dw.reshape(-1), N, G,
                           Cg, Kg, L, kv, vec_k, nchunks, nthreads)
            return
        if L >= DOT_MIN_VECTORS * VL:     # rows long enough for the dot-product tiles
            nkblk = -(-Kg // DOT_KBLOCK)
            nchunks = backward_weight_chunks(N, G * nkblk, DOT_KBLOCK * Cg * VL)
            _run_dot_grad(xf, gf, one_tap_slots(nchunks, nthreads, dw), dw.reshape(-1), N, G,
                          Cg, Kg, L, nchunks, nthreads)
            return
    kv = choose_kv(Kg, x.dtype)
    KB = kv * VL
    out = dw.reshape((G, Kg, Cg, KD, KH, KW))
    # a few output channels past the last whole block (e.g. 33 = 2 x 16 + 1)
    # on the width path, as in the forward, rather than a block of KB
    # computed for them
    rem = left_over_channels(Kg, KB, VL)
    plan = None
    if rem:
        plan = width_path_plan(Cg, rem, axes, x.dtype, True, seg=WIDTH_GRAD_SEG)
    if plan is None:
        rem = 0
    Kt = Kg - rem
    if rem:
        nchunks = backward_weight_chunks(N, G, rem * Cg * KH * KW * VL)
        part = aligned_empty((G, rem, Cg, KD, KH, KW), x.dtype)
        part.fill(0)                    # (an empty input leaves it unwritten)
        _run_width_grad(xf, gf, weight_slots(nchunks, nthreads, part.size, x.dtype),
                        part.reshape(-1), N, G, Cg, rem, nchunks, axes, plan, nthreads,
                        Kg, Kt)
        out[:, Kt:] = part
        kv = choose_kv(Kt, x.dtype)
        KB = kv * VL
    nkb = -(-Kt // KB)
    block = Cg * KD * KH * KW * KB
    nchunks = backward_weight_chunks(N, G * nkb, block)
    bands = backward_weight_bands(N, nchunks, G * nkb, block, gy.shape[3],
                                  2 * K * Cg * KD * KH * KW * gy[0, 0].size)
    _run_backward_weight(xf, gf, weight_slots(nchunks * bands, nthreads, G * nkb * block,
                                              x.dtype),
                         dw.reshape(-1), N, G, Cg, Kt, kv, nchunks, axes, nthreads, Kg, bands)


# --------------------------------------------------------------------------
# FMA throughput probe: this machine's measured peak, for "% of peak"
# --------------------------------------------------------------------------

cdef double fma_chains_f32(Py_ssize_t iters) noexcept nogil:
    """12 independent vector FMA chains (enough to hide the FMA latency)."""
    cdef cy_vf32 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, b
    cdef float out[16]
    cdef float s = 0.999999
    cdef Py_ssize_t i
    b = cy_set1_f32(1e-7)
    # distinct starting values: identical chains would be merged by the compiler
    a0 = cy_set1_f32(1.0)
    a1 = cy_set1_f32(1.1)
    a2 = cy_set1_f32(1.2)
    a3 = cy_set1_f32(1.3)
    a4 = cy_set1_f32(1.4)
    a5 = cy_set1_f32(1.5)
    a6 = cy_set1_f32(1.6)
    a7 = cy_set1_f32(1.7)
    a8 = cy_set1_f32(1.8)
    a9 = cy_set1_f32(1.9)
    a10 = cy_set1_f32(2.0)
    a11 = cy_set1_f32(2.1)
    for i in range(iters):
        a0 = cy_fma_f32(b, a0, s)
        a1 = cy_fma_f32(b, a1, s)
        a2 = cy_fma_f32(b, a2, s)
        a3 = cy_fma_f32(b, a3, s)
        a4 = cy_fma_f32(b, a4, s)
        a5 = cy_fma_f32(b, a5, s)
        a6 = cy_fma_f32(b, a6, s)
        a7 = cy_fma_f32(b, a7, s)
        a8 = cy_fma_f32(b, a8, s)
        a9 = cy_fma_f32(b, a9, s)
        a10 = cy_fma_f32(b, a10, s)
        a11 = cy_fma_f32(b, a11, s)
    a0 = cy_fmav_f32(a0, a1, a2)
    a3 = cy_fmav_f32(a3, a4, a5)
    a6 = cy_fmav_f32(a6, a7, a8)
    a9 = cy_fmav_f32(a9, a10, a11)
    a0 = cy_fmav_f32(a0, a3, a6)
    a0 = cy_fmav_f32(a0, a9, b)
    cy_store_f32(out, a0)
    return out[0]


def fma_peak(int nthreads=1, double seconds=0.2):
    """Measured float32 FMA throughput in GFLOP/s on `nthreads` threads
    (an FMA counts 2 FLOPs); the float64 peak is half of it."""
    import time
    cdef Py_ssize_t iters = 1 << 20, t, nt = max(1, nthreads)
    cdef double sink = 0
    cdef double best = 0, dt
    fma_chains_f32(1000)
    samples = 0
    while samples < 5:
        t0 = time.perf_counter()
        with nogil:
            if nt > 1:
                for t in prange(nt, num_threads=nt, schedule="static"):
                    sink += fma_chains_f32(iters)
            else:
                sink += fma_chains_f32(iters)
        dt = time.perf_counter() - t0
        if dt < seconds / 5 and iters < (1 << 30):
            iters *= 2           # too short to time: grow, do not count
            continue
        samples += 1
        best = max(best, nt * iters * 12 * 2 * CY_VL_F32 / dt / 1e9)
    if sink != sink:       # keep the result alive
        best = -1
    return best

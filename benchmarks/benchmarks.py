"""asv benchmarks: every op family of cyconv on the suite of the forward
performance issue, against the anchors (torch CPU, scipy, numpy).

Thread counts are fixed per benchmark (the ``threads`` parameter is passed as
``num_threads`` and to the anchors; OMP_NUM_THREADS is pinned to the largest
count for anything else), so results are reproducible.  Every suite raises
NotImplementedError in setup when the checked-out commit lacks an op, so runs
over old history skip instead of crashing.
"""
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

try:        # imported once here, so the forkserver's children share it
    import torch  # noqa: E402
except ImportError:
    torch = None

# name: (N, Cin, spatial, Cout, kernel, stride, padding, groups, dilation)
LAYERS = {
    "r56_64_3x3": (8, 64, (56, 56), 64, (3, 3), 1, 1, 1, 1),
    "r28_128_3x3": (8, 128, (28, 28), 128, (3, 3), 1, 1, 1, 1),
    "r56_64to128_s2": (8, 64, (56, 56), 128, (3, 3), 2, 1, 1, 1),
    "stem_7x7_s2": (8, 3, (224, 224), 64, (7, 7), 2, 3, 1, 1),
    "pw_256to64": (8, 256, (56, 56), 64, (1, 1), 1, 0, 1, 1),
    "dw_128_3x3": (8, 128, (56, 56), 128, (3, 3), 1, 1, 128, 1),
    "dil2_64_3x3": (8, 64, (56, 56), 64, (3, 3), 1, 2, 1, 2),
    "odd_17to33_5x5": (3, 17, (37, 41), 33, (5, 5), 1, 2, 1, 1),
    "c1d_64_k9": (8, 64, (4096,), 64, (9,), 1, 4, 1, 1),
    "c1d_1to32_k31": (16, 1, (16000,), 32, (31,), 1, 15, 1, 1),
    "c3d_32": (2, 32, (16, 32, 32), 32, (3, 3, 3), 1, 1, 1, 1),
}
THREADS = [1, 2]
DTYPES = ["float32", "float64"]
# float64 is tracked on the dense layers (the cases with a float64 target)
FLOAT64_CASES = {"r56_64_3x3", "r28_128_3x3", "dil2_64_3x3", "c1d_64_k9", "c3d_32"}


class _Timing:
    """Timing settings shared by every suite: short warm-up (the ops are
    milliseconds long), a few repeats, bounded time per parameter set."""
    repeat = (1, 5, 1.0)
    warmup_time = 0.05
    timeout = 120


def _data(shape, dtype, seed=0):
    """Benchmark data: uniform values, cheap to make (timings do not depend
    on the values)."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32).astype(dtype, copy=False)


def _out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _cyconv():
    try:
        import cyconv
    except ImportError as e:
        raise NotImplementedError(f"cyconv not importable: {e}")
    return cyconv


def _need(mod, *names):
    for n in names:
        if not hasattr(mod, n):
            raise NotImplementedError(f"this commit has no cyconv.{n}")


class _Layer(_Timing):
    params = [list(LAYERS), DTYPES, THREADS]
    param_names = ["case", "dtype", "threads"]

    def setup(self, case, dtype, threads):
        if dtype == "float64" and case not in FLOAT64_CASES:
            raise NotImplementedError("float64 is tracked on the dense layers only")
        cy = self.cy = _cyconv()
        _need(cy, "conv", "conv_backward_input", "conv_backward_weight")
        N, C, sp, K, ks, s, p, g, d = LAYERS[case]
        self.x = _data((N, C) + sp, dtype)
        self.w = _data((K, C // g) + ks, dtype, 1)
        self.kw = dict(stride=s, padding=p, groups=g, dilation=d, num_threads=threads)
        out = tuple(_out_size(n, k, s, p, d) for n, k in zip(sp, ks))
        self.gy = _data((N, K) + out, dtype, 2)
        self.flops = 2 * N * K * math.prod(out) * (C // g) * math.prod(ks)
        self.call = self.make_call()

    def make_call(self):
        raise NotImplementedError

    def time_op(self, *args):
        self.call()

    def peakmem_op(self, *args):
        self.call()

    def track_gflops(self, *args):
        import timeit
        t = min(timeit.repeat(self.call, number=1, repeat=3))
        return self.flops / t / 1e9
    track_gflops.unit = "GFLOP/s"


class Forward(_Layer):
    """cyconv.conv on the layer suite."""
    def make_call(self):
        return lambda: self.cy.conv(self.x, self.w, **self.kw)


class BackwardInput(_Layer):
    """cyconv.conv_backward_input (the transposed convolution of grad_out)."""
    def make_call(self):
        return lambda: self.cy.conv_backward_input(self.gy, self.w, self.x.shape, **self.kw)


class BackwardWeight(_Layer):
    """cyconv.conv_backward_weight."""
    def make_call(self):
        return lambda: self.cy.conv_backward_weight(self.x, self.gy, self.w.shape, **self.kw)


TRANSPOSED = {
    "convT2d_128to64_4x4_s2": (8, 128, (28, 28), 64, (4, 4), 2, 1),
    "convT1d_64to32_k16_s8": (8, 64, (2048,), 32, (16,), 8, 4),
}


class Transposed(_Timing):
    """cyconv.conv_transpose as a forward op (upsampling layers)."""
    params = [list(TRANSPOSED), DTYPES, THREADS]
    param_names = ["case", "dtype", "threads"]

    def setup(self, case, dtype, threads):
        cy = self.cy = _cyconv()
        _need(cy, "conv_transpose")
        N, C, sp, K, ks, s, p = TRANSPOSED[case]
        self.x = _data((N, C) + sp, dtype)
        self.w = _data((C, K) + ks, dtype, 1)
        self.kw = dict(stride=s, padding=p, num_threads=threads)
        self.flops = 2 * self.x.size * K * math.prod(ks)

    def time_conv_transpose(self, *args):
        self.cy.conv_transpose(self.x, self.w, **self.kw)

    def peakmem_conv_transpose(self, *args):
        self.cy.conv_transpose(self.x, self.w, **self.kw)

    def track_gflops(self, *args):
        import timeit
        t = min(timeit.repeat(lambda: self.cy.conv_transpose(self.x, self.w, **self.kw),
                              number=1, repeat=3))
        return self.flops / t / 1e9
    track_gflops.unit = "GFLOP/s"


SIGNALS = {
    "signal_1d_1e6x31": ((1_000_000,), (31,), "convolve"),
    "image_2d_2048sq_5x5": ((2048, 2048), (5, 5), "correlate"),
}


class Signal(_Timing):
    """cyconv.convolve / cyconv.correlate ('same')."""
    params = [list(SIGNALS), DTYPES, THREADS]
    param_names = ["case", "dtype", "threads"]

    def setup(self, case, dtype, threads):
        cy = self.cy = _cyconv()
        a_shape, v_shape, fn = SIGNALS[case]
        _need(cy, fn)
        self.a = _data(a_shape, dtype)
        self.v = _data(v_shape, dtype, 1)
        self.fn = getattr(cy, fn)
        self.threads = threads
        self.flops = 2 * self.a.size * self.v.size

    def _call(self):
        return self.fn(self.a, self.v, "same", num_threads=self.threads)

    def time_same(self, *args):
        self._call()

    def peakmem_same(self, *args):
        self._call()

    def track_gflops(self, *args):
        import timeit
        return self.flops / min(timeit.repeat(self._call, number=1, repeat=3)) / 1e9
    track_gflops.unit = "GFLOP/s"


class CallOverhead(_Timing):
    """The fixed cost of one call (argument checks, planning, weight packing,
    allocation) on inputs too small for the kernels to matter: a 100-sample
    signal with 31 taps, a 1 x 3 x 8 x 8 image with four 3x3 filters; the
    anchors' times beside them (numpy, torch)."""
    params = [["convolve_100x31", "conv2d_3to4_8x8"], ["cyconv", "anchor"]]
    param_names = ["case", "library"]

    def setup(self, case, library):
        if case == "convolve_100x31":
            a = _data((100,), np.float64)
            v = _data((31,), np.float64, 1)
            if library == "cyconv":
                cy = _cyconv()
                _need(cy, "convolve")
                self.call = lambda: cy.convolve(a, v, "same", num_threads=1)
            else:
                self.call = lambda: np.convolve(a, v, "same")
            return
        x = _data((1, 3, 8, 8), np.float32)
        w = _data((4, 3, 3, 3), np.float32, 1)
        if library == "cyconv":
            cy = _cyconv()
            _need(cy, "conv2d")
            self.call = lambda: cy.conv2d(x, w, padding=1, num_threads=1)
        else:
            if torch is None:
                raise NotImplementedError("torch not installed")
            torch.set_num_threads(1)
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)

            def call():
                with torch.no_grad():
                    torch.nn.functional.conv2d(tx, tw, padding=1)
            self.call = call

    def time_call(self, *args):
        self.call()

    def track_cold_us(self, *args):
        """Median time of a call made right after 32 MiB were copied (the
        caches swept, as after a large call's kernel): the fixed cost then
        runs from memory, its code and objects no longer cached."""
        src = np.ones(1 << 22)
        dst = np.empty_like(src)
        times = []
        for _ in range(60):
            np.copyto(dst, src)
            t = time.perf_counter()
            self.call()
            times.append(time.perf_counter() - t)
        return float(np.median(times)) * 1e6

    track_cold_us.unit = "us"


class Anchors(_Timing):
    """The same cases on torch (CPU), scipy and numpy, for the dashboard to
    show cyconv's curves against theirs."""
    params = [list(LAYERS) + list(SIGNALS), ["fwd", "bwd_data", "bwd_weight"], THREADS]
    param_names = ["case", "op", "threads"]

    def setup(self, case, op, threads):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(threads)
        if case in SIGNALS:
            if op != "fwd":
                raise NotImplementedError("signal cases have no backward")
            a_shape, v_shape, fn = SIGNALS[case]
            a = _data(a_shape, np.float32)
            v = _data(v_shape, np.float32, 1)
            if a.ndim == 1:
                self.call = lambda: np.convolve(a, v, "same")            # numpy
            else:
                import scipy.ndimage
                self.call = lambda: scipy.ndimage.correlate(a, v, mode="constant")
            self.flops = 2 * a.size * v.size
            return
        if torch is None:
            raise NotImplementedError("torch not installed")
        torch.set_num_threads(threads)
        N, C, sp, K, ks, s, p, g, d = LAYERS[case]
        nd = len(sp)
        x = torch.from_numpy(_data((N, C) + sp, np.float32))
        w = torch.from_numpy(_data((K, C // g) + ks, np.float32, 1))
        kw = dict(stride=s, padding=p, groups=g, dilation=d)
        F = torch.nn.functional
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        out = tuple(_out_size(n, k, s, p, d) for n, k in zip(sp, ks))
        gy = torch.from_numpy(_data((N, K) + out, np.float32, 2))
        grad = {1: torch.nn.grad.conv1d_input, 2: torch.nn.grad.conv2d_input,
                3: torch.nn.grad.conv3d_input}[nd]
        gradw = {1: torch.nn.grad.conv1d_weight, 2: torch.nn.grad.conv2d_weight,
                 3: torch.nn.grad.conv3d_weight}[nd]
        fns = {"fwd": lambda: conv(x, w, **kw),
               "bwd_data": lambda: grad(x.shape, w, gy, **kw),
               "bwd_weight": lambda: gradw(x, w.shape, gy, **kw)}

        def call(f=fns[op]):
            with torch.no_grad():
                f()
        self.call = call
        self.flops = 2 * N * K * math.prod(out) * (C // g) * math.prod(ks)

    def teardown(self, *args):
        lim = getattr(self, "_limits", None)
        if lim is not None:
            lim.restore_original_limits()

    def time_anchor(self, *args):
        self.call()

    def track_anchor_gflops(self, *args):
        import timeit
        return self.flops / min(timeit.repeat(self.call, number=1, repeat=3)) / 1e9
    track_anchor_gflops.unit = "GFLOP/s"

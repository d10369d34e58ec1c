"""Leaks, concurrency, determinism, OpenMP interoperability, fork safety."""
import multiprocessing
import sys
import threading

import numpy as np
import pytest

import cyconv
from cyconv import _dispatch


def _ops(dtype=np.float32, seed=0, size=6):
    """Every public op on small shared inputs, as zero-argument callables."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4, size, size + 1)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    dw_x = rng.standard_normal((2, 4, size, size + 1)).astype(dtype)
    kw = dict(stride=(1, 2), padding=1, groups=2)
    gy = rng.standard_normal(cyconv.conv2d(x, w, **kw).shape).astype(dtype)
    sig = rng.standard_normal(300).astype(dtype)
    for a in (x, w, b, gy, sig, dw_x):
        a.flags.writeable = False
    return {
        "conv": lambda nt=None: cyconv.conv2d(x, w, b, **kw, num_threads=nt),
        "backward_input": lambda nt=None: cyconv.conv2d_backward_input(gy, w, x.shape, **kw,
                                                                       num_threads=nt),
        "backward_weight": lambda nt=None: cyconv.conv2d_backward_weight(dw_x, gy, w.shape, **kw,
                                                                         num_threads=nt),
        "backward_bias": lambda nt=None: cyconv.conv_backward_bias(gy),
        "conv_transpose": lambda nt=None: cyconv.conv_transpose2d(gy, w, b[:4], **kw,
                                                                  num_threads=nt),
        "depthwise": lambda nt=None: cyconv.conv2d(x, np.ones((4, 1, 3, 3), dtype), padding=1,
                                                   groups=4, num_threads=nt),
        "convolve": lambda nt=None: cyconv.convolve(sig, sig[:31], "same", num_threads=nt),
        "correlate": lambda nt=None: cyconv.correlate(x[0, 0], w[0, 0], "full", num_threads=nt),
    }, (x, w, b, gy, sig, dw_x)


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_no_leaks_rss_flat_and_refcounts_unchanged():
    ops, inputs = _ops()
    refs = [sys.getrefcount(a) for a in inputs]
    deltas = {}
    for name, op in ops.items():
        for _ in range(500):            # warm-up: caches, scratch buffers
            op()
        before = _rss_mib()
        for _ in range(10_000):
            op()
        deltas[name] = _rss_mib() - before
    assert [sys.getrefcount(a) for a in inputs] == refs
    assert max(deltas.values()) < 4.0, deltas


def test_concurrent_python_threads_match_serial():
    ops, _ = _ops(size=20)
    serial = {name: op(1).tobytes() for name, op in ops.items()}
    errors = []

    def worker(k):
        try:
            for rep in range(20):
                for name, op in ops.items():
                    nt = None if (k + rep) % 2 else 1
                    if op(nt).tobytes() != serial[name]:
                        errors.append((k, name))
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append((k, repr(e)))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors[:5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_bitwise_identical_across_threads_and_calls(dtype):
    ops, _ = _ops(dtype, size=40)
    for name, op in ops.items():
        ref = op(1).tobytes()
        for nt in (1, 2, 3, 4, None, 2):
            assert op(nt).tobytes() == ref, (name, nt)


def test_threadpoolctl_sees_and_limits_cyconv_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _dispatch.kernels.openmp_enabled():
        pytest.skip("serial build: no OpenMP runtime to control")
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info), info
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert _dispatch.kernels.max_threads() == 1          # what num_threads=None uses
        ops, _ = _ops()
        ops["conv"]()
    assert _dispatch.kernels.max_threads() >= 1


def _child(q):
    ops, _ = _ops(size=30)
    q.put(ops["conv"](None).sum().item() + ops["conv"](2).sum().item() if ops else None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork start method")
def test_fork_after_parallel_call_does_not_deadlock():
    """GCC's OpenMP hangs a forked child's first team when the parent ran
    one (the child's calls, even those asking for 2 threads, run on one)."""
    from cyconv import layers
    ops, _ = _ops(size=30)
    want = 2 * ops["conv"](2).sum().item()          # parallel region in the parent
    assert layers.threads_for(2, layers.SERIAL_WORK) == 2 and layers._team_started
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(timeout=60)
    hung = p.is_alive()
    if hung:
        p.kill()
    assert not hung, "child deadlocked after fork"
    assert p.exitcode == 0
    assert q.get(timeout=5) == pytest.approx(want)


def test_outputs_never_alias_inputs():
    ops, inputs = _ops()
    for name, op in ops.items():
        out = op()
        assert out.flags.writeable and out.flags.c_contiguous, name
        assert not any(np.may_share_memory(out, a) for a in inputs), name


@pytest.mark.parametrize("wshape, xshape, kw", [
    ((128, 128, 3, 3), (8, 128, 6, 6), dict(padding=1)),      # channel tiles
    ((64, 256, 1, 1), (8, 256, 8, 8), {}),                     # one-tap dot products
    ((2, 1, 3, 3), (16, 1, 12, 12), dict(padding=1)),          # width path
])
@pytest.mark.parametrize("nt", [1, 2])
def test_weight_gradient_partials_one_tensor_per_thread(wshape, xshape, kw, nt):
    """The batch chunks of the weight gradient keep at most one partial-sum
    weight tensor per thread (the chunks run in waves), plus one result in
    the channel tiles' layout: extra memory <= (threads + 1) weight tensors
    beside the returned gradient, however many chunks the batch has."""
    import tracemalloc
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xshape).astype(np.float32)
    w = np.zeros(wshape, np.float32)
    gy = rng.standard_normal(cyconv.conv2d(x, w, **kw).shape).astype(np.float32)
    cyconv.conv2d_backward_weight(x, gy, wshape, num_threads=nt, **kw)   # scratch buffers
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        dw = cyconv.conv2d_backward_weight(x, gy, wshape, num_threads=nt, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - dw.nbytes
    # 32 channels per block: the channel tiles pad the weight tensor to it
    padded = w.nbytes * max(1.0, 32 / wshape[0])
    assert extra <= (nt + 1) * padded + 64 * 1024, (extra, w.nbytes)

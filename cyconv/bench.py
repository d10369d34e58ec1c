"""``python -m cyconv bench``: the benchmark suite against the anchors.

Per case and op it prints cyconv's time, GFLOP/s, % of this machine's
measured FMA peak (``fma_peak`` of the kernels) and the ratio against every anchor
that is importable (torch CPU, scipy, numpy), all timed in this process,
interleaved (anchor, cyconv, anchor, ...), median of repeats.  A ratio above
1 means cyconv is faster.  GFLOP/s counts 2*N*Cout*out_size*(Cin/groups)*k.
"""
import argparse
import functools
import inspect
import json
import math
import sys
import time
import tracemalloc

import numpy as np

import cyconv
from cyconv import _dispatch

# name, N, Cin, spatial, Cout, kernel, stride, padding, groups, dilation
LAYERS = [
    ("r56_64_3x3", 8, 64, (56, 56), 64, (3, 3), 1, 1, 1, 1),
    ("r28_128_3x3", 8, 128, (28, 28), 128, (3, 3), 1, 1, 1, 1),
    ("r56_64to128_s2", 8, 64, (56, 56), 128, (3, 3), 2, 1, 1, 1),
    ("stem_7x7_s2", 8, 3, (224, 224), 64, (7, 7), 2, 3, 1, 1),
    ("pw_256to64", 8, 256, (56, 56), 64, (1, 1), 1, 0, 1, 1),
    ("dw_128_3x3", 8, 128, (56, 56), 128, (3, 3), 1, 1, 128, 1),
    ("dil2_64_3x3", 8, 64, (56, 56), 64, (3, 3), 1, 2, 1, 2),
    ("odd_17to33_5x5", 3, 17, (37, 41), 33, (5, 5), 1, 2, 1, 1),
    ("c1d_64_k9", 8, 64, (4096,), 64, (9,), 1, 4, 1, 1),
    ("c1d_1to32_k31", 16, 1, (16000,), 32, (31,), 1, 15, 1, 1),
    ("c3d_32", 2, 32, (16, 32, 32), 32, (3, 3, 3), 1, 1, 1, 1),
]
# extra backward-weight and transposed-convolution cases
BIG_BATCH = ("bww_big_batch", 256, 3, (32, 32), 16, (3, 3), 1, 1, 1, 1)
# name, N, Cin, spatial, Cout, kernel, stride, padding, output_padding
TRANSPOSED = [
    ("convT2d_128to64_4x4_s2", 8, 128, (28, 28), 64, (4, 4), 2, 1, 0),
    ("convT1d_64to32_k16_s8", 8, 64, (2048,), 32, (16,), 8, 4, 0),
]
OPS = ("fwd", "bwd_data", "bwd_weight")


def _median_interleaved(fns, repeats, budget, warm=True):
    """Median time of each function, calls interleaved round-robin.

    ``warm``: each timed call directly follows an untimed call of the same
    function.  On a shared machine a call that follows a few milliseconds of
    other work finds its code and data evicted from the caches and pays for
    it (on the 2-core development machine ~0.25 ms, whatever the call's size);
    in a plain round-robin only the function after the slowest one pays, so
    every function is timed warm, as the anchors' own figures are (repeated
    calls).  ``warm=False`` times the plain round-robin."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    end = time.perf_counter() + budget
    while min(len(t) for t in times) < repeats or (
            time.perf_counter() < end and min(len(t) for t in times) < 50):
        for f, t in zip(fns, times):
            if warm:
                f()
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def _extra_memory(f, output_bytes):
    """Peak bytes allocated during one call (numpy's buffers are traced),
    minus the returned output."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        f()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - output_bytes)


class Progress:
    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = max(total, 1), 0, stream
        self.enabled = stream.isatty()

    def step(self, label):
        self.done += 1
        if self.enabled:
            width = 30
            fill = int(width * self.done / self.total)
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] "
                              f"{self.done}/{self.total} {label[:40]:<40s}")
            self.stream.flush()
            if self.done == self.total:
                self.stream.write("\n")


def _anchors(wanted="all"):
    """The importable anchors among `wanted` ("all", "none" or a list)."""
    out = {}
    if wanted == "none":
        return out
    try:
        import torch
        out["torch"] = torch
    except ImportError:
        pass
    try:
        import scipy.ndimage  # noqa: F401
        import scipy.signal  # noqa: F401
        import scipy
        out["scipy"] = scipy
    except ImportError:
        pass
    if wanted != "all":
        keep = set(wanted.split(","))
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _steady_allocator():
    """Keep freed blocks in the process's heap for reuse (glibc: no mmap per
    large block, no trimming); returns False where that can't be set.

    By default glibc gives blocks over its (adaptive) mmap threshold back
    to the system when they are freed, so a function that allocates a large
    scratch buffer per call pays for fresh pages every call: torch's
    ``conv_transpose1d`` of the suite ran 2.3x slower that way, and its
    pointwise input gradient at 2 threads 4x slower, and which one a run
    got depended on what the process had freed before (the order of the
    cases).  A long-running program (a training loop) reuses its heap; the
    suite times every function in that steady state."""
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt     # glibc (musl's returns 0)
    except (OSError, AttributeError, TypeError):  # (TypeError: Windows)
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 1 GiB where the C library takes it, else its largest (32 MiB, 64-bit)
    for threshold in (1 << 30, 32 << 20):
        if mallopt(M_MMAP_THRESHOLD, threshold):
            return bool(mallopt(M_TRIM_THRESHOLD, min(2 * threshold, 2**31 - 1)))  # (an int)
    return False


ONE_THREAD = "cyconv 1t"      # the anchor name of --scaling's one-thread calls


def _takes_threads(fn):
    """True when the job function takes num_threads (the cyconv calls; not
    the training step, whose modules take torch's thread setting)."""
    try:
        return "num_threads" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _with_variant(variant, fn):
    """`fn` run with the kernels of SIMD variant `variant`."""
    def run():
        with _dispatch.using(variant):
            return fn()
    return run


def _torch_layer_fns(torch, nd, x, w, gy, kw):
    """torch's forward, input gradient and weight gradient for one case."""
    F = torch.nn.functional
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    gin = {1: torch.nn.grad.conv1d_input, 2: torch.nn.grad.conv2d_input,
           3: torch.nn.grad.conv3d_input}[nd]
    gw = {1: torch.nn.grad.conv1d_weight, 2: torch.nn.grad.conv2d_weight,
          3: torch.nn.grad.conv3d_weight}[nd]
    xt, wt, gyt = (torch.from_numpy(a) for a in (x, w, gy))

    def nograd(f):
        def run():
            with torch.no_grad():
                return f()
        return run
    return {"fwd": {"torch": nograd(lambda: conv(xt, wt, **kw))},
            "bwd_data": {"torch": nograd(lambda: gin(xt.shape, wt, gyt, **kw))},
            "bwd_weight": {"torch": nograd(lambda: gw(xt, wt.shape, gyt, **kw))}}


def layer_jobs(dtype, ops, anchors):
    """(case, op, flops, cyconv fn, {anchor: fn}, output bytes)."""
    torch = anchors.get("torch")
    rng = np.random.default_rng(0)
    jobs = []
    for case in LAYERS + [BIG_BATCH]:
        name, N, C, sp, K, ks, s, p, g, d = case
        nd = len(sp)
        x = rng.standard_normal((N, C) + sp).astype(dtype)
        w = rng.standard_normal((K, C // g) + ks).astype(dtype)
        kw = dict(stride=s, padding=p, groups=g, dilation=d)
        y = cyconv.conv(x, w, **kw)
        gy = rng.standard_normal(y.shape).astype(dtype)
        flops = 2 * y.size * (C // g) * math.prod(ks)
        mine = {
            "fwd": (lambda x=x, w=w, kw=kw, num_threads=None:
                    cyconv.conv(x, w, **kw, num_threads=num_threads), y.nbytes),
            "bwd_data": (lambda gy=gy, w=w, xs=x.shape, kw=kw, num_threads=None:
                         cyconv.conv_backward_input(gy, w, xs, **kw, num_threads=num_threads),
                         x.nbytes),
            "bwd_weight": (lambda x=x, gy=gy, ws=w.shape, kw=kw, num_threads=None:
                           cyconv.conv_backward_weight(x, gy, ws, **kw,
                                                       num_threads=num_threads), w.nbytes),
        }
        theirs = {op: {} for op in OPS}
        if torch is not None:
            theirs = _torch_layer_fns(torch, nd, x, w, gy, kw)
        case_ops = ("bwd_weight",) if case is BIG_BATCH else ops
        for op in case_ops:
            if op in ops:
                jobs.append((name, op, flops, mine[op][0], theirs[op], mine[op][1]))
    for name, N, C, sp, K, ks, s, p, op_ in TRANSPOSED:
        if "fwd" not in ops:
            continue
        x = rng.standard_normal((N, C) + sp).astype(dtype)
        w = rng.standard_normal((C, K) + ks).astype(dtype)
        y = cyconv.conv_transpose(x, w, stride=s, padding=p, output_padding=op_)
        flops = 2 * x.size * K * math.prod(ks)
        an = {}
        if torch is not None:
            ct = {1: torch.nn.functional.conv_transpose1d,
                  2: torch.nn.functional.conv_transpose2d}[len(sp)]
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)

            def run(ct=ct, xt=xt, wt=wt, s=s, p=p, op_=op_):
                with torch.no_grad():
                    return ct(xt, wt, stride=s, padding=p, output_padding=op_)
            an["torch"] = run
        jobs.append((name, "fwd", flops,
                     lambda x=x, w=w, s=s, p=p, op_=op_, num_threads=None:
                     cyconv.conv_transpose(x, w, stride=s, padding=p, output_padding=op_,
                                           num_threads=num_threads),
                     an, y.nbytes))
    return jobs


def _case_dtype(name, default):
    """The dtype a case runs in: the signal and image cases name theirs
    (the image is float32 whatever --dtype says), the layers take --dtype."""
    for dt in ("float32", "float64"):
        if name.endswith("_" + dt):
            return dt
    return default


def signal_jobs(dtype, anchors):
    rng = np.random.default_rng(1)
    jobs = []
    for dt in ([np.float64, np.float32] if dtype is None else [dtype]):
        a = rng.standard_normal(1_000_000).astype(dt)
        v = rng.standard_normal(31).astype(dt)
        an = {"numpy": lambda a=a, v=v: np.convolve(a, v, "same")}
        if "scipy" in anchors:
            ss = anchors["scipy"].signal
            an["scipy"] = lambda a=a, v=v: ss.convolve(a, v, "same", method="direct")
        jobs.append((f"signal_1d_1e6x31_{np.dtype(dt).name}", "fwd", 2 * a.size * v.size,
                     lambda a=a, v=v, num_threads=None:
                     cyconv.convolve(a, v, "same", num_threads=num_threads), an, a.nbytes))
    img = rng.standard_normal((2048, 2048)).astype(np.float32)
    k = rng.standard_normal((5, 5)).astype(np.float32)
    an = {}
    if "scipy" in anchors:
        sc = anchors["scipy"]
        an["scipy.ndimage"] = lambda: sc.ndimage.correlate(img, k, mode="constant")
        an["scipy.signal"] = lambda: sc.signal.correlate2d(img, k, "same")
    if "torch" in anchors:
        torch = anchors["torch"]
        it, kt = torch.from_numpy(img)[None, None], torch.from_numpy(k)[None, None]

        def run():
            with torch.no_grad():
                return torch.nn.functional.conv2d(it, kt, padding=2)
        an["torch"] = run
    jobs.append(("image_2d_2048sq_5x5_float32", "fwd", 2 * img.size * k.size,
                 lambda num_threads=None: cyconv.correlate(img, k, "same",
                                                           num_threads=num_threads),
                 an, img.nbytes))
    return jobs


def cnn_step_jobs(anchors):
    """A small CNN's training step (forward + backward, batch 64, 3x32x32, a
    depthwise layer in the middle) with cyconv.torch modules vs torch.nn."""
    torch = anchors.get("torch")
    if torch is None:
        return []
    import cyconv.torch as ct

    def net(mod):
        torch.manual_seed(0)
        return torch.nn.Sequential(
            mod.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
            mod.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.ReLU(),
            mod.Conv2d(32, 64, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    ours, theirs = net(ct), net(torch.nn)
    ours.load_state_dict(theirs.state_dict())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
        return run
    # conv FLOPs of forward + both backward passes
    flops = 3 * 2 * 64 * (32 * 32 * 32 * 3 * 9 + 32 * 32 * 32 * 9 + 64 * 16 * 16 * 32 * 9)
    return [("cnn_step_b64_3x32x32", "train_step", flops, step(ours),
             {"torch": step(theirs)}, 0)]


def concurrency(seconds=1.0):
    """Python-level parallelism: the same calls with num_threads=1 from one
    Python thread, then from two at once.  A speedup near 2 means the
    kernels really run without the GIL."""
    import threading
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 32, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    cases = {
        "conv2d": lambda: cyconv.conv2d(x, w, padding=1, num_threads=1),
        "backward_input": lambda: cyconv.conv2d_backward_input(
            x, w, x.shape, padding=1, num_threads=1),
        "backward_weight": lambda: cyconv.conv2d_backward_weight(
            x, x, w.shape, padding=1, num_threads=1),
        "depthwise": lambda: cyconv.conv2d(x, w[:, :1], padding=1, groups=32, num_threads=1),
    }
    print("GIL release: calls/s with num_threads=1, one Python thread vs two")
    for name, f in cases.items():
        f()
        n = max(4, int(seconds / max(_median_interleaved([f], 3, 0.1)[0], 1e-6)))
        t0 = time.perf_counter()
        for _ in range(2 * n):
            f()
        one = time.perf_counter() - t0

        def work():
            for _ in range(n):
                f()
        threads = [threading.Thread(target=work) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = time.perf_counter() - t0
        print(f"  {name:<16s} 1 thread {2 * n / one:8.1f}/s   2 threads {2 * n / two:8.1f}/s"
              f"   speedup {one / two:.2f}x")


def run(args):
    if args.concurrency:
        concurrency()
        return 0
    variants = [v.strip() for v in (args.simd or "").split(",") if v.strip()]
    if variants:
        _dispatch.use(variants[0])      # timed as "cyconv"; the others as anchors
    anchors = _anchors(args.anchors)
    allocator = "default"
    if args.allocator == "steady" and _steady_allocator():
        allocator = "steady"
    nt = args.threads or _dispatch.kernels.max_threads()
    if "torch" in anchors:
        anchors["torch"].set_num_threads(nt)
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(nt)
    except ImportError:
        limiter = None
    dtype = np.dtype(args.dtype).type
    ops = tuple(args.ops.split(","))
    jobs = layer_jobs(dtype, ops, anchors) + (signal_jobs(None if args.dtype == "float32"
                                                          else dtype, anchors)
                                              if "fwd" in ops else [])
    if "fwd" in ops:
        jobs += cnn_step_jobs(anchors)
    if args.cases:
        keys = args.cases.split(",")
        jobs = [j for j in jobs if any(k in j[0] for k in keys)]
    for v in variants[1:]:
        jobs = [(name, op, flops, mine, dict(theirs, **{f"simd:{v}": _with_variant(v, mine)}),
                 out_bytes) for name, op, flops, mine, theirs, out_bytes in jobs]
    if args.scaling and nt > 1:
        # cyconv itself at one thread, timed interleaved with the rest: its
        # column is the speed-up of nt threads over one, from the same run
        jobs = [(name, op, flops, mine,
                 dict(theirs, **{ONE_THREAD: functools.partial(mine, num_threads=1)})
                 if _takes_threads(mine) else theirs, out_bytes)
                for name, op, flops, mine, theirs, out_bytes in jobs]
    peak32 = _fma_peak(nt)
    print(f"cyconv {cyconv.__version__} ({_dispatch.variant} SIMD build): {nt} thread(s), "
          f"{args.dtype}; measured FMA peak "
          f"{peak32:.0f} GFLOP/s float32 ({peak32 / 2:.0f} float64); anchors: "
          f"{', '.join(sorted(anchors)) or 'none'}; allocator: {allocator}")
    rounds = max(1, args.rounds)
    prog = Progress(len(jobs) * rounds)
    records = []
    best = [None] * len(jobs)
    # num_threads is passed explicitly so the run does not depend on the environment
    with _threads(nt):
        # each round times every job once (median of interleaved repeats);
        # a function's time is its best round: a slow spell of a shared
        # machine (seconds long) rarely covers the same job in every round
        for _ in range(rounds):
            for i, (name, op, flops, mine, theirs, out_bytes) in enumerate(jobs):
                names = sorted(theirs)
                times = _median_interleaved([mine] + [theirs[n] for n in names],
                                            args.repeat, args.budget, not args.cold)
                best[i] = times if best[i] is None else [min(a, b) for a, b in
                                                         zip(best[i], times)]
                prog.step(f"{name} {op}")
            # the peak again after every round: one probe (a fifth of a
            # second) that fell on a slow spell of the shared machine would
            # understate it, and overstate every %peak; the best is the machine's
            peak32 = max(peak32, _fma_peak(nt))
        for (name, op, flops, mine, theirs, out_bytes), times in zip(jobs, best):
            names = sorted(theirs)
            dt = _case_dtype(name, args.dtype)
            rec = {"case": name, "op": op, "threads": nt, "dtype": dt,
                   "time_s": times[0], "gflops": flops / times[0] / 1e9,
                   "peak_pct": 100 * flops / times[0] / 1e9
                               / (peak32 if dt == "float32" else peak32 / 2),
                   "anchors": {n: {"time_s": t, "gflops": flops / t / 1e9,
                                   "ratio": t / times[0]} for n, t in zip(names, times[1:])}}
            if args.memory:
                rec["extra_mib"] = _extra_memory(mine, out_bytes) / 2**20
            records.append(rec)
    if limiter is not None:
        limiter.restore_original_limits()
    print(f"measured FMA peak, best of {rounds + 1} probes (before the timing and after "
          f"each round): {peak32:.0f} GFLOP/s float32 ({peak32 / 2:.0f} float64)")
    _print_table(records, args.memory)
    _summary(records)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_gflops_f32": peak32, "threads": nt, "simd": _dispatch.variant,
                       "rounds": rounds, "allocator": allocator, "records": records},
                      f, indent=1)
    if args.plot:
        _plot(records, peak32 if dtype == np.float32 else peak32 / 2, args.plot)
    return 0


def _fma_peak(nt):
    """The machine's float32 FMA peak on nt threads (GFLOP/s), measured with
    the widest SIMD variant this CPU runs."""
    from cyconv import layers
    layers.note_team(nt)
    return _dispatch.load(_dispatch.runnable_variants()[0]).fma_peak(nt)


class _threads:
    """OMP thread count for the run (cyconv reads it per call)."""
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
            self._lim = threadpool_limits(self.n, user_api="openmp")
        except ImportError:
            self._lim = None

    def __exit__(self, *exc):
        if self._lim is not None:
            self._lim.restore_original_limits()


def _print_table(records, memory):
    names = sorted({n for r in records for n in r["anchors"]})
    head = (f"{'case':<30s} {'op':<10s} {'time':>9s} {'GFLOP/s':>8s} {'%peak':>6s}"
            + "".join(f" {'x ' + n:>15s}" for n in names)
            + (f" {'extra MiB':>9s}" if memory else ""))
    print(head)
    print("-" * len(head))
    for r in records:
        line = (f"{r['case']:<30s} {r['op']:<10s} {r['time_s'] * 1e3:7.2f}ms "
                f"{r['gflops']:8.1f} {r['peak_pct']:5.0f}%")
        for n in names:
            a = r["anchors"].get(n)
            line += f" {a['ratio']:14.2f}x" if a else f" {'-':>15s}"
        if memory:
            line += f" {r.get('extra_mib', 0):9.2f}"
        print(line)


def _summary(records):
    layers = {c[0] for c in LAYERS}
    for anchor, what in (("torch", "geometric mean cyconv/torch"),
                         (ONE_THREAD, "cyconv's speed-up over 1 thread, geometric mean")):
        by_op = {}
        for r in records:
            t = r["anchors"].get(anchor)
            if t and r["case"] in layers:
                by_op.setdefault(r["op"], []).append(t["ratio"])
        for op, ratios in by_op.items():
            gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
            print(f"{what}, {op}: {gm:.2f}x over {len(ratios)} layer cases "
                  f"(min {min(ratios):.2f}x)")


def _plot(records, peak, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib (pip install 'cyconv[bench]')", file=sys.stderr)
        return
    labels = [f"{r['case']} {r['op']}" for r in records]
    names = ["cyconv"] + sorted({n for r in records for n in r["anchors"]})
    colors = {n: f"C{i}" for i, n in enumerate(names)}
    # per case only the series timed there, centred on its tick
    width = 0.8 / max(1 + len(r["anchors"]) for r in records)
    fig, ax = plt.subplots(figsize=(min(30, max(8, 0.45 * len(records))), 6))
    labelled = set()
    for x, r in enumerate(records):
        bars = [("cyconv", r["gflops"])] + [(n, r["anchors"][n]["gflops"])
                                            for n in names if n in r["anchors"]]
        for j, (n, v) in enumerate(bars):
            ax.bar(x + (j - (len(bars) - 1) / 2) * width, v, width, color=colors[n],
                   label=None if n in labelled else n)
            labelled.add(n)
    ax.axhline(peak, color="k", linestyle="--", label=f"measured FMA peak ({peak:.0f})")
    ax.set_xticks(np.arange(len(records)))
    ax.set_xticklabels(labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=7)
    ax.set_ylabel("GFLOP/s")
    ax.set_title("cyconv vs anchors")
    # beside the axes: inside them it covered the bars of the last cases
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cyconv bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="threads (default: OpenMP's)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--cases", default="", help="comma-separated substrings of case names")
    ap.add_argument("--ops", default=",".join(OPS), help="fwd,bwd_data,bwd_weight")
    ap.add_argument("--repeat", type=int, default=7, help="minimum timed repeats per function")
    ap.add_argument("--budget", type=float, default=0.5, help="seconds per case and op")
    ap.add_argument("--rounds", type=int, default=1,
                    help="time the suite this many times; each function's time is its "
                         "best round (median of repeats within a round)")
    ap.add_argument("--cold", action="store_true",
                    help="time each call right after the previous function's (plain "
                         "round-robin) instead of after an untimed call of its own")
    ap.add_argument("--memory", action="store_true", help="report extra memory per call")
    ap.add_argument("--json", default=None, help="write the records to this file")
    ap.add_argument("--plot", default=None, help="bar chart PNG (needs matplotlib)")
    ap.add_argument("--anchors", default="all",
                    help="anchors to time: all (the importable ones), none, or a list (torch,scipy)")
    ap.add_argument("--simd", default=None,
                    help="SIMD variants, comma-separated: the first is timed as cyconv, the "
                         "others beside it as anchors 'simd:<name>' (e.g. avx512,native)")
    ap.add_argument("--scaling", action="store_true",
                    help="also time cyconv at 1 thread beside every case, interleaved: "
                         "column 'x cyconv 1t' is the speed-up of --threads over one "
                         "thread measured in the same run")
    ap.add_argument("--allocator", default="steady", choices=["steady", "default"],
                    help="steady (default): freed blocks stay in the heap for reuse, as in a "
                         "long-running program (glibc); default: the C library's own policy, "
                         "under which per-call scratch buffers can cost fresh pages every call")
    ap.add_argument("--concurrency", action="store_true",
                    help="only measure 1 vs 2 Python threads (GIL release)")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

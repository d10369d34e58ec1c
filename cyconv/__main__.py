"""``python -m cyconv``: configuration, a self-check of every op, and timings.

    python -m cyconv            config + self-check + a timing table
    python -m cyconv check      config + self-check only
    python -m cyconv bench ...  the benchmark suite (see python -m cyconv bench -h)
    python -m cyconv train ...  train a small CNN on the digits (python -m cyconv train -h)
"""
import argparse
import sys
import time

import numpy as np

import cyconv
from cyconv import layers

# ----------------------------------------------------------------- self-check


def _shifted_sum(x, w, stride, pads, dilation):
    """Forward conv in float64 as a sum over taps of shifted, strided slices
    (groups = 1), independent of the compiled kernels."""
    nd = w.ndim - 2
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + list(pads))
    out = [(n + lo + hi - d * (k - 1) - 1) // s + 1
           for n, (lo, hi), k, s, d in zip(x.shape[2:], pads, w.shape[2:], stride, dilation)]
    y = np.zeros((x.shape[0], w.shape[0]) + tuple(out))
    for t in np.ndindex(*w.shape[2:]):
        sl = tuple(slice(ti * d, ti * d + s * (o - 1) + 1, s)
                   for ti, d, s, o in zip(t, dilation, stride, out))
        y += np.einsum("nc...,kc->nk...", xp[(slice(None), slice(None)) + sl],
                       w[(slice(None), slice(None)) + t].astype(np.float64))
    return y


def self_check(out=sys.stdout):
    """Run every op once on small random inputs; return True when all agree."""
    rng = np.random.default_rng(0)
    ok = True

    def report(name, err, tol):
        nonlocal ok
        good = bool(err <= tol)
        ok &= good
        print(f"  {name:<34s} max err {err:9.2e}  {'ok' if good else 'FAILED'}", file=out)

    def inner(a, b):
        return float(np.vdot(a.ravel().astype(np.float64), b.ravel().astype(np.float64)))

    for nd, stride, pad, dil in ((1, 2, 1, 1), (2, 1, 2, 2), (3, 2, 1, 1)):
        x = rng.standard_normal((2, 5) + (9,) * nd)
        w = rng.standard_normal((7, 5) + (3,) * nd)
        b = rng.standard_normal(7)
        kw = dict(stride=stride, padding=pad, dilation=dil)
        y = cyconv.conv(x, w, b, **kw)
        want = _shifted_sum(x, w, (stride,) * nd, [(pad, pad)] * nd, (dil,) * nd)
        want += b.reshape((1, -1) + (1,) * nd)
        report(f"conv{nd}d forward", np.abs(y - want).max(), 1e-10)
        g = rng.standard_normal(y.shape)
        lhs = inner(y - b.reshape((1, -1) + (1,) * nd), g)
        dx = cyconv.conv_backward_input(g, w, x.shape, **kw)
        dw = cyconv.conv_backward_weight(x, g, w.shape, **kw)
        report(f"conv{nd}d backward_input (adjoint)", abs(lhs - inner(x, dx)) / abs(lhs), 1e-10)
        report(f"conv{nd}d backward_weight (adjoint)", abs(lhs - inner(w, dw)) / abs(lhs), 1e-10)
        up = cyconv.conv_transpose(g, w, None, **kw,
                                   output_padding=(x.shape[2] + 2 * pad - dil * 2 - 1) % stride)
        report(f"conv_transpose{nd}d", np.abs(up - dx).max(), 1e-12)
    a, v = rng.standard_normal(1000), rng.standard_normal(31)
    for mode in ("full", "same", "valid"):
        report(f"convolve 1-D '{mode}' vs numpy",
               np.abs(cyconv.convolve(a, v, mode) - np.convolve(a, v, mode)).max(), 1e-10)
        report(f"correlate 1-D '{mode}' vs numpy",
               np.abs(cyconv.correlate(a, v, mode) - np.correlate(a, v, mode)).max(), 1e-10)
    img, k = rng.standard_normal((40, 50)), rng.standard_normal((5, 4))
    full = cyconv.convolve(img, k)
    want = _shifted_sum(img[None, None], k[::-1, ::-1][None, None], (1, 1),
                        [(4, 4), (3, 3)], (1, 1))[0, 0]
    report("convolve 2-D 'full'", np.abs(full - want).max(), 1e-10)
    return ok


# ----------------------------------------------------------------- timings

def _best(f, repeats=5, budget=0.4):
    f()
    times = []
    end = time.perf_counter() + budget
    while len(times) < repeats or (time.perf_counter() < end and len(times) < 50):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _anchors():
    found = {}
    try:
        import torch
        found["torch"] = torch
    except ImportError:
        pass
    try:
        import scipy.ndimage
        import scipy.signal
        found["scipy"] = scipy
    except ImportError:
        pass
    return found


def timings(out=sys.stdout):
    an = _anchors()
    rng = np.random.default_rng(1)
    rows = []
    torch = an.get("torch")
    if torch is not None:
        torch.set_num_threads(cyconv._dispatch.kernels.max_threads())
    F = torch.nn.functional if torch else None

    def layer(name, xs, ws, **kw):
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        y = cyconv.conv(x, w, **kw)
        flops = 2 * y.size * w[0].size
        t = _best(lambda: cyconv.conv(x, w, **kw))
        anchors = {}
        if F is not None:
            conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[w.ndim]
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            with torch.no_grad():
                anchors["torch"] = _best(lambda: conv(xt, wt, **kw))
        rows.append((name, flops, t, anchors))

    layer("conv2d 8x64->64 56x56 3x3", (8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    layer("conv2d 8x128->128 28x28 3x3", (8, 128, 28, 28), (128, 128, 3, 3), padding=1)
    layer("conv2d depthwise 8x128 56x56", (8, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128)
    layer("conv1d 8x64->64 L4096 k9", (8, 64, 4096), (64, 64, 9), padding=4)

    sig = rng.standard_normal(1_000_000)
    taps = rng.standard_normal(31)
    anchors = {"numpy": _best(lambda: np.convolve(sig, taps, "same"))}
    if "scipy" in an:
        ss = an["scipy"].signal
        anchors["scipy"] = _best(lambda: ss.convolve(sig, taps, "same", method="direct"))
    rows.append(("convolve 1e6 x 31 f64 'same'", 2 * sig.size * taps.size,
                 _best(lambda: cyconv.convolve(sig, taps, "same")), anchors))

    img = rng.standard_normal((1024, 1024)).astype(np.float32)
    k5 = rng.standard_normal((5, 5)).astype(np.float32)
    anchors = {}
    if "scipy" in an:
        nd = an["scipy"].ndimage
        anchors["scipy"] = _best(lambda: nd.correlate(img, k5, mode="constant"))
    rows.append(("correlate 1024^2 x 5x5 f32 'same'", 2 * img.size * k5.size,
                 _best(lambda: cyconv.correlate(img, k5, "same")), anchors))

    names = sorted({a for *_, anc in rows for a in anc})
    head = f"  {'case':<36s} {'cyconv':>9s} {'GFLOP/s':>8s}" + "".join(f" {'x ' + n:>10s}" for n in names)
    print(head, file=out)
    for name, flops, t, anc in rows:
        line = f"  {name:<36s} {t * 1e3:7.2f}ms {flops / t / 1e9:8.1f}"
        for n in names:
            line += f" {anc[n] / t:9.2f}x" if n in anc else f" {'-':>10s}"
        print(line, file=out)
    print("  (x anchor = anchor time / cyconv time: above 1 means cyconv is faster)", file=out)
    if not names:
        print("  no anchors importable (install scipy and torch==2.13.0 to compare)", file=out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from cyconv.bench import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["train"]:
        from cyconv.train import main as train_main
        return train_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m cyconv", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="all", choices=["all", "check"])
    args = ap.parse_args(argv)
    cyconv.show_config()
    print("\nself-check against float64 references:")
    ok = self_check()
    if args.command == "all":
        print(f"\ntimings (median of repeats, float32 unless noted, "
              f"{cyconv._dispatch.kernels.max_threads()} threads):")
        timings()
    print("\nall checks passed" if ok else "\nSELF-CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Property-based fuzzing of the whole API with valid and invalid arguments:
every call either returns what the float64 reference computes or raises a
TypeError / ValueError; nothing else (no crash, no other exception, no
garbage).  CI runs it against a debug build with bounds checks on
(CYCONV_DEBUG_BUILD=1) with CYCONV_FUZZ_EXAMPLES=2000."""
import os

import numpy as np
from hypothesis import event, given, settings, strategies as st

import cyconv
import reference as ref

EXAMPLES = int(os.environ.get("CYCONV_FUZZ_EXAMPLES", "300"))
DTYPES = [np.float32, np.float64, np.float32, np.float64, np.float16, np.int32, np.bool_,
          np.complex64]


def _bad(draw):
    """True about one time in ten: this argument gets corrupted."""
    return draw(st.integers(0, 9)) == 0


def _per_dim(draw, nd, lo, hi):
    if _bad(draw):
        return draw(st.sampled_from([0, -1, 1.5, True, (lo,) * (nd + 1), (lo - 1,) * nd]))
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return tuple(draw(st.integers(lo, hi)) for _ in range(nd))


@st.composite
def calls(draw):
    nd = draw(st.integers(1, 3))
    N = draw(st.integers(0, 2)) if _bad(draw) else draw(st.integers(1, 2))
    groups = draw(st.sampled_from([0, -1, 1.5])) if _bad(draw) else draw(st.sampled_from([1, 1, 2, 3]))
    Cg = draw(st.integers(0, 3)) if _bad(draw) else draw(st.integers(1, 3))
    Kg = draw(st.integers(0, 4)) if _bad(draw) else draw(st.integers(1, 4))
    kernel = tuple(draw(st.integers(0, 3)) if _bad(draw) else draw(st.integers(1, 3))
                   for _ in range(nd))
    stride = _per_dim(draw, nd, 1, 3)
    dilation = _per_dim(draw, nd, 1, 2)
    if _bad(draw):
        padding = draw(st.sampled_from([-1, "circular", 1.0, ((0, -1),) * nd, (0,) * (nd + 1)]))
    else:
        padding = draw(st.sampled_from([
            0, 1, 2, "valid", "same", "full", tuple(draw(st.integers(0, 2)) for _ in range(nd)),
            tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))]))
    spatial = tuple(draw(st.integers(0, 8)) if _bad(draw) else draw(st.integers(3, 8))
                    for _ in range(nd))
    xdt = draw(st.sampled_from(DTYPES)) if _bad(draw) else draw(st.sampled_from(DTYPES[:2]))
    wdt = draw(st.sampled_from(DTYPES)) if _bad(draw) else xdt
    g = groups if isinstance(groups, int) and groups > 0 else 1
    C, K = Cg * g + (1 if _bad(draw) else 0), Kg * g
    seed = draw(st.integers(0, 2**31 - 1))
    op = draw(st.sampled_from(["forward", "backward_input", "backward_weight", "transpose",
                               "convolve", "correlate"]))
    bias = draw(st.sampled_from([None, "ok", "ok", "bad" if _bad(draw) else None]))
    num_threads = draw(st.sampled_from([0, -1, 10**6])) if _bad(draw) else \
        draw(st.sampled_from([None, 1, 2, 3]))
    return dict(nd=nd, N=N, groups=groups, C=C, K=K, Cg=Cg, kernel=kernel, spatial=spatial,
                stride=stride, dilation=dilation, padding=padding, xdt=xdt, wdt=wdt, seed=seed,
                op=op, bias=bias, num_threads=num_threads)


def _norm(v, nd):
    return v if isinstance(v, tuple) else (v,) * nd


def _pads(padding, nd, kernel, dilation):
    if isinstance(padding, str):
        eff = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return {"valid": [(0, 0)] * nd, "full": [(e, e) for e in eff],
                "same": [(e // 2, e - e // 2) for e in eff]}[padding]
    return [p if isinstance(p, tuple) else (p, p) for p in _norm(padding, nd)]


def _check(got, want, want_abs, length):
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= ref.sum_abs_bound(want_abs, length, got.dtype)), err.max()


@settings(max_examples=EXAMPLES, deadline=None)
@given(calls())
def test_fuzz_all_ops(c):
    rng = np.random.default_rng(c["seed"])
    nd = c["nd"]
    x = (rng.standard_normal((c["N"], c["C"]) + c["spatial"]) * 2).astype(c["xdt"])
    w = (rng.standard_normal((c["K"], c["Cg"]) + c["kernel"]) * 2).astype(c["wdt"])
    b = {None: None, "ok": rng.standard_normal(c["K"]).astype(c["xdt"]),
         "bad": np.ones(c["K"] + 1, c["xdt"])}[c["bias"]]
    opts = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                groups=c["groups"], num_threads=c["num_threads"])
    try:
        if c["op"] == "forward":
            got = cyconv.conv(x, w, b, **opts)
        elif c["op"] in ("convolve", "correlate"):
            f = getattr(cyconv, c["op"])
            got = f(x.reshape(-1)[:7] if nd == 1 else x.reshape(x.shape[2:] if x.size else (0,) * nd),
                    w.reshape(-1)[:4] if nd == 1 else w.reshape(w.shape[2:] if w.size else (0,) * nd),
                    mode=c["padding"] if isinstance(c["padding"], str) else "full")
        else:
            y = cyconv.conv(x, w, None, **opts)       # valid geometry first
            gy = rng.standard_normal(y.shape).astype(y.dtype)
            if c["op"] == "backward_input":
                got = cyconv.conv_backward_input(gy, w, x.shape, **opts)
            elif c["op"] == "backward_weight":
                got = cyconv.conv_backward_weight(x, gy, w.shape, **opts)
            else:
                got = cyconv.conv_transpose(gy, w, None, stride=c["stride"], padding=c["padding"],
                                            dilation=c["dilation"], groups=c["groups"],
                                            num_threads=c["num_threads"])
    except (TypeError, ValueError) as e:
        event(f"{c['op']}: {type(e).__name__}")
        return
    event(f"{c['op']}: computed and checked")
    # it returned: it must be right
    assert np.isfinite(got).all() or not np.isfinite(x).all()
    if c["op"] in ("convolve", "correlate"):
        return      # semantics are covered by test_signal; here: no crash, finite
    s, d = _norm(c["stride"], nd), _norm(c["dilation"], nd)
    pads = _pads(c["padding"], nd, c["kernel"], d)
    g = c["groups"]
    if c["op"] == "forward":
        want = ref.conv(x, w, b, s, pads, d, g)
        absw = ref.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), s, pads, d, g)
        _check(got, want, absw, int(np.prod(w.shape[1:])) + 1)
    elif c["op"] == "backward_input":
        _check(got, ref.backward_input(gy, w, x.shape, s, pads, d, g),
               ref.backward_input(np.abs(gy), np.abs(w), x.shape, s, pads, d, g),
               max(int(np.prod(w.shape[:1] + w.shape[2:])), 1))
    elif c["op"] == "backward_weight":
        _check(got, ref.backward_weight(x, gy, w.shape, s, pads, d, g),
               ref.backward_weight(np.abs(x), np.abs(gy), w.shape, s, pads, d, g),
               max(int(np.prod(gy.shape[:1] + gy.shape[2:])), 1))
    else:
        assert got.dtype == gy.dtype and got.shape[:2] == (gy.shape[0], w.shape[1] * g)

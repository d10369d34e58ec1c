"""Hypothesis strategies for convolution problems."""
import numpy as np
from hypothesis import strategies as st


@st.composite
def conv_problems(draw, max_nd=3, allow_strings=True):
    """A valid convolution problem: shapes, options, dtype, arrays."""
    nd = draw(st.integers(1, max_nd))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    depthwise = draw(st.booleans()) and groups > 1
    Cg = 1 if depthwise else draw(st.integers(1, 4))
    Kg = 1 if depthwise else draw(st.sampled_from([1, 2, 3, 5, 8, 17, 33]))
    N = draw(st.integers(1, 3))
    small = 3 if nd == 3 else 5
    kernel = tuple(draw(st.lists(st.integers(1, small), min_size=nd, max_size=nd)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    dilation = tuple(draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    forms = ["int", "tuple", "pairs"]
    if allow_strings:
        forms += ["valid", "full"] + (["same"] if all(s == 1 for s in stride) else [])
    form = draw(st.sampled_from(forms))
    if form == "int":
        p = draw(st.integers(0, 3))
        padding, pads = p, [(p, p)] * nd
    elif form == "tuple":
        padding = tuple(draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd)))
        pads = [(p, p) for p in padding]
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        pads = list(padding)
    else:
        padding = form
        eff = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pads = {"valid": [(0, 0)] * nd, "full": [(e, e) for e in eff],
                "same": [(e // 2, e - e // 2) for e in eff]}[form]
    # input at least the effective kernel minus padding; sometimes exactly that
    spatial = []
    for k, d, (lo, hi) in zip(kernel, dilation, pads):
        need = max(1, d * (k - 1) + 1 - lo - hi)
        spatial.append(need + draw(st.sampled_from([0, 0, 1, 2, 5, 11])))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    C, K = Cg * groups, Kg * groups
    x = rng.standard_normal((N, C) + tuple(spatial)).astype(dtype)
    w = rng.standard_normal((K, Cg) + kernel).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return dict(x=x, w=w, b=b, stride=stride, padding=padding, pads=pads,
                dilation=dilation, groups=groups, rng=rng)


def out_shape(x, w, stride, pads, dilation):
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(x.shape[2:], w.shape[2:], stride, pads, dilation))

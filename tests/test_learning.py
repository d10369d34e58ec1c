"""cyconv.torch (autograd adapter), cyconv.nn (numpy layers) and training."""
import numpy as np
import pytest

import cyconv
from cyconv import nn


@pytest.fixture(scope="module")
def ct(torch):
    import cyconv.torch as ct
    return ct


OPTIONS = [
    # nd, stride, padding, dilation, groups, bias
    (1, 1, 0, 1, 1, True),
    (1, 2, 2, 1, 1, False),
    (2, 1, "same", 1, 1, True),
    (2, (2, 1), (1, 0), (1, 2), 2, True),
    (2, 1, "valid", 2, 3, False),
    (2, 1, 1, 1, 6, True),             # depthwise
    (3, 1, 1, 1, 1, True),
    (3, (1, 2, 1), 0, 1, 2, False),
]


@pytest.mark.parametrize("nd,stride,padding,dilation,groups,bias", OPTIONS)
def test_gradcheck_conv(torch, ct, nd, stride, padding, dilation, groups, bias):
    g = torch.Generator().manual_seed(nd)
    x = torch.randn((2, 6) + (5,) * nd, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn((6, 6 // groups) + (3,) * nd, dtype=torch.float64, generator=g,
                    requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, generator=g, requires_grad=True) if bias else None
    f = {1: ct.conv1d, 2: ct.conv2d, 3: ct.conv3d}[nd]
    inputs = (x, w, b) if bias else (x, w)
    fn = (lambda x, w, b: f(x, w, b, stride, padding, dilation, groups)) if bias else \
        (lambda x, w: f(x, w, None, stride, padding, dilation, groups))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_gradcheck_padding_pairs_and_full(torch, ct):
    """cyconv's extra padding forms ((lo, hi) pairs, 'full') through autograd."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 3, 2, dtype=torch.float64, generator=g, requires_grad=True)
    for padding in (((2, 0), (0, 1)), "full"):
        assert torch.autograd.gradcheck(lambda x, w: ct.conv2d(x, w, None, 1, padding), (x, w),
                                        eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("nd,stride,padding,opad,dilation,groups", [
    (1, 2, 1, 1, 1, 1), (2, (2, 3), (1, 0), (1, 2), 1, 2), (2, 1, 0, 0, 2, 1),
    (3, 2, 1, 0, 1, 1)])
def test_gradcheck_conv_transpose(torch, ct, nd, stride, padding, opad, dilation, groups):
    g = torch.Generator().manual_seed(10 + nd)
    x = torch.randn((2, 4) + (4,) * nd, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn((4, 6 // groups) + (3,) * nd, dtype=torch.float64, generator=g,
                    requires_grad=True)
    b = torch.randn(6 // groups * groups, dtype=torch.float64, generator=g, requires_grad=True)
    f = {1: ct.conv_transpose1d, 2: ct.conv_transpose2d, 3: ct.conv_transpose3d}[nd]
    assert torch.autograd.gradcheck(
        lambda x, w, b: f(x, w, b, stride, padding, opad, groups, dilation), (x, w, b),
        eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("nd,stride,padding,dilation,groups,bias", OPTIONS)
def test_gradients_match_torch_float32(torch, ct, nd, stride, padding, dilation, groups, bias):
    g = torch.Generator().manual_seed(20 + nd)
    x = torch.randn((3, 6) + (9,) * nd, generator=g)
    w = torch.randn((12, 6 // groups) + (3,) * nd, generator=g)
    b = torch.randn(12, generator=g) if bias else None
    gy = None
    results = []
    for f in ({1: ct.conv1d, 2: ct.conv2d, 3: ct.conv3d}[nd],
              {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
               3: torch.nn.functional.conv3d}[nd]):
        xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
        bs = b.clone().requires_grad_() if bias else None
        y = f(xs, ws, bs, stride, padding, dilation, groups)
        if gy is None:
            gy = torch.randn(y.shape, generator=g)
        y.backward(gy)
        results.append([y.detach(), xs.grad, ws.grad] + ([bs.grad] if bias else []))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=2e-4, atol=2e-4)


def test_modules_are_drop_in(torch, ct):
    torch.manual_seed(0)
    pairs = [(torch.nn.Conv1d(4, 6, 3, padding=1), ct.Conv1d(4, 6, 3, padding=1), (2, 4, 10)),
             (torch.nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
              ct.Conv2d(4, 6, 3, stride=2, groups=2, bias=False), (2, 4, 9, 9)),
             (torch.nn.Conv3d(2, 3, 2, padding="same"), ct.Conv3d(2, 3, 2, padding="same"),
              (1, 2, 5, 5, 5)),
             (torch.nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
              ct.ConvTranspose2d(4, 3, 4, stride=2, padding=1), (2, 4, 7, 7))]
    for theirs, ours, shape in pairs:
        ours.load_state_dict(theirs.state_dict())          # same parameter names
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        x = torch.randn(shape)
        torch.testing.assert_close(ours(x), theirs(x), rtol=2e-4, atol=2e-4)
        torch.testing.assert_close(ours(x[0]), theirs(x[0]), rtol=2e-4, atol=2e-4)  # unbatched
    with pytest.raises(ValueError, match="padding_mode"):
        ct.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")(torch.randn(1, 2, 5, 5))


def test_no_copies_for_contiguous_tensors(torch, ct):
    import cyconv.torch as adapter
    t = torch.randn(2, 3, 4, 4)
    assert np.shares_memory(adapter.as_numpy(t, "x"), t.numpy())
    with pytest.raises(TypeError, match="float32 or float64"):
        ct.conv2d(t.half(), torch.randn(2, 3, 3, 3).half())


# ---------------------------------------------------------------- numpy layers

def _numeric_grad(f, a, h=1e-6, picks=8, rng=None):
    rng = rng or np.random.default_rng(0)
    out = {}
    for i in rng.choice(a.size, size=min(picks, a.size), replace=False):
        old = a.flat[i]
        a.flat[i] = old + h
        fp = f()
        a.flat[i] = old - h
        fm = f()
        a.flat[i] = old
        out[i] = (fp - fm) / (2 * h)
    return out


def test_numpy_layers_gradients():
    """Every cyconv.nn layer's backward against central differences (float64)."""
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv(2, 4, 3, padding=1, rng=rng, dtype=np.float64), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5, rng=rng,
                                                                   dtype=np.float64))
    loss = nn.SoftmaxCrossEntropy()
    x = rng.standard_normal((3, 2, 6, 6))
    labels = np.array([0, 3, 4])

    def f():
        return loss.forward(model.forward(x), labels)
    f()
    gx = model.backward(loss.backward())
    grads = {id(p): p.grad.copy() for p in model.params()}
    for i, num in _numeric_grad(f, x).items():
        assert abs(num - gx.flat[i]) <= 1e-6 * (1 + abs(num))
    for p in model.params():
        for i, num in _numeric_grad(f, p.value).items():
            assert abs(num - grads[id(p)].flat[i]) <= 1e-6 * (1 + abs(num))


def test_one_step_matches_between_numpy_and_torch_adapter(torch, sklearn):
    """The same network, weights and batch: cyconv.nn and cyconv.torch give
    the same loss and parameter gradients."""
    from cyconv.train import load_digits_split, numpy_model, torch_model
    x, y, _, _ = load_digits_split(0)
    xb, yb = x[:32], y[:32]
    npm, thm = numpy_model(0), torch_model(0)
    lf = nn.SoftmaxCrossEntropy()
    loss_np = lf.forward(npm.forward(xb), yb)
    npm.backward(lf.backward())
    loss_t = torch.nn.functional.cross_entropy(thm(torch.from_numpy(xb)), torch.from_numpy(yb))
    loss_t.backward()
    assert abs(loss_np - loss_t.item()) < 1e-5
    np_grads = [p.grad for p in npm.params()]
    t_grads = [p.grad.numpy() for p in thm.parameters()]
    assert len(np_grads) == len(t_grads)
    for a, b in zip(np_grads, t_grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_training_reaches_high_accuracy_and_is_reproducible(sklearn):
    """A shortened schedule (6 of the default 15 epochs)."""
    from cyconv.train import train_numpy
    _, h1 = train_numpy(epochs=6, log=False)
    _, h2 = train_numpy(epochs=6, log=False)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]       # fixed seeds
    assert h1[-1]["test_acc"] >= 0.95, h1[-1]

"""``python -m cyconv train``: a small CNN trained on scikit-learn's
handwritten digits (8x8 images, shipped with scikit-learn, no download) on
cyconv's own forward and backward kernels, with ``cyconv.nn`` (numpy) or the
``cyconv.torch`` adapter.  Seeds are fixed: two runs print the same numbers.
"""
import argparse
import sys
import time

import numpy as np

from cyconv import nn


def load_digits_split(seed=0, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test), images as (N, 1, 8, 8) float32 in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("python -m cyconv train needs scikit-learn: pip install scikit-learn")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def numpy_model(seed=0):
    """conv 1->16 3x3, ReLU, pool, conv 16->32 3x3, ReLU, pool, linear 128->10."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv(1, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv(16, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10, rng=rng))


def torch_model(seed=0):
    """The same network with cyconv.torch modules, initialized with the very
    same weights as ``numpy_model(seed)``."""
    import torch
    import cyconv.torch as ct
    src = numpy_model(seed)
    model = torch.nn.Sequential(
        ct.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        ct.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 2 * 2, 10))
    with torch.no_grad():
        for dst, layer in zip([model[0], model[3], model[7]],
                              [src.layers[0], src.layers[3], src.layers[7]]):
            dst.weight.copy_(torch.from_numpy(layer.w.value))
            dst.bias.copy_(torch.from_numpy(layer.b.value))
    return model


class _Bar:
    def __init__(self, total, prefix, stream=sys.stdout):
        self.total, self.prefix, self.stream = total, prefix, stream
        self.tty = stream.isatty()

    def update(self, i):
        if self.tty:
            fill = int(20 * i / self.total)
            self.stream.write(f"\r{self.prefix} [{'#' * fill}{'.' * (20 - fill)}] {i}/{self.total}")
            self.stream.flush()

    def close(self, text):
        self.stream.write(("\r" if self.tty else "") + f"{self.prefix} {text}\n")
        self.stream.flush()


def _end_epoch(history, bar, epoch, loss_sum, correct, n, test_acc, t0):
    rec = dict(epoch=epoch + 1, loss=loss_sum / n, train_acc=correct / n, test_acc=test_acc,
               seconds=time.perf_counter() - t0)
    history.append(rec)
    if bar:
        bar.close(f"loss {rec['loss']:.4f}  train acc {100 * rec['train_acc']:.2f}%  "
                  f"held-out acc {100 * test_acc:.2f}%  ({rec['seconds']:.2f}s)")


def _batches(n, batch, rng):
    order = rng.permutation(n)
    return [order[i:i + batch] for i in range(0, n, batch)]


def train_numpy(epochs=15, batch=32, lr=0.05, momentum=0.9, seed=0, log=True):
    x, y, xt, yt = load_digits_split(seed)
    model = numpy_model(seed)
    loss_fn = nn.SoftmaxCrossEntropy()
    opt = nn.SGD(model.params(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed + 1)
    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        batches = _batches(len(y), batch, rng)
        bar = _Bar(len(batches), f"epoch {epoch + 1:2d}/{epochs}") if log else None
        losses, correct = [], 0
        for i, idx in enumerate(batches):
            logits = model.forward(x[idx])
            losses.append(loss_fn.forward(logits, y[idx]) * len(idx))
            correct += int((logits.argmax(1) == y[idx]).sum())
            model.backward(loss_fn.backward())
            opt.step()
            if bar:
                bar.update(i + 1)
        test_acc = float((model.forward(xt).argmax(1) == yt).mean())
        _end_epoch(history, bar, epoch, sum(losses), correct, len(y), test_acc, t0)
    return model, history


def train_torch(epochs=15, batch=32, lr=0.05, momentum=0.9, seed=0, log=True):
    import torch
    x, y, xt, yt = load_digits_split(seed)
    model = torch_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed + 1)
    X, Y, XT = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt)
    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        batches = _batches(len(y), batch, rng)
        bar = _Bar(len(batches), f"epoch {epoch + 1:2d}/{epochs}") if log else None
        total, correct = 0.0, 0
        for i, idx in enumerate(batches):
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            logits = model(X[idx])
            loss = loss_fn(logits, Y[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
            correct += int((logits.argmax(1) == Y[idx]).sum())
            if bar:
                bar.update(i + 1)
        with torch.no_grad():
            test_acc = float((model(XT).argmax(1).numpy() == yt).mean())
        _end_epoch(history, bar, epoch, total, correct, len(y), test_acc, t0)
    return model, history


def plot(history, filters, path):
    """Loss curve and the learned first-layer filters, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib")
    fig = plt.figure(figsize=(10, 4))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], "o-", label="train loss")
    ax2 = ax.twinx()
    ax2.plot([h["epoch"] for h in history], [100 * h["test_acc"] for h in history], "s--",
             color="tab:green", label="held-out accuracy (%)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2.set_ylabel("held-out accuracy (%)")
    ax.set_title("training on cyconv's gradients")
    n = filters.shape[0]
    for i in range(n):
        sub = fig.add_subplot(4, 8, 8 * (i // 4) + 5 + i % 4)
        sub.imshow(filters[i, 0], cmap="gray")
        sub.set_xticks([])
        sub.set_yticks([])
    fig.text(0.75, 0.95, "first-layer filters", ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cyconv train", description=__doc__)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=["numpy", "torch"], default="numpy",
                    help="cyconv.nn (numpy) or the cyconv.torch adapter")
    ap.add_argument("--plot", default=None, help="write loss curve and filters to this PNG")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    train = train_numpy if args.backend == "numpy" else train_torch
    model, history = train(args.epochs, args.batch, args.lr, args.momentum, args.seed)
    elapsed = time.perf_counter() - t0
    print(f"held-out accuracy {100 * history[-1]['test_acc']:.2f}% after {args.epochs} epochs "
          f"in {elapsed:.1f}s ({args.backend} backend)")
    if args.plot:
        if args.backend == "numpy":
            filters = model.layers[0].w.value
        else:
            filters = model[0].weight.detach().numpy()
        plot(history, filters, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

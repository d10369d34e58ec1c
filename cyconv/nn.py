"""Minimal numpy building blocks for training a CNN on cyconv's kernels.

Each layer has an explicit ``forward(x)`` that caches what its backward pass
needs and a ``backward(grad_out)`` that stores parameter gradients and returns
the gradient with respect to its input, as the chain rule of the lecture
notes derives them:

* convolution: y = w * x + b;  x_bar = transposed convolution of y_bar with w,
  w_bar = correlation of y_bar with x, b_bar = sum of y_bar;
* ReLU, max pooling, flatten, linear, softmax cross-entropy;
* SGD with momentum (the update rule of ``torch.optim.SGD``).

It is small on purpose: a teaching-sized framework, not a general one.
"""
import math

import numpy as np

import cyconv

__all__ = ["Param", "Conv", "ReLU", "MaxPool2d", "Flatten", "Linear", "Sequential",
           "SoftmaxCrossEntropy", "SGD"]


class Param:
    """A trainable array and its gradient."""

    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


def _uniform(rng, bound, shape, dtype):
    return rng.uniform(-bound, bound, shape).astype(dtype)


class Conv:
    """Convolution layer (any of 1/2/3-D, from the kernel size), torch's
    default initialization (uniform in +-1/sqrt(fan_in))."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, nd=2, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        k = (kernel_size,) * nd if isinstance(kernel_size, int) else tuple(kernel_size)
        fan_in = in_channels // groups * math.prod(k)
        bound = 1 / math.sqrt(fan_in)
        self.w = Param(_uniform(rng, bound, (out_channels, in_channels // groups) + k, dtype))
        self.b = Param(_uniform(rng, bound, (out_channels,), dtype))
        self.opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    def params(self):
        return [self.w, self.b]

    def forward(self, x):
        self.x = x
        return cyconv.conv(x, self.w.value, self.b.value, **self.opts)

    def backward(self, gy):
        self.w.grad = cyconv.conv_backward_weight(self.x, gy, self.w.value.shape, **self.opts)
        self.b.grad = cyconv.conv_backward_bias(gy)
        return cyconv.conv_backward_input(gy, self.w.value, self.x.shape, **self.opts)


class ReLU:
    def params(self):
        return []

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


class MaxPool2d:
    """Non-overlapping k x k max pooling (H and W divisible by k); the
    gradient goes to the first maximum of each window."""

    def __init__(self, k=2):
        self.k = k

    def params(self):
        return []

    def forward(self, x):
        N, C, H, W = x.shape
        k = self.k
        win = x.reshape(N, C, H // k, k, W // k, k).transpose(0, 1, 2, 4, 3, 5)
        win = win.reshape(N, C, H // k, W // k, k * k)
        self.arg = win.argmax(axis=-1)
        self.shape = x.shape
        return np.take_along_axis(win, self.arg[..., None], axis=-1)[..., 0]

    def backward(self, gy):
        N, C, H, W = self.shape
        k = self.k
        g = np.zeros((N, C, H // k, W // k, k * k), dtype=gy.dtype)
        np.put_along_axis(g, self.arg[..., None], gy[..., None], axis=-1)
        g = g.reshape(N, C, H // k, W // k, k, k).transpose(0, 1, 2, 4, 3, 5)
        return g.reshape(N, C, H, W)


class Flatten:
    def params(self):
        return []

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, gy):
        return gy.reshape(self.shape)


class Linear:
    def __init__(self, in_features, out_features, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1 / math.sqrt(in_features)
        self.w = Param(_uniform(rng, bound, (out_features, in_features), dtype))
        self.b = Param(_uniform(rng, bound, (out_features,), dtype))

    def params(self):
        return [self.w, self.b]

    def forward(self, x):
        self.x = x
        return x @ self.w.value.T + self.b.value

    def backward(self, gy):
        self.w.grad = gy.T @ self.x
        self.b.grad = gy.sum(axis=0)
        return gy @ self.w.value


class Sequential:
    def __init__(self, *layers):
        self.layers = list(layers)

    def params(self):
        return [p for layer in self.layers for p in layer.params()]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, gy):
        for layer in reversed(self.layers):
            gy = layer.backward(gy)
        return gy


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels."""

    def forward(self, logits, labels):
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.p = np.exp(logp)
        self.labels = labels
        return float(-logp[np.arange(len(labels)), labels].mean())

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return (g / len(self.labels)).astype(self.p.dtype)


class SGD:
    """v = momentum * v + grad;  p -= lr * v   (as torch.optim.SGD)."""

    def __init__(self, params, lr=0.05, momentum=0.9):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.v = [np.zeros_like(p.value) for p in self.params]

    def step(self):
        for p, v in zip(self.params, self.v):
            v *= self.momentum
            v += p.grad
            p.value -= self.lr * v

"""PyTorch adapter: convolutions as ``torch.autograd.Function``s whose forward
and backward passes run cyconv's kernels (no torch convolution inside), and
``Conv{1,2,3}d`` / ``ConvTranspose{1,2,3}d`` modules that are drop-in
replacements for ``torch.nn``'s (same constructor arguments, parameter names
and state_dict).

torch is an optional dependency: importing this module needs it, the rest of
cyconv never does.  Tensors must live on the CPU in float32 or float64;
contiguous tensors are shared with numpy without copies.

    >>> import torch, cyconv.torch as ct
    >>> layer = ct.Conv2d(3, 8, 3, padding=1)
    >>> layer(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
"""
import numpy as np
import torch

import cyconv

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
           "ConvTranspose2d", "ConvTranspose3d"]


def as_numpy(t, name):
    """A numpy view of a CPU float32/float64 tensor (copied only when the
    tensor is not contiguous)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU, got device {t.device}")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {t.dtype}")
    return t.detach().contiguous().numpy()


def _tensor(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _forward_inputs(ctx, x, w, b, stride, padding, dilation, groups):
    """Remember what backward needs; return x, w, b as numpy arrays."""
    ctx.save_for_backward(x, w)
    ctx.opts = (stride, padding, dilation, groups)
    ctx.has_bias = b is not None
    return (as_numpy(x, "input"), as_numpy(w, "weight"),
            None if b is None else as_numpy(b, "bias"))


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        xa, wa, ba = _forward_inputs(ctx, x, w, b, stride, padding, dilation, groups)
        return _tensor(cyconv.conv(xa, wa, ba, stride, padding, dilation, groups))

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.opts
        g = as_numpy(gy, "grad_output")
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _tensor(cyconv.conv_backward_input(g, as_numpy(w, "weight"), tuple(x.shape),
                                                    stride, padding, dilation, groups))
        if ctx.needs_input_grad[1]:
            dw = _tensor(cyconv.conv_backward_weight(as_numpy(x, "input"), g, tuple(w.shape),
                                                     stride, padding, dilation, groups))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = _tensor(cyconv.conv_backward_bias(g))
        return dx, dw, db, None, None, None, None


class _ConvTranspose(torch.autograd.Function):
    """y = conv_transpose(x, w) is the adjoint of conv(., w), so
    dx = conv(gy, w) and dw = conv_backward_weight(gy, x)."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, groups, dilation):
        xa, wa, ba = _forward_inputs(ctx, x, w, b, stride, padding, dilation, groups)
        return _tensor(cyconv.conv_transpose(xa, wa, ba, stride, padding, output_padding,
                                             groups, dilation))

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.opts
        g = as_numpy(gy, "grad_output")
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _tensor(cyconv.conv(g, as_numpy(w, "weight"), None, stride, padding,
                                     dilation, groups))
        if ctx.needs_input_grad[1]:
            dw = _tensor(cyconv.conv_backward_weight(g, as_numpy(x, "input"), tuple(w.shape),
                                                     stride, padding, dilation, groups))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = _tensor(cyconv.conv_backward_bias(g))
        return dx, dw, db, None, None, None, None, None


def _nd(nd, w):
    if w.dim() != nd + 2:
        raise ValueError(f"weight must have {nd + 2} dims for a {nd}-D convolution, "
                         f"got shape {tuple(w.shape)}")


def _batched(nd, input, run):
    """torch accepts unbatched (C, *spatial) inputs: add the batch axis."""
    if isinstance(input, torch.Tensor) and input.dim() == nd + 1:
        return run(input.unsqueeze(0)).squeeze(0)
    return run(input)


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    _nd(nd, weight)
    return _batched(nd, input, lambda x: _Conv.apply(x, weight, bias, stride, padding,
                                                     dilation, groups))


def _conv_t(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    _nd(nd, weight)
    return _batched(nd, input, lambda x: _ConvTranspose.apply(
        x, weight, bias, stride, padding, output_padding, groups, dilation))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv1d`` on cyconv's kernels."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d`` on cyconv's kernels."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv3d`` on cyconv's kernels."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose1d`` on cyconv's kernels."""
    return _conv_t(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose2d`` on cyconv's kernels."""
    return _conv_t(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose3d`` on cyconv's kernels."""
    return _conv_t(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


def _check_padding_mode(module):
    if module.padding_mode != "zeros":
        raise ValueError(f"cyconv supports padding_mode='zeros' only, got "
                         f"{module.padding_mode!r}")


class Conv1d(torch.nn.Conv1d):
    """Drop-in ``torch.nn.Conv1d`` computing with cyconv."""
    def _conv_forward(self, input, weight, bias):
        _check_padding_mode(self)
        return conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(torch.nn.Conv2d):
    """Drop-in ``torch.nn.Conv2d`` computing with cyconv."""
    def _conv_forward(self, input, weight, bias):
        _check_padding_mode(self)
        return conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv3d(torch.nn.Conv3d):
    """Drop-in ``torch.nn.Conv3d`` computing with cyconv."""
    def _conv_forward(self, input, weight, bias):
        _check_padding_mode(self)
        return conv3d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def _transposed_forward(module, fn, nd, input, output_size):
    _check_padding_mode(module)
    output_padding = module._output_padding(input, output_size, module.stride, module.padding,
                                            module.kernel_size, nd, module.dilation)
    return fn(input, module.weight, module.bias, module.stride, module.padding,
              output_padding, module.groups, module.dilation)


class ConvTranspose1d(torch.nn.ConvTranspose1d):
    """Drop-in ``torch.nn.ConvTranspose1d`` computing with cyconv."""
    def forward(self, input, output_size=None):
        return _transposed_forward(self, conv_transpose1d, 1, input, output_size)


class ConvTranspose2d(torch.nn.ConvTranspose2d):
    """Drop-in ``torch.nn.ConvTranspose2d`` computing with cyconv."""
    def forward(self, input, output_size=None):
        return _transposed_forward(self, conv_transpose2d, 2, input, output_size)


class ConvTranspose3d(torch.nn.ConvTranspose3d):
    """Drop-in ``torch.nn.ConvTranspose3d`` computing with cyconv."""
    def forward(self, input, output_size=None):
        return _transposed_forward(self, conv_transpose3d, 3, input, output_size)

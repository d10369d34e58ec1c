"""cyconv: fast CPU convolutions for Python (forward, backward-input,
backward-weight, transposed), numpy in, numpy out.
"""
from cyconv._config import show_config
from cyconv.layers import (
    conv, conv1d, conv2d, conv3d,
    conv_backward_input, conv1d_backward_input, conv2d_backward_input,
    conv3d_backward_input,
    conv_backward_weight, conv1d_backward_weight, conv2d_backward_weight,
    conv3d_backward_weight, conv_backward_bias,
    conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d,
)
from cyconv.signal import convolve, correlate

__version__ = "0.1.0"

__all__ = [
    "show_config", "convolve", "correlate",
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_backward_input", "conv1d_backward_input", "conv2d_backward_input",
    "conv3d_backward_input",
    "conv_backward_weight", "conv1d_backward_weight", "conv2d_backward_weight",
    "conv3d_backward_weight", "conv_backward_bias",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
]

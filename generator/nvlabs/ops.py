"""The operations NVlabs' StyleGAN2 and StyleGAN3 synthesis networks are made of, defined by
what they compute (FIR up/down-sampling, bias and activation, resampling convolution, dense layers),
in this package's own code; the shared helpers of `stylegan2` and `stylegan3`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generator.nets.layers import check_shape

SQRT2 = math.sqrt(2.0)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] | list[int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Insert up-1 zeros after every pixel, pad (x0, x1, y0, y1; negative crops), convolve
    (a true convolution, not a correlation) with the FIR filter f, keep every down-th pixel.

    f is [taps] (separable: along x, then y, each carrying sqrt(gain)) or [h, w]; None is identity.
    Upsampling without downsampling runs polyphase (`_upsample_fir`): the same sums without the
    zeros, half the work at up=2 and no zero-filled tensor.
    """
    if up > 1 and down == 1 and f is not None:
        return _upsample_fir(x, f * gain ** (f.ndim / 2), up, padding)
    b, c, h, w = x.shape
    if up > 1:
        spread = x.new_zeros(b, c, h * up, w * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    x0, x1, y0, y1 = (int(p) for p in padding)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    if f is None:
        return (x * gain if gain != 1 else x)[:, :, ::down, ::down]
    kernel = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    if kernel.ndim == 2:
        weight = kernel[None, None].expand(c, 1, *kernel.shape)
        return F.conv2d(x, weight, stride=down, groups=c)
    along_x = kernel[None, None, None, :].expand(c, 1, 1, -1)
    along_y = kernel[None, None, :, None].expand(c, 1, -1, 1)
    x = F.conv2d(x, along_x, stride=(1, down), groups=c)
    return F.conv2d(x, along_y, stride=(down, 1), groups=c)


def _upsample_fir(
    x: torch.Tensor, kernel: torch.Tensor, up: int, padding: tuple[int, int, int, int] | list[int]
) -> torch.Tensor:
    """upfirdn2d(x, kernel, up, padding) as transposed convolutions of stride `up`.

    A transposed convolution spreads each input pixel over the kernel at stride `up`: it is the
    full true convolution of the zero-stuffed signal with the kernel (unflipped), whose last up-1
    samples are left out because they are zero. The padded, valid convolution upfirdn2d defines
    is the window of that full one starting at taps-1-pad_before, zeros outside it.
    """
    c = x.shape[1]
    x0, x1, y0, y1 = (int(p) for p in padding)
    kernel = kernel.to(x.dtype)

    def window(t: torch.Tensor, dim: int, n_in: int, taps: int, before: int, after: int) -> torch.Tensor:
        start, length = taps - 1 - before, n_in * up + before + after - taps + 1
        lead, trail = max(0, -start), max(0, start + length - t.shape[dim])
        if lead or trail:
            pads = [lead, trail, 0, 0] if dim == 3 else [0, 0, lead, trail]
            t = F.pad(t, pads)
        return t.narrow(dim, start + lead, length)

    h, w = x.shape[2:]
    if kernel.ndim == 2:
        weight = kernel[None, None].repeat(c, 1, 1, 1)
        x = F.conv_transpose2d(x, weight, stride=up, groups=c)
        x = window(x, 3, w, kernel.shape[1], x0, x1)
        return window(x, 2, h, kernel.shape[0], y0, y1)
    taps = kernel.shape[0]
    x = F.conv_transpose2d(x, kernel.reshape(1, 1, 1, taps).repeat(c, 1, 1, 1), stride=(1, up), groups=c)
    x = window(x, 3, w, taps, x0, x1)
    x = F.conv_transpose2d(x, kernel.reshape(1, 1, taps, 1).repeat(c, 1, 1, 1), stride=(up, 1), groups=c)
    return window(x, 2, h, taps, y0, y1)


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    lrelu: bool,
    gain: float = 1.0,
    clamp: float | None = None,
    slope: float = 0.2,
) -> torch.Tensor:
    """Add a per-channel bias, leaky ReLU (or nothing), scale by gain, clamp to +-clamp."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_resample(
    x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor | None, up: int, padding: int
) -> torch.Tensor:
    """StyleGAN2's convolution with optional upsampling, in its order of operations: a 1x1 kernel
    convolves then FIR-upsamples; a larger kernel runs as a stride-`up` transposed convolution
    followed by the FIR filter (gain up^2), the padding split between the two as NVlabs splits it."""
    kh, kw = weight.shape[2:]
    if up == 1:
        return F.conv2d(x, weight, padding=padding)
    fh, fw = (1, 1) if f is None else (f.shape[0], f.shape[-1])
    pads = [
        padding + (fw + up - 1) // 2,
        padding + (fw - up) // 2,
        padding + (fh + up - 1) // 2,
        padding + (fh - up) // 2,
    ]
    if kh == 1 and kw == 1:
        return upfirdn2d(F.conv2d(x, weight), f, up=up, padding=pads, gain=up**2)
    pads = [pads[0] - (kw - 1), pads[1] - (kw - up), pads[2] - (kh - 1), pads[3] - (kh - up)]
    px = max(min(-pads[0], -pads[1]), 0)
    py = max(min(-pads[2], -pads[3]), 0)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up, padding=[py, px])
    return upfirdn2d(x, f, padding=[pads[0] + px, pads[1] + px, pads[2] + py, pads[3] + py], gain=up**2)


class Dense(nn.Module):
    """NVlabs' FullyConnectedLayer: weight * lr_mul / sqrt(in), bias * lr_mul, optional lrelu."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias * self.bias_gain, x, (self.weight * self.weight_gain).t())


def demodulation(styles: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """[B, out]: 1 / |weight * style| per output channel, without building per-sample weights."""
    energy = styles.square() @ weight.square().sum(dim=(2, 3)).t()
    return (energy + 1e-8).rsqrt()


def styles_per_layer(w: torch.Tensor, num_ws: int, w_dim: int) -> list[torch.Tensor]:
    if w.ndim == 3:
        check_shape("w+", w, (None, num_ws, w_dim))
        return list(w.float().unbind(1))
    check_shape("w", w, (None, w_dim))
    return [w.float()] * num_ws


def refuse_noise(noise: list[torch.Tensor] | None) -> None:
    if noise:
        raise ValueError(
            f"noise: an imported NVlabs network uses its stored noise (noise_mode='const'); got {len(noise)} maps"
        )

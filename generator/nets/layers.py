"""Small building blocks: equalised-learning-rate layers, modulated convolution, noise, ToRGB."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_GAIN = math.sqrt(2.0)  # keeps leaky-ReLU activations at unit variance


def check_shape(name: str, x: torch.Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise a ValueError naming the tensor when its shape differs (None matches anything)."""
    if x.ndim != len(expected) or any(e is not None and s != e for s, e in zip(x.shape, expected)):
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(x.shape)}")


class EqualLinear(nn.Module):
    """Linear layer with runtime weight scaling (equalised learning rate)."""

    def __init__(
        self,
        in_features: int,  # input width
        out_features: int,  # output width
        bias_init: float = 0.0,  # initial bias value (1.0 for style affines)
        lr_mul: float = 1.0,  # learning-rate multiplier (0.01 in the mapping network)
        activate: bool = False,  # apply leaky ReLU with gain
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("EqualLinear input", x, (None, self.weight.shape[1]))
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * _GAIN if self.activate else out


class EqualConv2d(nn.Module):
    """Plain convolution with equalised learning rate, for the discriminator."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
        kernel: int,  # square kernel size, odd
        activate: bool = True,  # leaky ReLU with gain after the conv
        bias: bool = True,  # learn a bias
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("EqualConv2d input", x, (None, self.weight.shape[1], None, None))
        out = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return F.leaky_relu(out, 0.2) * _GAIN if self.activate else out


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with weight demodulation (StyleGAN2).

    Modulation and demodulation scale activations instead of building per-sample weights, so the
    convolution stays one dense conv: fast on CPU and identical per sample whatever the batch.
    """

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
        kernel: int,  # square kernel size, odd
        w_dim: int,  # style vector size
        demodulate: bool = True,  # normalise output variance per sample (off for ToRGB)
        upsample: bool = False,  # double the resolution before the conv
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.demodulate = demodulate
        self.upsample = upsample
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        check_shape("ModulatedConv2d input", x, (None, self.in_channels, None, None))
        check_shape("ModulatedConv2d style", w, (x.shape[0], self.affine.weight.shape[1]))
        style = self.affine(w)  # [B, in]
        weight = self.weight * self.scale
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * style[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            # sum over (in, kh, kw) of (weight * style)^2, computed without per-sample weights
            energy = style.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t()  # [B, out]
            out = out * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return out


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned strength (zero at init, as in StyleGAN2)."""

    def __init__(self) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        check_shape("noise", noise, (x.shape[0], 1, x.shape[2], x.shape[3]))
        return x + self.strength * noise


class StyledConv(nn.Module):
    """Modulated conv, noise, bias and activation: one synthesis layer."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
        w_dim: int,  # style vector size
        upsample: bool = False,  # double the resolution first
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        out = self.noise(self.conv(x, w), noise)
        return F.leaky_relu(out + self.bias[None, :, None, None], 0.2) * _GAIN


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB, added to the upsampled RGB of the previous resolution."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        w_dim: int,  # style vector size
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias[None, :, None, None]
        if skip is not None:
            out = out + F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
        return out

"""NVlabs' StyleGAN2 (-ADA) synthesis network (orig, skip, resnet) under NVlabs' module names,
built from a spec that `synthesis_spec.stylegan2_spec` resolves from a snapshot."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generator.nets.layers import check_shape
from generator.nvlabs.ops import (
    SQRT2,
    Dense,
    bias_act,
    conv2d_resample,
    demodulation,
    refuse_noise,
    styles_per_layer,
    upfirdn2d,
)


class SG2Layer(nn.Module):
    """A modulated 3x3 (or k x k) convolution, optionally upsampling, with stored noise."""

    # buffers, registered in __init__; declared so the type checker sees tensors, not
    # nn.Module.__getattr__'s Tensor | Module
    resample_filter: torch.Tensor
    noise_const: torch.Tensor  # [resolution, resolution], registered only where use_noise

    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        i, o, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
        self.up, self.padding, self.conv_clamp = spec["up"], k // 2, spec["conv_clamp"]
        self.resolution = spec["resolution"]  # of the output
        self.affine = Dense(w_dim, i)
        self.weight = nn.Parameter(torch.zeros(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        self.use_noise = spec["use_noise"]
        if self.use_noise:
            r = spec["resolution"]
            self.register_buffer("noise_const", torch.zeros(r, r))
            self.noise_strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        side = self.resolution // self.up
        check_shape("StyleGAN2 layer input", x, (None, self.weight.shape[1], side, side))
        styles = self.affine(w)
        x = x * styles[:, :, None, None]
        x = conv2d_resample(x, self.weight, self.resample_filter, self.up, self.padding)
        x = x * demodulation(styles, self.weight)[:, :, None, None]
        if self.use_noise:
            x = x + self.noise_const * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, lrelu=True, gain=SQRT2 * gain, clamp=clamp)


class SG2ToRGB(nn.Module):
    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        i, o, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
        self.conv_clamp = spec["conv_clamp"]
        self.affine = Dense(w_dim, i)
        self.weight = nn.Parameter(torch.zeros(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.weight_gain = 1 / math.sqrt(i * k * k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = F.conv2d(x * styles[:, :, None, None], self.weight, padding=self.weight.shape[-1] // 2)
        return bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp)


class SG2Skip(nn.Module):
    """The resnet block's shortcut: 1x1 convolution, FIR upsampling, no bias."""

    # buffers, registered in __init__; declared so the type checker sees tensors, not
    # nn.Module.__getattr__'s Tensor | Module
    resample_filter: torch.Tensor

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(spec["out_channels"], spec["in_channels"], 1, 1))
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        self.weight_gain = 1 / math.sqrt(spec["in_channels"])

    def forward(self, x: torch.Tensor, gain: float) -> torch.Tensor:
        x = conv2d_resample(x, self.weight * self.weight_gain, self.resample_filter, 2, 0)
        return x * gain


class SG2Block(nn.Module):
    # buffers, registered in __init__; declared so the type checker sees tensors, not
    # nn.Module.__getattr__'s Tensor | Module
    resample_filter: torch.Tensor

    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        self.resolution, self.architecture = spec["resolution"], spec["architecture"]
        self.first = spec["in_channels"] == 0
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        if self.first:
            r = spec["resolution"]
            self.const = nn.Parameter(torch.zeros(spec["out_channels"], r, r))
        else:
            self.conv0 = SG2Layer(spec["conv0"], w_dim)
        self.conv1 = SG2Layer(spec["conv1"], w_dim)
        self.torgb = SG2ToRGB(spec["torgb"], w_dim) if spec.get("torgb") else None
        self.skip = SG2Skip(spec["skip"]) if spec.get("skip") else None
        self.num_conv = 1 if self.first else 2
        self.num_torgb = 1 if self.torgb is not None else 0

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        styles = iter(ws)
        if self.first:
            x = self.const.unsqueeze(0).expand(ws[0].shape[0], -1, -1, -1)
            x = self.conv1(x, next(styles))
        elif self.skip is not None:
            shortcut = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(styles))
            x = shortcut + self.conv1(x, next(styles), gain=math.sqrt(0.5))
        else:
            x = self.conv0(x, next(styles))
            x = self.conv1(x, next(styles))
        if img is not None:
            img = upfirdn2d(img, self.resample_filter, up=2, padding=_up2_padding(self.resample_filter), gain=4)
        if self.torgb is not None:
            rgb = self.torgb(x, next(styles))
            img = rgb if img is None else img + rgb
        return x, img


def _up2_padding(f: torch.Tensor) -> list[int]:
    """Padding that makes a 2x FIR upsampling exactly double the size (NVlabs' upsample2d)."""
    fh, fw = f.shape[0], f.shape[-1]
    return [(fw + 1) // 2, (fw - 2) // 2, (fh + 1) // 2, (fh - 2) // 2]


class StyleGAN2Synthesis(nn.Module):
    """NVlabs' StyleGAN2 synthesis (orig, skip or resnet): a learned 4x4 constant, then blocks."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.resolution, self.w_dim = spec["resolution"], spec["w_dim"]
        self.block_names = [f"b{b['resolution']}" for b in spec["blocks"]]
        for name, block in zip(self.block_names, spec["blocks"], strict=True):
            self.add_module(name, SG2Block(block, self.w_dim))
        blocks = [getattr(self, n) for n in self.block_names]
        self._num_ws = sum(b.num_conv for b in blocks) + blocks[-1].num_torgb
        self.noise_resolutions: list[int] = []

    @property
    def num_ws(self) -> int:
        return self._num_ws

    def make_noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return []

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        refuse_noise(noise)
        with torch.autocast(device_type=w.device.type, enabled=False):  # float32, see module doc
            return self._synthesise(styles_per_layer(w, self.num_ws, self.w_dim))

    def _synthesise(self, ws: list[torch.Tensor]) -> torch.Tensor:
        x = img = None
        start = 0
        for name in self.block_names:
            block = getattr(self, name)
            # consecutive blocks share one w: a block's ToRGB style is the next block's first
            x, img = block(x, img, ws[start : start + block.num_conv + block.num_torgb])
            start += block.num_conv
        # NVlabs gives the last block a ToRGB in every architecture, so it always draws an image
        assert img is not None
        return img

"""Conditional mapping, synthesis, generator and projection discriminator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from generator.nets.config import NetworkConfig
from generator.nets.layers import EqualConv2d, EqualLinear, StyledConv, ToRGB, check_shape


def _normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    """(z, class) -> w, with a per-class running w average for class-wise truncation.

    The class enters through a learned embedding (nn.Embedding, randomly initialised), never a
    one-hot or zero vector, so class 0 carries as much signal as any other class.
    """

    # buffers, registered in __init__; declared so the type checker sees tensors, not
    # nn.Module.__getattr__'s Tensor | Module
    w_avg: torch.Tensor  # [num_classes, w_dim]
    w_avg_seen: torch.Tensor  # [num_classes] bool: has the class had a batch yet

    def __init__(
        self,
        z_dim: int,  # input latent size
        w_dim: int,  # output latent size
        num_classes: int,  # number of labels, disorders plus unaffected
        embed_dim: int,  # label embedding size
        layers: int,  # MLP depth
        lr_mul: float = 0.01,  # reduced learning rate, as in StyleGAN
        w_avg_beta: float = 0.995,  # decay of the running per-class w average
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_classes = z_dim, w_dim, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        widths = [z_dim + embed_dim] + [w_dim] * layers
        self.mlp = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in pairwise(widths)])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(num_classes, w_dim))
        self.register_buffer("w_avg_seen", torch.zeros(num_classes, dtype=torch.bool))

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        truncation: float = 1.0,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        check_shape("z", z, (None, self.z_dim))
        check_shape("labels", labels, (z.shape[0],))
        if labels.dtype != torch.long:
            raise ValueError(f"labels must be int64 class indices, got {labels.dtype}")
        x = torch.cat([_normalize_2nd_moment(z), _normalize_2nd_moment(self.embed(labels))], dim=1)
        w = self.mlp(x)
        if update_w_avg:
            self._update_w_avg(w.detach(), labels)
        if truncation != 1.0:
            w = self.truncate(w, labels, truncation)
        return w

    def truncate(self, w: torch.Tensor, labels: torch.Tensor, psi: float) -> torch.Tensor:
        """Pull each w towards its own class's average, not a global one."""
        return self.w_avg[labels].to(w.dtype).lerp(w, psi)

    @torch.no_grad()
    def _update_w_avg(self, w: torch.Tensor, labels: torch.Tensor) -> None:
        sums = torch.zeros_like(self.w_avg).index_add_(0, labels, w.to(self.w_avg.dtype))
        self.update_w_avg_from_sums(sums, torch.bincount(labels, minlength=self.num_classes))

    @torch.no_grad()
    def update_w_avg_from_sums(self, sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Move each class's running average towards its batch mean, sums[c] / counts[c]; a class
        absent from the batch keeps its average. Training over several processes passes the sums
        and counts of all of them, so every process keeps the same averages."""
        for c in torch.nonzero(counts).flatten().tolist():
            batch_mean = sums[c] / counts[c]
            if not bool(self.w_avg_seen[c]):  # start at the first estimate, not at zero
                self.w_avg[c] = batch_mean
                self.w_avg_seen[c] = True
            else:
                self.w_avg[c] = batch_mean.lerp(self.w_avg[c], self.w_avg_beta)


class SynthesisNetwork(nn.Module):
    """w -> image in [-1, 1]: a learned 4x4 constant upsampled through styled convolutions."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        ch = config.channels
        res = config.resolutions()
        self.resolution, self.w_dim = config.resolution, config.w_dim
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.convs = nn.ModuleList([StyledConv(ch[4], ch[4], config.w_dim)])
        self.to_rgbs = nn.ModuleList([ToRGB(ch[4], config.w_dim)])
        for prev, r in pairwise(res):
            self.convs.append(StyledConv(ch[prev], ch[r], config.w_dim, upsample=True))
            self.convs.append(StyledConv(ch[r], ch[r], config.w_dim))
            self.to_rgbs.append(ToRGB(ch[r], config.w_dim))
        # one noise map per styled conv, at that conv's output resolution
        self.noise_resolutions = [4] + [r for r in res[1:] for _ in range(2)]

    def make_noise(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",  # where to draw: the generator's device
    ) -> list[torch.Tensor]:
        return [torch.randn(batch, 1, r, r, generator=generator, device=device) for r in self.noise_resolutions]

    @property
    def num_ws(self) -> int:
        """Styles a w+ latent carries: one per styled conv, then one per ToRGB."""
        return len(self.convs) + len(self.to_rgbs)

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """w is [B, w_dim] (one style for every layer) or w+ [B, num_ws, w_dim] (GAN inversion)."""
        conv_ws: Sequence[torch.Tensor]
        rgb_ws: Sequence[torch.Tensor]
        if w.ndim == 3:
            check_shape("w+", w, (None, self.num_ws, self.w_dim))
            per_layer = w.unbind(1)
            conv_ws, rgb_ws = per_layer[: len(self.convs)], per_layer[len(self.convs) :]
        else:
            check_shape("w", w, (None, self.w_dim))
            conv_ws, rgb_ws = [w] * len(self.convs), [w] * len(self.to_rgbs)
        if noise is not None and len(noise) != len(self.noise_resolutions):
            raise ValueError(f"noise: expected {len(self.noise_resolutions)} maps, got {len(noise)}")
        layer_noise = noise if noise is not None else [None] * len(self.noise_resolutions)
        # channels-last lets oneDNN/cuDNN run the convolutions without layout reorders: ~3x faster
        # batched sampling on CPU; every later op keeps the layout
        x = self.const.expand(w.shape[0], -1, -1, -1).contiguous(memory_format=torch.channels_last)
        x = self.convs[0](x, conv_ws[0], layer_noise[0])
        rgb = self.to_rgbs[0](x, rgb_ws[0], None)
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            x = self.convs[1 + 2 * i](x, conv_ws[1 + 2 * i], layer_noise[1 + 2 * i])
            x = self.convs[2 + 2 * i](x, conv_ws[2 + 2 * i], layer_noise[2 + 2 * i])
            rgb = to_rgb(x, rgb_ws[1 + i], rgb)
        return rgb


class Generator(nn.Module):
    """Conditional StyleGAN2-style generator: mapping(z, class) then synthesis(w)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(
            config.z_dim,
            config.w_dim,
            config.num_classes,
            config.embed_dim,
            config.mapping_layers,
            config.mapping_lr_mul,
            config.w_avg_beta,
        )
        self.synthesis = SynthesisNetwork(config)

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        truncation: float = 1.0,
        noise: list[torch.Tensor] | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        w = self.mapping(z, labels, truncation=truncation, update_w_avg=update_w_avg)
        return self.synthesis(w, noise)


class DiscriminatorBlock(nn.Module):
    """Two convs and a 2x average-pool downsample, with a residual path."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
    ) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.avg_pool2d(self.conv2(self.conv1(x)), 2)
        return (out + F.avg_pool2d(self.skip(x), 2)) / math.sqrt(2)


class Discriminator(nn.Module):
    """Residual discriminator with a projection head: score = psi(h) + <embed(class), h>."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        ch = config.channels
        res = config.resolutions()[::-1]  # from full resolution down to 4
        self.resolution = config.resolution
        self.from_rgb = EqualConv2d(3, ch[res[0]], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(ch[a], ch[b]) for a, b in pairwise(res)])
        self.final_conv = EqualConv2d(ch[4] + 1, ch[4], 3)
        self.final_linear = EqualLinear(ch[4] * 16, ch[4], activate=True)
        self.out = EqualLinear(ch[4], 1)
        self.embed = nn.Embedding(config.num_classes, ch[4])
        nn.init.normal_(self.embed.weight, std=1 / math.sqrt(ch[4]))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_shape("images", images, (None, 3, self.resolution, self.resolution))
        check_shape("labels", labels, (images.shape[0],))
        x = self.blocks(self.from_rgb(images))
        x = self.final_conv(_minibatch_stddev(x))
        h = self.final_linear(x.flatten(1))
        return self.out(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


def _minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean std over a group of samples, so the discriminator sees variety."""
    b, c, h, w = x.shape
    g = min(group, b)
    if b % g:
        g = 1
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [b/g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)

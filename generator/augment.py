"""DiffAugment-style differentiable augmentation, applied to real and fake images alike so the
discriminator cannot overfit a small dataset while the generator still gets gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _brightness(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) - 0.5)


def _saturation(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) * 2) + mean


def _contrast(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) + 0.5) + mean


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    # a translated sampling grid keeps the op differentiable in x; borders pad with zeros
    shift = (torch.rand(x.shape[0], 2, generator=g, device=x.device) * 2 - 1) * ratio * 2
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio / 2), int(w * ratio / 2)
    cy = torch.randint(0, h, (b, 1, 1), generator=g, device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=g, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    keep = ~(((ys - cy).abs() <= ch // 1) & ((xs - cx).abs() <= cw // 1))
    return x * keep[:, None].to(x.dtype)


def _blur(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Halve the resolution and restore it: what survives is structure, not pixel-level texture."""
    del g  # deterministic; the signature matches the random ops
    return F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False)


_OPS = {
    "blur": (_blur,),
    "color": (_brightness, _saturation, _contrast),
    "translation": (_translation,),
    "cutout": (_cutout,),
}


def diff_augment(x: torch.Tensor, policy: str, g: torch.Generator | None = None) -> torch.Tensor:
    """Apply each op of a comma-separated policy (`blur,color,translation,cutout`), in the
    policy's order; '' is identity."""
    for name in filter(None, (p.strip() for p in policy.split(","))):
        if name not in _OPS:
            raise ValueError(f"unknown DiffAugment op {name!r}; known: {', '.join(_OPS)}")
        for op in _OPS[name]:
            x = op(x, g)
    return x

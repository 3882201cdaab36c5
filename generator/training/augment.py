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


# Adaptive discriminator augmentation (ADA, Karras et al. 2020): every op is applied to each image
# with probability p, to real and generated images alike, and p follows how much the discriminator
# overfits. With p < 0.8 the augmentations do not leak into the generated images (the paper's
# finding for this kind of pipeline), so D may see them while G learns the clean distribution.


def _xflip(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    del g  # deterministic; the draw that picks the images is the op's randomness
    return x.flip(3)


def _shift_integer(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    """Translate by whole pixels (up to `ratio` of the side), reflecting at the border as ADA does."""
    b, _, h, w = x.shape
    pad = max(int(h * ratio), 1)
    shift = torch.randint(-pad, pad + 1, (b, 2), generator=g, device=x.device)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    ys = (torch.arange(h, device=x.device)[None, :] + pad - shift[:, :1])[:, None, :, None]
    xs = (torch.arange(w, device=x.device)[None, :] + pad - shift[:, 1:])[:, None, None, :]
    rows = padded.gather(2, ys.expand(b, x.shape[1], h, padded.shape[3]))
    return rows.gather(3, xs.expand(b, x.shape[1], h, w))


ADA_OPS = {
    "xflip": _xflip,
    "translation": _shift_integer,
    "brightness": _brightness,
    "contrast": _contrast,
    "saturation": _saturation,
    "cutout": _cutout,
}


def ada_augment(x: torch.Tensor, p: float, g: torch.Generator | None = None) -> torch.Tensor:
    """Apply each ADA op to each image independently with probability p; p = 0 is identity.
    Differentiable in x: an unchosen image passes through, a chosen one through the op."""
    if p <= 0:
        return x
    for op in ADA_OPS.values():
        chosen = torch.rand(x.shape[0], generator=g, device=x.device) < p
        x = torch.where(chosen[:, None, None, None], op(x, g), x)
    return x


def overfitting(sign_sum: float, count: float) -> float:
    """ADA's r_t = E[sign(D(real))]: 0 when D cannot tell reals apart, 1 when it is sure of every
    real image (overfitting)."""
    return sign_sum / count if count > 0 else 0.0


def adjust_ada_p(p: float, r_t: float, target: float, images: int, speed_images: int) -> float:
    """Move p by images / speed_images towards more augmentation when r_t exceeds the target,
    towards less when below, within [0, 1]: p can travel 0 -> 1 in `speed_images` images."""
    step = images / speed_images
    if r_t > target:
        p += step
    elif r_t < target:
        p -= step
    return min(max(p, 0.0), 1.0)

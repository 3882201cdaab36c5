"""GAN inversion: the w (or w+) that makes the generator reproduce a real portrait, and the
latent average of inverted portraits — the route to averages of disorders the model never saw.

Adam over w from a class's mean w, loss = pixel MSE + feature distance (pluggable feature network)
+ a regulariser that keeps the optimised noise maps free of structure, for a fixed step budget.
Optionally each portrait also gets its own similarity transform (shift, scale, roll), so that the
pose of a photograph is carried by the transform and w is left to carry the face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from generator.nets.layers import check_shape
from generator.nets.model import LoadedGenerator
from generator.training.data import read_portrait

FeatureNet = Callable[[torch.Tensor], list[torch.Tensor]]  # [-1, 1] images -> feature maps


@dataclass(frozen=True)
class InversionSettings:
    steps: int = 200  # fixed budget: every portrait gets the same optimisation
    lr: float = 0.05  # Adam step on w (w has roughly unit scale)
    w_plus: bool = False  # one w per layer: closer fits, but further from the generator's w space
    pixel_weight: float = 1.0  # MSE on [-1, 1] pixels
    feature_weight: float = 1.0  # distance between unit-normalised feature maps
    noise_weight: float = 1e3  # penalty on spatial autocorrelation of the optimised noise maps
    optimise_noise: bool = True  # False: noise-free synthesis, only w moves
    # Pose: fit a similarity transform per portrait beside w. Landmark-aligned photographs keep
    # some shift, scale and roll; without this, w has to draw that pose too, and the average of
    # the inverted w mixes the poses instead of only the faces.
    fit_pose: bool = False
    pose_lr: float = 0.01  # Adam step on the pose (shift in half-sides, log-scale, radians)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.pose_lr <= 0:
            raise ValueError(f"steps must be >= 1 and lr, pose_lr > 0, got {self.steps}, {self.lr}, {self.pose_lr}")


@dataclass
class InversionResult:
    w: torch.Tensor  # [N, w_dim], or [N, num_ws, w_dim] with w_plus; CPU
    reconstructions: torch.Tensor  # [N, 3, R, R] float in [-1, 1]; CPU
    initial_loss: torch.Tensor  # [N] pixel + feature loss at the starting w
    final_loss: torch.Tensor  # [N] same, at the end
    final_pixel: torch.Tensor  # [N] its pixel part
    final_feature: torch.Tensor  # [N] its feature part
    # [N, 4]: fitted (shift x, shift y as fractions of the side, scale, roll in degrees);
    # zeros and scale 1 without fit_pose
    pose: torch.Tensor
    history: list[float] = field(default_factory=list)  # mean total loss per step


def feature_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """[N]: mean over maps of the squared difference of channel-normalised features (an
    LPIPS-like distance without learned weights, so any classifier's maps can serve)."""
    total = torch.zeros(a[0].shape[0], device=a[0].device)
    for fa, fb in zip(a, b):
        diff = F.normalize(fa.float(), dim=1) - F.normalize(fb.float(), dim=1)
        total = total + diff.pow(2).flatten(1).mean(dim=1)
    return total / len(a)


def noise_regularisation(noise: list[torch.Tensor]) -> torch.Tensor:
    """[N]: squared autocorrelation of each noise map at shifts of one pixel, over a pyramid;
    without it the noise maps learn the portrait and w learns nothing."""
    total = torch.zeros(noise[0].shape[0], device=noise[0].device)
    for n in noise:
        while True:
            total = total + (n * n.roll(1, dims=3)).mean(dim=(1, 2, 3)).pow(2)
            total = total + (n * n.roll(1, dims=2)).mean(dim=(1, 2, 3)).pow(2)
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2) * 2  # keeps unit variance
    return total


def _normalise_noise(noise: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for n in noise:
            n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
            n.div_(n.square().mean(dim=(1, 2, 3), keepdim=True).sqrt() + 1e-8)


def pose_warp(images: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Moves each generated portrait [N, 3, R, R] into its photograph's pose.

    pose [N, 4]: shift x, shift y (in affine_grid units, half-sides; +x right, +y down),
    log-scale, roll (radians, positive turns the portrait anticlockwise on screen); zeros leave
    the images as they are. Edges repeat the border, as a background continues."""
    shift, log_scale, angle = pose[:, :2], pose[:, 2], pose[:, 3]
    # the grid maps output pixels to input pixels, so a portrait drawn larger needs a grid that
    # samples a smaller area: divide by the scale
    cos, sin = torch.cos(angle) / log_scale.exp(), torch.sin(angle) / log_scale.exp()
    theta = torch.stack(
        [
            torch.stack([cos, -sin, -shift[:, 0]], dim=1),
            torch.stack([sin, cos, -shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def describe_pose(pose: torch.Tensor) -> torch.Tensor:
    """[N, 4] fitted parameters -> shift x, shift y (fractions of the side), scale, roll (deg)."""
    return torch.stack([pose[:, 0] / 2, pose[:, 1] / 2, pose[:, 2].exp(), torch.rad2deg(pose[:, 3])], dim=1)


def start_w(model: LoadedGenerator, label: int, n: int, w_plus: bool) -> torch.Tensor:
    """The class's mean w (the truncation centre), repeated per portrait and per layer for w+."""
    w = model.generator.mapping.w_avg[label].detach().float().clone()
    if w_plus:
        return w.expand(n, model.generator.synthesis.num_ws, -1).clone()
    return w.expand(n, -1).clone()


def invert(
    model: LoadedGenerator,
    targets: torch.Tensor,
    init_label: int,
    settings: InversionSettings | None = None,
    feature_net: FeatureNet | None = None,
    progress: bool = False,
    seed: int = 0,
) -> InversionResult:
    """targets: float [N, 3, R, R] in [-1, 1] at the generator's resolution."""
    s = settings or InversionSettings()
    synthesis = model.generator.synthesis
    r = model.config.resolution
    check_shape("inversion targets", targets, (None, 3, r, r))
    dev = model.device
    targets = targets.float().to(dev)
    n = targets.shape[0]
    w = start_w(model, init_label, n, s.w_plus).to(dev).requires_grad_(True)
    params: list[dict] = [{"params": [w]}]
    pose = torch.zeros(n, 4, device=dev, requires_grad=s.fit_pose)
    if s.fit_pose:
        params.append({"params": [pose], "lr": s.pose_lr})
    noise = None
    if s.optimise_noise and synthesis.noise_resolutions:  # imported NVlabs networks have none
        g = torch.Generator().manual_seed(seed)
        noise = [m.to(dev).requires_grad_(True) for m in synthesis.make_noise(n, g)]
        params.append({"params": noise})
    opt = torch.optim.Adam(params, lr=s.lr, betas=(0.9, 0.999))
    with torch.no_grad():
        target_features = feature_net(targets) if feature_net is not None and s.feature_weight else None

    def losses() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        images = synthesis(w, noise)
        if s.fit_pose:
            images = pose_warp(images, pose)
        pixel = (images - targets).pow(2).flatten(1).mean(dim=1)
        feature = (
            feature_distance(feature_net(images), target_features)
            # target_features is set only where there is a feature_net; mypy needs both narrowed
            if feature_net is not None and target_features is not None
            else torch.zeros_like(pixel)
        )
        return images, pixel, feature, s.pixel_weight * pixel + s.feature_weight * feature

    with torch.no_grad():
        _, _, _, initial = losses()
    history = []
    # the synthesis weights stay frozen (requires_grad False); gradients reach only w and noise
    for _ in tqdm(range(s.steps), desc="inverting", unit="step", disable=not progress):
        _, _, _, total = losses()
        objective = total.sum()  # a sum, so each portrait's gradient is independent of the batch
        if noise is not None and s.noise_weight:
            objective = objective + s.noise_weight * noise_regularisation(noise).sum()
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        if noise is not None:
            _normalise_noise(noise)
        history.append(float(total.detach().mean()))
    with torch.no_grad():
        images, pixel, feature, total = losses()
    return InversionResult(
        w=w.detach().cpu(),
        reconstructions=images.detach().cpu(),
        initial_loss=initial.cpu(),
        final_loss=total.cpu(),
        final_pixel=pixel.cpu(),
        final_feature=feature.cpu(),
        pose=describe_pose(pose.detach()).cpu(),
        history=history,
    )


@torch.inference_mode()
def inverted_latent_average(model: LoadedGenerator, w: torch.Tensor) -> torch.Tensor:
    """[1, 3, R, R] float: the mean of inverted w (per layer for w+) synthesised once, no noise,
    exactly as a trained disorder's latent average is made."""
    mean = w.float().mean(dim=0, keepdim=True).to(model.device)
    return model.generator.synthesis(mean).float().cpu()


def load_targets(paths: list[Path], resolution: int) -> torch.Tensor:
    """Portrait files -> float [N, 3, R, R] in [-1, 1], resized with Lanczos like the trainer."""
    arrays = []
    for path in paths:
        try:
            arrays.append(read_portrait(path, resolution))
        except OSError as error:
            raise ValueError(f"{path}: cannot read the portrait ({error})") from None
    if not arrays:
        raise ValueError("no portraits to invert")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0

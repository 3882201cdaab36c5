"""The phantom face check: a tiny face / non-face network for phantom portraits.

The phantom classifier only tells disorders apart and has no "not a face" output, so the face gate
of phantom portraits is this separate model, trained on real phantoms (faces) against noise, flat
and gradient fields and tile-scrambled phantoms (non-faces with a face's colours and edges).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generator.gates.face import PAPER_RETINAFACE_THRESHOLD
from generator.nets.checkpoint import load_checkpoint_file, load_module_state, save_checkpoint
from generator.nets.layers import check_shape
from generator.training.augment import diff_augment
from generator.training.classifier import _Stage, adamw_one_cycle, split_held_out
from generator.training.data import load_image_set, to_float

KIND = "face-check"


@dataclass(frozen=True)
class FaceCheckConfig:
    resolution: int = 32  # inputs are resized to this side: a face's layout, not its details
    channels: tuple[int, ...] = (8, 16, 32)  # one stride-2 stage each

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"channels": list(self.channels)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaceCheckConfig:
        return cls(resolution=int(data["resolution"]), channels=tuple(data["channels"]))


class FaceCheckNet(nn.Module):
    """[-1, 1] RGB images of any square size -> one logit: face (> 0) or not."""

    def __init__(self, config: FaceCheckConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3,) + config.channels
        self.features = nn.Sequential(*[_Stage(a, b) for a, b in pairwise(widths)])
        side = config.resolution // 2 ** len(config.channels)
        # flattened, not pooled: a scrambled face has every part of a face, only not in place
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(config.channels[-1] * side * side, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_shape("face check images", images, (None, 3, None, None))
        r = self.config.resolution
        if images.shape[-2:] != (r, r):
            images = F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        return self.head(self.features(images)).squeeze(1)


class PhantomFaceDetector:
    """FaceDetector for phantom portraits: the face check's sigmoid output."""

    name = "phantom-face-check"

    def __init__(self, net: FaceCheckNet, checkpoint_id: str, device: torch.device) -> None:
        self.net = net.eval().requires_grad_(False).to(device)
        self.checkpoint_id = checkpoint_id
        self.device = device

    @torch.inference_mode()
    def confidence(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(images.float().to(self.device))).cpu()


def load_face_check(path: Path, device: torch.device | str = "cpu") -> PhantomFaceDetector:
    ckpt = load_checkpoint_file(path, expected_kind=KIND)
    net = FaceCheckNet(FaceCheckConfig.from_json(ckpt.config))
    load_module_state(net, ckpt.with_prefix("face_check"), f"{path} (face check)")
    return PhantomFaceDetector(net, ckpt.checkpoint_id, torch.device(device))


def non_faces(faces: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """As many non-face images as `faces` ([-1, 1], NCHW): a mix of five kinds."""
    n, _, h, w = faces.shape
    kind = torch.randint(0, 5, (n,), generator=g)
    out = torch.empty_like(faces)
    for i in range(n):
        out[i] = _non_face(int(kind[i]), faces[i], h, w, g)
    return out.clamp(-1, 1)


def _non_face(kind: int, face: torch.Tensor, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    colour = torch.rand(3, 1, 1, generator=g) * 2 - 1
    if kind == 0:  # smooth or fine noise, at a random scale
        side = int(torch.randint(2, h + 1, (1,), generator=g))
        noise = torch.randn(1, 3, side, side, generator=g) * (torch.rand(1, generator=g) * 0.8)
        return colour + F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)[0]
    if kind == 1:  # flat colour, as a collapsed generator makes
        return colour.expand(3, h, w) + torch.randn(3, h, w, generator=g) * 0.02
    if kind == 2:  # linear gradient between two colours
        t = (
            torch.linspace(0, 1, w).view(1, 1, w)
            if bool(torch.rand(1, generator=g) < 0.5)
            else (torch.linspace(0, 1, h).view(1, h, 1))
        )
        return colour + (torch.rand(3, 1, 1, generator=g) * 2 - 1 - colour) * t
    if kind == 3:  # the face's tiles shuffled: face colours and edges, no face layout
        grid = int((2, 4, 8)[int(torch.randint(0, 3, (1,), generator=g))])
        th, tw = h // grid, w // grid
        tiles = face[:, : th * grid, : tw * grid].reshape(3, grid, th, grid, tw)
        tiles = tiles.permute(1, 3, 0, 2, 4).reshape(grid * grid, 3, th, tw)
        perm = torch.randperm(grid * grid, generator=g)
        if bool((perm == torch.arange(grid * grid)).all()):
            perm = perm.roll(1)
        shuffled = tiles[perm].reshape(grid, grid, 3, th, tw).permute(2, 0, 3, 1, 4)
        return F.interpolate(shuffled.reshape(1, 3, grid * th, grid * tw), size=(h, w))[0]
    # the face upside down and mirrored into a half-and-half blend with noise: no upright face
    blend = torch.rand(1, generator=g) * 0.5 + 0.5
    noise = torch.randn(3, h, w, generator=g) * 0.5
    return blend * face.flip(1) + (1 - blend) * noise


def train_face_check(
    data_dir: Path,
    out: Path,
    *,
    epochs: int = 6,
    batch: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | None = None,
    config: FaceCheckConfig | None = None,
) -> tuple[str, dict[str, float]]:
    """Train on every phantom of data_dir (faces) against as many synthetic non-faces; return
    (checkpoint id, held-out pass rates at the 0.999 threshold for faces and non-faces)."""
    device = device or torch.device("cpu")
    torch.manual_seed(seed)
    config = config or FaceCheckConfig()
    data = load_image_set(data_dir, 64, training_only=False)
    g = torch.Generator().manual_seed(seed)
    val, train = split_held_out(len(data.labels), g)
    net = FaceCheckNet(config).to(device)
    opt, sched = adamw_one_cycle(net, lr, epochs * max(len(train) // batch, 1))
    start = time.monotonic()
    for epoch in range(epochs):
        net.train()
        perm = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(perm) - batch + 1, batch):
            faces = to_float(data.images[perm[i : i + batch]])
            x = torch.cat([faces, non_faces(faces, g)])
            # colour, shift and pixel noise, as generated faces differ from phantoms; applied to
            # both sides, or the padding of a shift would itself become the sign of a face
            x = diff_augment(x, "color,translation")
            x = x + torch.randn(x.shape, generator=g) * 0.05 * torch.rand(1, generator=g)
            y = torch.cat([torch.ones(len(faces)), torch.zeros(len(faces))])
            loss = F.binary_cross_entropy_with_logits(net(x.to(device)), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        rates = _pass_rates(net, to_float(data.images[val]), g, device)
        print(
            f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f} held-out faces passing "
            f"{rates['faces_passing']:.3f}, non-faces passing {rates['non_faces_passing']:.3f} "
            f"elapsed {time.monotonic() - start:.0f}s",
            flush=True,
        )
    provenance = {
        "data_manifest_sha256": data.manifest_sha256,
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "torch_version": torch.__version__,
    } | rates
    tensors = {f"face_check.{k}": v for k, v in net.state_dict().items()}
    ckpt_id = save_checkpoint(
        out,
        kind=KIND,
        config=config.to_json(),
        disorders=["face"],
        provenance=provenance,
        tensors=tensors,
    )
    return ckpt_id, rates


@torch.no_grad()
def _pass_rates(net: FaceCheckNet, faces: torch.Tensor, g: torch.Generator, device: torch.device) -> dict[str, float]:
    net.eval()
    face_conf = torch.sigmoid(net(faces.to(device))).cpu()
    other_conf = torch.sigmoid(net(non_faces(faces, g).to(device))).cpu()
    return {
        "faces_passing": float((face_conf >= PAPER_RETINAFACE_THRESHOLD).float().mean()),
        "non_faces_passing": float((other_conf >= PAPER_RETINAFACE_THRESHOLD).float().mean()),
    }

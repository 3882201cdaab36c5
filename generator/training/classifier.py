"""A small phantom classifier: serves the GestaltLoss and judges generated images per disorder."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generator.nets.checkpoint import (
    CheckpointError,
    load_checkpoint_file,
    load_module_state,
    save_checkpoint,
)
from generator.nets.layers import check_shape
from generator.training.augment import diff_augment
from generator.training.data import load_image_set, to_float


@dataclass(frozen=True)
class ClassifierConfig:
    resolution: int = 64  # inputs are resized to this side
    channels: tuple[int, ...] = (32, 64, 96, 128)  # one stride-2 stage each
    num_classes: int = 9  # disorders plus unaffected

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"channels": list(self.channels)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassifierConfig:
        return cls(
            resolution=int(data["resolution"]),
            channels=tuple(data["channels"]),
            num_classes=int(data["num_classes"]),
        )


class _Stage(nn.Sequential):
    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps, at half the resolution
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class PhantomClassifier(nn.Module):
    """[-1, 1] RGB images of any square size -> logits over the phantom classes."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3,) + config.channels
        self.features = nn.Sequential(*[_Stage(a, b) for a, b in pairwise(widths)])
        side = config.resolution // 2 ** len(config.channels)
        # a flattened head keeps where features are: spacing and height are the disorders' signs
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(config.channels[-1] * side * side, config.num_classes),
        )

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        check_shape("classifier images", images, (None, 3, None, None))
        r = self.config.resolution
        if images.shape[-1] != r or images.shape[-2] != r:
            images = F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.resized(images)))

    def stage_outputs(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after each stage: the gates' embedding and the inversion's feature loss."""
        x, outputs = self.resized(images), []
        for stage in self.features:
            x = stage(x)
            outputs.append(x)
        return outputs


@dataclass
class LoadedClassifier:
    net: PhantomClassifier
    disorders: list[str]
    checkpoint_id: str


def load_classifier(path: Path, device: torch.device | str = "cpu") -> LoadedClassifier:
    ckpt = load_checkpoint_file(path, expected_kind="classifier")
    config = ClassifierConfig.from_json(ckpt.config)
    if config.num_classes != len(ckpt.disorders):
        raise CheckpointError(f"{path}: {config.num_classes} classes in config, {len(ckpt.disorders)} disorders listed")
    net = PhantomClassifier(config)
    load_module_state(net, ckpt.with_prefix("classifier"), f"{path} (classifier)")
    return LoadedClassifier(net.eval().requires_grad_(False).to(device), list(ckpt.disorders), ckpt.checkpoint_id)


def split_held_out(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a seeded held-out tenth (at least one item), and of the rest."""
    order = torch.randperm(n, generator=generator)
    n_val = max(n // 10, 1)
    return order[:n_val], order[n_val:]


def adamw_one_cycle(
    net: torch.nn.Module, lr: float, total_steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR]:
    """The small models' optimiser: AdamW with light weight decay under a one-cycle schedule."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps)


def train_classifier(
    data_dir: Path,
    out: Path,
    *,
    epochs: int = 12,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | None = None,
    config: ClassifierConfig | None = None,
) -> tuple[str, float]:
    """Train on every manifest row except a held-out tenth; return (checkpoint id, held-out accuracy)."""
    device = device or torch.device("cpu")
    torch.manual_seed(seed)
    base = config or ClassifierConfig()
    data = load_image_set(data_dir, base.resolution, training_only=False)
    config = ClassifierConfig(base.resolution, base.channels, len(data.disorders))
    g = torch.Generator().manual_seed(seed)
    val, train = split_held_out(len(data.labels), g)
    net = PhantomClassifier(config).to(device)
    opt, sched = adamw_one_cycle(net, lr, epochs * max(len(train) // batch, 1))
    start, step = time.monotonic(), 0
    for epoch in range(epochs):
        net.train()
        perm = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i : i + batch]
            # colour and shift augmentation so the classifier judges shape, not a GAN's colour cast
            x = diff_augment(to_float(data.images[idx]).to(device), "color,translation")
            loss = F.cross_entropy(net(x), data.labels[idx].to(device), label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        acc = accuracy(net, data.images[val], data.labels[val], device)
        elapsed = time.monotonic() - start
        eta = elapsed / (epoch + 1) * (epochs - epoch - 1)
        print(
            f"epoch {epoch + 1}/{epochs} loss {loss.item():.3f} held-out acc {acc:.3f} elapsed {elapsed:.0f}s eta {eta:.0f}s",
            flush=True,
        )
    provenance = {
        "data_manifest_sha256": data.manifest_sha256,
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "held_out_accuracy": acc,
        "torch_version": torch.__version__,
    }
    tensors = {f"classifier.{k}": v for k, v in net.state_dict().items()}
    ckpt_id = save_checkpoint(
        out,
        kind="classifier",
        config=config.to_json(),
        disorders=data.disorders,
        provenance=provenance,
        tensors=tensors,
    )
    return ckpt_id, acc


@torch.no_grad()
def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(labels), 256):
        logits = net(to_float(images[i : i + 256]).to(device))
        correct += int((logits.argmax(1).cpu() == labels[i : i + 256]).sum())
    return correct / max(len(labels), 1)

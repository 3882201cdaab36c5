"""Network and training configurations, named presets, and their JSON form stored in checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NetworkConfig:
    """Shapes of the generator and discriminator; a checkpoint is only loadable into its own."""

    resolution: int = 64  # output side in pixels, a power of two >= 8
    z_dim: int = 128  # input latent size
    w_dim: int = 128  # intermediate latent (style) size
    embed_dim: int = 128  # label embedding size in the mapping network
    mapping_layers: int = 4  # MLP depth of the mapping network
    mapping_lr_mul: float = 0.01  # StyleGAN's reduced learning rate for the mapping MLP
    channels: dict[int, int] = field(default_factory=lambda: {4: 128, 8: 128, 16: 64, 32: 32, 64: 16})  # per resolution
    num_classes: int = 9  # disorders plus unaffected; must equal len(disorders) of a checkpoint
    w_avg_beta: float = 0.995  # decay of the per-class running w average

    def __post_init__(self) -> None:
        res = self.resolution
        if res < 8 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {res}")
        missing = [r for r in self.resolutions() if r not in self.channels]
        if missing:
            raise ValueError(f"channels has no entry for resolutions {missing}")

    def resolutions(self) -> list[int]:
        out, r = [], 4
        while r <= self.resolution:
            out.append(r)
            r *= 2
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = {str(k): v for k, v in self.channels.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network config keys: {sorted(unknown)}")
        data = dict(data)
        if "channels" in data:
            data["channels"] = {int(k): int(v) for k, v in data["channels"].items()}
        return cls(**data)

    def differences(self, other: NetworkConfig) -> list[str]:
        """Human-readable list of fields whose values differ."""
        a, b = self.to_json(), other.to_json()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored as provenance, free to change between runs."""

    batch: int = 16  # images per step
    g_lr: float = 0.0025  # Adam learning rate of the generator
    d_lr: float = 0.0025  # Adam learning rate of the discriminator
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas, StyleGAN2's
    r1_gamma: float = 0.2  # R1 weight; small for small images
    r1_interval: int = 16  # lazy R1: every this many steps, scaled up to match
    ema_half_life_images: int = 2_000  # EMA generator half-life counted in images
    ema_rampup: float = 0.05  # half-life grows with training: min(this * images seen)
    diffaugment: str = "color,translation,cutout"  # DiffAugment policy, comma separated
    unaffected_factor: float = 20.0  # exposure of `unaffected` relative to one disorder (paper: x20)
    gestalt_weight: float = 0.0  # lambda of the GestaltLoss; 0 turns it off
    # what the GestaltLoss's classifier sees of each generated portrait (a DiffAugment policy): a
    # blurred, shifted, recoloured view, so the generator cannot satisfy it with pixel-level
    # patterns that excite the classifier (unaugmented, runs from scratch collapsed into those)
    gestalt_view: str = "blur,color,translation"
    checkpoint_every: int = 500  # steps between resumable checkpoints
    # images each process puts through the networks at once; the global batch is split into
    # batch / batch_gpu shards, each with its own random stream, spread over the processes and
    # accumulated; 0 = batch / number of processes (one shard each)
    batch_gpu: int = 0
    precision: str = "fp32"  # fp32, or bf16 autocast (R1, path length, losses and EMA in fp32)
    style_mixing: float = 0.0  # probability that an image's later layers take a second z's w
    pl_weight: float = 0.0  # path-length regularisation weight; 0 turns it off (StyleGAN2: 2)
    pl_interval: int = 4  # lazy path-length regularisation: every this many steps, scaled up
    pl_decay: float = 0.01  # decay of the running mean of path lengths
    pl_batch_shrink: int = 2  # the regularisation pass uses batch / this images
    ada_target: float = 0.0  # ADA's target for r_t = E[sign(D(real))]; 0 = off (ADA: 0.6)
    ada_interval: int = 4  # steps between adjustments of the augmentation probability p
    ada_speed_images: int = 500_000  # images over which p may travel from 0 to 1

    def __post_init__(self) -> None:
        problems = []
        if self.batch < 1:
            problems.append(f"batch must be at least 1, got {self.batch}")
        if self.batch_gpu < 0:
            problems.append(f"batch_gpu must be 0 (automatic) or positive, got {self.batch_gpu}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 <= self.style_mixing <= 1.0:
            problems.append(f"style_mixing must be a probability, got {self.style_mixing}")
        if not 0.0 <= self.ada_target < 1.0:
            problems.append(f"ada_target must be in [0, 1) (0 = off), got {self.ada_target}")
        for name in (
            "r1_interval",
            "pl_interval",
            "pl_batch_shrink",
            "ada_interval",
            "ada_speed_images",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.pl_weight < 0:
            problems.append(f"pl_weight must not be negative, got {self.pl_weight}")
        if problems:
            raise ValueError("; ".join(problems))

    def shards(self, world_size: int) -> tuple[int, int]:
        """(images per shard, shards per process) for `world_size` processes; ValueError when the
        batch does not split evenly."""
        per_shard = self.batch_gpu or self.batch // world_size
        if per_shard < 1 or self.batch % (per_shard * world_size):
            shown = self.batch_gpu or "batch / processes"
            raise ValueError(
                f"batch {self.batch} does not split into shards of {shown} images over "
                f"{world_size} process(es); choose --batch a multiple of --batch-gpu x processes"
            )
        return per_shard, self.batch // (per_shard * world_size)


PRESETS: dict[str, NetworkConfig] = {
    "tiny": NetworkConfig(
        resolution=16,
        z_dim=16,
        w_dim=16,
        embed_dim=16,
        mapping_layers=2,
        channels={4: 16, 8: 16, 16: 8},
        num_classes=3,
    ),
    "demo64": NetworkConfig(),
    "real256": NetworkConfig(
        resolution=256,
        z_dim=512,
        w_dim=512,
        embed_dim=512,
        mapping_layers=8,
        channels={4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64},
        num_classes=21,
    ),
}


def load_network_config(spec: str, num_classes: int | None = None) -> NetworkConfig:
    """A preset name or a JSON file path; num_classes, if given, overrides the stored count."""
    if spec in PRESETS:
        config = PRESETS[spec]
    else:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"config {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file")
        config = NetworkConfig.from_json(json.loads(path.read_text(encoding="utf-8")))
    if num_classes is not None and num_classes != config.num_classes:
        data = config.to_json()
        data["num_classes"] = num_classes
        config = NetworkConfig.from_json(data)
    return config

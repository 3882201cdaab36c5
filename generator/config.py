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
    channels: dict[int, int] = field(
        default_factory=lambda: {4: 128, 8: 128, 16: 64, 32: 32, 64: 16}
    )  # per resolution
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
    unaffected_factor: float = (
        20.0  # exposure of `unaffected` relative to one disorder (paper: x20)
    )
    gestalt_weight: float = 0.0  # lambda of the GestaltLoss; 0 turns it off
    # what the GestaltLoss's classifier sees of each generated portrait (a DiffAugment policy): a
    # blurred, shifted, recoloured view, so the generator cannot satisfy it with pixel-level
    # patterns that excite the classifier (unaugmented, runs from scratch collapsed into those)
    gestalt_view: str = "blur,color,translation"
    checkpoint_every: int = 500  # steps between resumable checkpoints


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
            raise ValueError(
                f"config {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file"
            )
        config = NetworkConfig.from_json(json.loads(path.read_text(encoding="utf-8")))
    if num_classes is not None and num_classes != config.num_classes:
        data = config.to_json()
        data["num_classes"] = num_classes
        config = NetworkConfig.from_json(data)
    return config

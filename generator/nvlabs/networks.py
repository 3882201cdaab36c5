"""An imported NVlabs generator behind this package's one generator interface.

The synthesis networks (`stylegan2`, `stylegan3`) compute exactly what NVlabs'
compute with the same weights, under NVlabs' module and tensor names (`b8.conv0.affine.weight`,
`L3_52_16.up_filter`), so a conversion is a rename with a prefix; every filter is the snapshot's.
Each is built from a JSON spec stored in the checkpoint, so loading needs no NVlabs code, no scipy.
To the rest of the package they look like `generator.nets.networks.SynthesisNetwork`: `forward(w,
noise)` with w [B, w_dim] or w+ [B, num_ws, w_dim], `num_ws`, `noise_resolutions`, `make_noise`.
NVlabs' 'const' noise mode is built in (StyleGAN2's stored noise maps; StyleGAN3 has none), so a
seed's image is what NVlabs' `gen_images.py --noise-mode=const` shows for the same z.
Mapping and synthesis compute in float32 even under this package's CUDA autocast: StyleGAN3's
Fourier features lose their phases in bf16 (0.017 of error on a test image spanning +-0.65), and
fidelity to the trained model comes first (NVlabs' fp16 layers approximate this float32 result).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from generator.nets.networks import MappingNetwork
from generator.nvlabs.stylegan2 import StyleGAN2Synthesis
from generator.nvlabs.stylegan3 import StyleGAN3Synthesis

SYNTHESIS: dict[str, type[StyleGAN2Synthesis] | type[StyleGAN3Synthesis]] = {
    "stylegan2": StyleGAN2Synthesis,
    "stylegan3": StyleGAN3Synthesis,
}
IMPORTED = "nvlabs"  # the `architecture` key of an imported generator checkpoint's config


@dataclass(frozen=True)
class ImportedConfig:
    """An imported generator's shapes: what `LoadedGenerator.config` offers for our own networks
    (resolution, z_dim, w_dim, num_classes), plus the mapping config and the synthesis spec."""

    resolution: int
    z_dim: int
    w_dim: int
    num_classes: int
    source_architecture: str  # e.g. "StyleGAN3-R", "StyleGAN2 (skip)"
    mapping: dict[str, Any]  # MappingNetwork kwargs
    synthesis: dict[str, Any]  # StyleGAN2Synthesis / StyleGAN3Synthesis spec

    def to_json(self) -> dict[str, Any]:
        return {"architecture": IMPORTED, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportedConfig:
        data = dict(data)
        if data.pop("architecture", None) != IMPORTED:
            raise ValueError("not an imported NVlabs generator config")
        known = {f.name for f in fields(cls)}
        if set(data) != known:
            raise ValueError(f"imported generator config: keys {sorted(set(data) ^ known)} differ")
        return cls(**data)

    def differences(self, other: object) -> list[str]:
        if not isinstance(other, ImportedConfig):
            return [f"an imported {self.source_architecture} network, not {type(other).__name__}"]
        a, b = self.to_json(), other.to_json()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]


class ImportedGenerator(nn.Module):
    """An imported NVlabs generator behind this package's interface: our mapping network (the
    conversion is exact, with per-class w averages for truncation) and NVlabs' synthesis."""

    def __init__(self, mapping_config: dict[str, Any], synthesis_spec: dict[str, Any]) -> None:
        super().__init__()
        kind = synthesis_spec.get("kind")
        if kind not in SYNTHESIS:
            raise ValueError(f"unknown imported synthesis kind {kind!r}; this code reads {sorted(SYNTHESIS)}")
        self.mapping = MappingNetwork(**mapping_config)
        self.synthesis: StyleGAN2Synthesis | StyleGAN3Synthesis = SYNTHESIS[kind](synthesis_spec)

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        truncation: float = 1.0,
        noise: list[torch.Tensor] | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        with torch.autocast(device_type=z.device.type, enabled=False):  # float32, see module doc
            w = self.mapping(z.float(), labels, truncation=truncation, update_w_avg=update_w_avg)
            return self.synthesis(w, noise)

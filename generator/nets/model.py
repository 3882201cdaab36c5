"""A generator ready for inference: the EMA network, its disorder list and its checkpoint id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generator.nets.checkpoint import CheckpointError, load_checkpoint_file, load_module_state
from generator.nets.config import NetworkConfig
from generator.nets.device import resolve_device
from generator.nets.networks import Generator
from generator.nvlabs.networks import IMPORTED, ImportedConfig, ImportedGenerator


@dataclass
class LoadedGenerator:
    generator: Generator | ImportedGenerator  # EMA weights, eval mode, on `device`
    disorders: list[str]  # class index -> disorder code
    checkpoint_id: str
    config: NetworkConfig | ImportedConfig  # both give resolution, z_dim, w_dim, num_classes
    provenance: dict[str, Any]
    device: torch.device

    def label_of(self, disorder: str) -> int:
        try:
            return self.disorders.index(disorder)
        except ValueError:
            raise ValueError(
                f"disorder {disorder!r} is not in checkpoint {self.checkpoint_id}; it knows: {', '.join(self.disorders)}"
            ) from None


def load_generator(
    path: Path,
    device: str = "auto",
    expected_config: NetworkConfig | None = None,
) -> LoadedGenerator:
    """Load the EMA generator; refuse a checkpoint whose config differs from `expected_config`."""
    ckpt = load_checkpoint_file(path, expected_kind="generator")
    config: NetworkConfig | ImportedConfig
    net: Generator | ImportedGenerator
    if ckpt.config.get("architecture") == IMPORTED:  # an NVlabs snapshot, via import-nvlabs
        config = ImportedConfig.from_json(ckpt.config)
        net = ImportedGenerator(config.mapping, config.synthesis)
    else:
        config = NetworkConfig.from_json(ckpt.config)
        net = Generator(config)
    if expected_config is not None and expected_config != config:
        diff = "; ".join(config.differences(expected_config))
        raise CheckpointError(
            f"{path}: network config differs from the one asked for ({diff}); pass the matching --config"
        )
    if config.num_classes != len(ckpt.disorders):
        raise CheckpointError(
            f"{path}: config has {config.num_classes} classes but {len(ckpt.disorders)} disorders are listed"
        )
    load_module_state(net, ckpt.with_prefix("G_ema"), f"{path} (G_ema)")
    dev = resolve_device(device)
    return LoadedGenerator(
        generator=net.eval().requires_grad_(False).to(dev),
        disorders=list(ckpt.disorders),
        checkpoint_id=ckpt.checkpoint_id,
        config=config,
        provenance=ckpt.provenance,
        device=dev,
    )

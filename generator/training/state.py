"""The training state and its checkpoints: the networks, their optimisers and the scalars a run
carries from step to step (TrainState), the EMA update, and the files that hold them: the
resumable checkpoint (`latest`), the exported EMA generator, resuming from the one and starting a
fresh run from the other. Kept apart from the step (`step.py`) and the run loop (`train.py`) because
what is saved and restored is one contract, whatever a step computes."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generator.nets.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint_file,
    load_module_state,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from generator.nets.config import NetworkConfig, TrainConfig
from generator.nets.networks import Discriminator, Generator
from generator.nvlabs.networks import IMPORTED
from generator.training.data import ImageSet

LATEST = "latest.safetensors"
EXPORT = "generator.safetensors"


@dataclass
class TrainState:
    G: Generator
    D: Discriminator
    G_ema: Generator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    step: int = 0
    ada_p: float = 0.0  # ADA's current augmentation probability
    ada_sign_sum: float = 0.0  # sum of sign(D(real)) over every process since the last adjustment
    ada_count: float = 0.0  # real images counted in ada_sign_sum
    pl_mean: float = 0.0  # running mean of the path lengths


# training state that is not a tensor, stored in a checkpoint's extra (absent in older ones: 0)
_SCALARS = ("ada_p", "ada_sign_sum", "ada_count", "pl_mean")


def build_state(config: NetworkConfig, train: TrainConfig, device: torch.device, seed: int) -> TrainState:
    # initial weights come from the global RNG (nn.Module initialisers take no generator); it is
    # seeded once here, inside a fork, so the caller's global RNG is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(config).to(device), Discriminator(config).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    # lazy R1 regularisation: Adam's settings are rescaled as in StyleGAN2
    c = train.r1_interval / (train.r1_interval + 1)
    opt_G = torch.optim.Adam(G.parameters(), lr=train.g_lr, betas=train.betas, eps=1e-8)
    opt_D = torch.optim.Adam(
        D.parameters(),
        lr=train.d_lr * c,
        betas=(train.betas[0] ** c, train.betas[1] ** c),
        eps=1e-8,
    )
    return TrainState(G, D, G_ema, opt_G, opt_D)


def state_tensors(state: TrainState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("G", state.G), ("D", state.D), ("G_ema", state.G_ema)):
        tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
    tg, groups_g = optimizer_to_tensors(state.opt_G, "opt_G")
    td, groups_d = optimizer_to_tensors(state.opt_D, "opt_D")
    tensors.update(tg)
    tensors.update(td)
    extra = {"step": state.step, "opt_G_groups": groups_g, "opt_D_groups": groups_d}
    return tensors, extra | {name: float(getattr(state, name)) for name in _SCALARS}


def _matching_generator(path: Path, config: NetworkConfig, disorders: list[str], refusal: str) -> Checkpoint:
    """A generator checkpoint made for this network and these disorders, or a CheckpointError saying why not."""
    ckpt = load_checkpoint_file(path, expected_kind="generator")
    if ckpt.config.get("architecture") == IMPORTED:
        # An imported NVlabs network has no discriminator and another synthesis: it samples, averages
        # and inverts here, but training it further belongs to the code it was trained with.
        raise CheckpointError(
            f"{path}: {refusal}, it is an imported NVlabs generator "
            f"({ckpt.provenance.get('architecture', 'StyleGAN')}); this trainer trains only its own network"
        )
    stored = NetworkConfig.from_json(ckpt.config)
    if stored != config:
        raise CheckpointError(f"{path}: {refusal}, network config differs ({'; '.join(stored.differences(config))})")
    if ckpt.disorders != disorders:
        raise CheckpointError(f"{path}: {refusal}, disorders {ckpt.disorders} differ from the data's {disorders}")
    return ckpt


def restore_state(state: TrainState, path: Path, config: NetworkConfig, disorders: list[str]) -> None:
    ckpt = _matching_generator(path, config, disorders, "cannot resume")
    if "step" not in ckpt.extra:
        raise CheckpointError(f"{path}: an exported generator without training state; resume from {LATEST}")
    for prefix, module in (("G", state.G), ("D", state.D), ("G_ema", state.G_ema)):
        load_module_state(module, ckpt.with_prefix(prefix), f"{path} ({prefix})")
    optimizer_from_tensors(state.opt_G, ckpt, "opt_G", ckpt.extra["opt_G_groups"])
    optimizer_from_tensors(state.opt_D, ckpt, "opt_D", ckpt.extra["opt_D_groups"])
    state.step = int(ckpt.extra["step"])
    for name in _SCALARS:
        setattr(state, name, float(ckpt.extra.get(name, 0.0)))


def init_generator_from(state: TrainState, path: Path, config: NetworkConfig, disorders: list[str]) -> str:
    """Start a fresh run from an exported generator (a fine-tune, e.g. with GestaltLoss): its EMA weights
    become both G and G_ema; the discriminator and optimisers start anew. Returns its checkpoint id."""
    ckpt = _matching_generator(path, config, disorders, "cannot start from it")
    weights = ckpt.with_prefix("G_ema")
    for module in (state.G, state.G_ema):
        load_module_state(module, weights, f"{path} (G_ema)")
    return ckpt.checkpoint_id


@torch.no_grad()
def update_ema(state: TrainState, train: TrainConfig) -> None:
    images_seen = (state.step + 1) * train.batch
    half_life = min(train.ema_half_life_images, max(images_seen * train.ema_rampup, 1.0))
    beta = 0.5 ** (train.batch / half_life)
    for p_ema, p in zip(state.G_ema.parameters(), state.G.parameters(), strict=True):
        p_ema.lerp_(p.float(), 1 - beta)  # fp32, whatever precision the step ran in
    for b_ema, b in zip(state.G_ema.buffers(), state.G.buffers(), strict=True):
        b_ema.copy_(b)


def _provenance_now(provenance: dict[str, Any], state: TrainState, batch: int) -> dict[str, Any]:
    return provenance | {
        "steps": state.step,
        "images_seen": state.step * batch,
        "saved_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def save_training_checkpoint(state: TrainState, path: Path, data: ImageSet, provenance: dict[str, Any]) -> str:
    tensors, extra = state_tensors(state)
    return save_checkpoint(
        path,
        kind="generator",
        config=state.G.config.to_json(),
        disorders=data.disorders,
        provenance=_provenance_now(provenance, state, provenance["train_config"]["batch"]),
        tensors=tensors,
        extra=extra,
    )


def export_generator(state: TrainState, path: Path, data: ImageSet, provenance: dict[str, Any]) -> Path:
    """The EMA generator alone: what sampling, the survey and the fixtures need."""
    tensors = {f"G_ema.{k}": v for k, v in state.G_ema.state_dict().items()}
    save_checkpoint(
        path,
        kind="generator",
        config=state.G.config.to_json(),
        disorders=data.disorders,
        provenance=_provenance_now(provenance, state, provenance["train_config"]["batch"]),
        tensors=tensors,
    )
    return path

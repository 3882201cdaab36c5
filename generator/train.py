"""Adversarial training: balanced over-sampling, DiffAugment, lazy R1, EMA generator, optional
GestaltLoss, resumable checkpoints. Every step seeds its own RNG from (seed, step), so a resumed
run draws exactly what the uninterrupted run would have drawn."""

from __future__ import annotations

import copy
import datetime as dt
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from generator.augment import diff_augment
from generator.averages import recompute_class_w_avg
from generator.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint_file,
    load_module_state,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from generator.classifier import load_classifier
from generator.config import NetworkConfig, TrainConfig
from generator.data import BalancedSampler, ImageSet, class_weights, load_image_set, to_float
from generator.losses import GestaltLoss, d_logistic_loss, g_nonsaturating_loss, r1_penalty
from generator.networks import Discriminator, Generator

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


def build_state(
    config: NetworkConfig, train: TrainConfig, device: torch.device, seed: int
) -> TrainState:
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
    return tensors, {"step": state.step, "opt_G_groups": groups_g, "opt_D_groups": groups_d}


def _matching_generator(
    path: Path, config: NetworkConfig, disorders: list[str], refusal: str
) -> Checkpoint:
    """A generator checkpoint made for this network and these disorders, or a CheckpointError saying why not."""
    ckpt = load_checkpoint_file(path, expected_kind="generator")
    stored = NetworkConfig.from_json(ckpt.config)
    if stored != config:
        raise CheckpointError(
            f"{path}: {refusal}, network config differs ({'; '.join(stored.differences(config))})"
        )
    if ckpt.disorders != disorders:
        raise CheckpointError(
            f"{path}: {refusal}, disorders {ckpt.disorders} differ from the data's {disorders}"
        )
    return ckpt


def restore_state(
    state: TrainState, path: Path, config: NetworkConfig, disorders: list[str]
) -> None:
    ckpt = _matching_generator(path, config, disorders, "cannot resume")
    if "step" not in ckpt.extra:
        raise CheckpointError(
            f"{path}: an exported generator without training state; resume from {LATEST}"
        )
    for prefix, module in (("G", state.G), ("D", state.D), ("G_ema", state.G_ema)):
        load_module_state(module, ckpt.with_prefix(prefix), f"{path} ({prefix})")
    optimizer_from_tensors(state.opt_G, ckpt, "opt_G", ckpt.extra["opt_G_groups"])
    optimizer_from_tensors(state.opt_D, ckpt, "opt_D", ckpt.extra["opt_D_groups"])
    state.step = int(ckpt.extra["step"])


@torch.no_grad()
def update_ema(state: TrainState, train: TrainConfig) -> None:
    images_seen = (state.step + 1) * train.batch
    half_life = min(train.ema_half_life_images, max(images_seen * train.ema_rampup, 1.0))
    beta = 0.5 ** (train.batch / half_life)
    for p_ema, p in zip(state.G_ema.parameters(), state.G.parameters(), strict=True):
        p_ema.lerp_(p, 1 - beta)
    for b_ema, b in zip(state.G_ema.buffers(), state.G.buffers(), strict=True):
        b_ema.copy_(b)


def train_step(
    state: TrainState,
    data: ImageSet,
    sampler: BalancedSampler,
    train: TrainConfig,
    device: torch.device,
    seed: int,
    gestalt: GestaltLoss | None,
) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + state.step)
    torch.manual_seed(seed * 1_000_003 + state.step)  # augmentation and noise draws
    G, D, cfg = state.G, state.D, state.G.config
    n = train.batch
    stats: dict[str, float] = {}

    # discriminator step
    real_idx = sampler.real_indices(n, g)
    real = to_float(data.images[real_idx]).to(device)
    real_labels = data.labels[real_idx].to(device)
    fake_labels = sampler.fake_labels(n, g).to(device)
    z = torch.randn(n, cfg.z_dim, generator=g).to(device)
    with torch.no_grad():
        fake = G(z, fake_labels, noise=[m.to(device) for m in G.synthesis.make_noise(n, g)])
    do_r1 = train.r1_gamma > 0 and state.step % train.r1_interval == 0
    real.requires_grad_(do_r1)
    real_scores = D(diff_augment(real, train.diffaugment), real_labels)
    fake_scores = D(diff_augment(fake, train.diffaugment), fake_labels)
    d_loss = d_logistic_loss(real_scores, fake_scores)
    if do_r1:
        r1 = r1_penalty(real_scores, real)
        d_loss = d_loss + train.r1_gamma / 2 * r1 * train.r1_interval
        stats["r1"] = r1.item()
    state.opt_D.zero_grad(set_to_none=True)
    d_loss.backward()
    state.opt_D.step()
    stats["d_loss"] = d_loss.item()

    # generator step
    fake_labels = sampler.fake_labels(n, g).to(device)
    z = torch.randn(n, cfg.z_dim, generator=g).to(device)
    fake = G(
        z,
        fake_labels,
        noise=[m.to(device) for m in G.synthesis.make_noise(n, g)],
        update_w_avg=True,
    )
    g_loss = g_nonsaturating_loss(D(diff_augment(fake, train.diffaugment), fake_labels))
    stats["g_adv"] = g_loss.item()
    if gestalt is not None and train.gestalt_weight > 0:
        gl = gestalt(diff_augment(fake, train.gestalt_view), fake_labels)
        g_loss = g_loss + train.gestalt_weight * gl
        stats["gestalt"] = gl.item()
        stats["rank0"] = float((gestalt.rank(fake.detach(), fake_labels) == 0).float().mean())
    state.opt_G.zero_grad(set_to_none=True)
    g_loss.backward()
    state.opt_G.step()
    update_ema(state, train)
    state.step += 1
    return stats


def init_generator_from(
    state: TrainState, path: Path, config: NetworkConfig, disorders: list[str]
) -> str:
    """Start a fresh run from an exported generator (a fine-tune, e.g. with GestaltLoss): its EMA weights
    become both G and G_ema; the discriminator and optimisers start anew. Returns its checkpoint id."""
    ckpt = _matching_generator(path, config, disorders, "cannot start from it")
    weights = ckpt.with_prefix("G_ema")
    for module in (state.G, state.G_ema):
        load_module_state(module, weights, f"{path} (G_ema)")
    return ckpt.checkpoint_id


def run_training(
    data_dir: Path,
    out_dir: Path,
    config: NetworkConfig,
    train: TrainConfig,
    *,
    steps: int,
    seed: int = 0,
    device: torch.device | None = None,
    classifier_path: Path | None = None,
    resume: Path | None = None,
    init_from: Path | None = None,
    command: str = "",
) -> Path:
    """Train to `steps` total steps (resuming from out_dir/latest when present; a fresh run may start
    from an exported generator, `init_from`); return the export."""
    device = device or torch.device("cpu")
    data = load_image_set(data_dir, config.resolution, training_only=True)
    if len(data.disorders) != config.num_classes:
        config = NetworkConfig.from_json(config.to_json() | {"num_classes": len(data.disorders)})
    sampler = BalancedSampler(data.labels, class_weights(data.disorders, train.unaffected_factor))
    state = build_state(config, train, device, seed)
    out_dir = Path(out_dir)
    resume = resume or (out_dir / LATEST if (out_dir / LATEST).is_file() else None)
    initialised_from = None
    if resume is not None:
        restore_state(state, resume, config, data.disorders)
        print(f"resumed from {resume} at step {state.step}", file=sys.stderr)
    elif init_from is not None:
        initialised_from = init_generator_from(state, init_from, config, data.disorders)
        print(f"starting from the generator {initialised_from} ({init_from})", file=sys.stderr)
    gestalt = None
    if train.gestalt_weight > 0:
        if classifier_path is None:
            raise ValueError(
                "gestalt_weight > 0 needs --classifier CKPT (train one with train-classifier)"
            )
        clf = load_classifier(classifier_path, device)
        gestalt = GestaltLoss(clf.net, clf.disorders, data.disorders).to(device)
    provenance = {
        "data_dir": str(data_dir),
        "data_manifest_sha256": data.manifest_sha256,
        "data_images": len(data.labels),
        "seed": seed,
        "train_config": asdict(train),
        "classifier": str(classifier_path) if classifier_path else None,
        "initialised_from": initialised_from,
        "torch_version": torch.__version__,
        "command": command,
    }
    bar = tqdm(
        total=steps,
        initial=state.step,
        unit="step",
        desc="training",
        file=sys.stderr,
        mininterval=5.0,
    )
    start, start_step = time.monotonic(), state.step
    while state.step < steps:
        stats = train_step(state, data, sampler, train, device, seed, gestalt)
        bar.update(1)
        if state.step % 25 == 0 or state.step == steps:
            rate = (state.step - start_step) / max(time.monotonic() - start, 1e-9)
            eta = (steps - state.step) / max(rate, 1e-9)
            bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()} | {"eta_s": f"{eta:.0f}"})
        if state.step % train.checkpoint_every == 0 or state.step == steps:
            save_training_checkpoint(state, out_dir / LATEST, data, provenance)
    bar.close()
    recompute_class_w_avg(state.G_ema)  # the running average lags the final mapping
    return export_generator(state, out_dir / EXPORT, data, provenance)


def _provenance_now(provenance: dict[str, Any], state: TrainState, batch: int) -> dict[str, Any]:
    return provenance | {
        "steps": state.step,
        "images_seen": state.step * batch,
        "saved_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def save_training_checkpoint(
    state: TrainState, path: Path, data: ImageSet, provenance: dict[str, Any]
) -> str:
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


def export_generator(
    state: TrainState, path: Path, data: ImageSet, provenance: dict[str, Any]
) -> Path:
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

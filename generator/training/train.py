"""Adversarial training: balanced over-sampling, DiffAugment or adaptive augmentation (ADA), lazy R1,
optional style mixing and lazy path-length regularisation, EMA generator, optional GestaltLoss,
bf16 autocast, resumable checkpoints, on one process or many (torchrun, DistributedDataParallel).

Randomness: a step's global batch is split into shards (TrainConfig.shards); each shard of each
phase of each step draws from its own generators, derived from (seed, step, shard, phase), never
from torch's global RNG. So a resumed run draws exactly what the uninterrupted run would have drawn,
and one process holding two shards draws what two processes holding one each would."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from generator.inference.averages import recompute_class_w_avg
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
from generator.training.augment import ada_augment, adjust_ada_p, diff_augment, overfitting
from generator.training.classifier import load_classifier
from generator.training.data import (
    BalancedSampler,
    ImageSet,
    class_weights,
    load_image_set,
    to_float,
)
from generator.training.distributed import Process
from generator.training.losses import (
    GestaltLoss,
    d_logistic_loss,
    g_nonsaturating_loss,
    path_length_penalty,
    path_lengths,
    r1_penalty,
)

LATEST = "latest.safetensors"
EXPORT = "generator.safetensors"
LOG = "training-log.jsonl"  # one line of process-averaged statistics per step, written by rank 0
_PHASES = {"D": 0, "G": 1, "PL": 2}


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


@torch.no_grad()
def update_ema(state: TrainState, train: TrainConfig) -> None:
    images_seen = (state.step + 1) * train.batch
    half_life = min(train.ema_half_life_images, max(images_seen * train.ema_rampup, 1.0))
    beta = 0.5 ** (train.batch / half_life)
    for p_ema, p in zip(state.G_ema.parameters(), state.G.parameters(), strict=True):
        p_ema.lerp_(p.float(), 1 - beta)  # fp32, whatever precision the step ran in
    for b_ema, b in zip(state.G_ema.buffers(), state.G.buffers(), strict=True):
        b_ema.copy_(b)


def shard_streams(
    seed: int, step: int, shard: int, phase: str, device: torch.device
) -> tuple[torch.Generator, torch.Generator]:
    """The generators of one shard of one phase of one step: a CPU one for which images and labels
    (the data and its indices live on the CPU) and one on the training device for z, noise, mixing
    and augmentation, so nothing large is drawn on the CPU and copied. numpy's SeedSequence mixes
    (seed, step, shard, phase) into independent, well-spread seeds."""
    words = np.random.SeedSequence([seed, step, shard, _PHASES[phase]]).generate_state(4)
    cpu_seed = int(words[0]) << 32 | int(words[1])
    device_seed = int(words[2]) << 32 | int(words[3])
    on_device = torch.Generator(device=device).manual_seed(device_seed)
    return torch.Generator().manual_seed(cpu_seed), on_device


def layer_depths(G: Generator) -> torch.Tensor:
    """For each entry of w+ (styled convs, then ToRGBs), the index of the conv it follows, from
    coarse to fine: style mixing hands a second w to every entry at or past a cut-off depth."""
    convs = len(G.synthesis.convs)
    rgb = [0] + [2 * j for j in range(1, len(G.synthesis.to_rgbs))]
    return torch.tensor(list(range(convs)) + rgb)


def style_mixing_layers(batch: int, depths: torch.Tensor, probability: float, g: torch.Generator) -> torch.Tensor:
    """[batch, num_ws] bool: True where an image's style comes from its second z. With
    `probability` an image is mixed, from a cut-off drawn uniformly among the convs after the
    first; otherwise every layer keeps the first w."""
    device = g.device
    mixed = torch.rand(batch, generator=g, device=device) < probability
    cutoff = torch.randint(1, int(depths.max()) + 1, (batch,), generator=g, device=device)
    return mixed[:, None] & (depths.to(device)[None, :] >= cutoff[:, None])


class StyledGenerator(nn.Module):
    """G as training calls it, one module call for DistributedDataParallel to see: styles from z,
    optionally mixed with a second z's styles, then synthesis. Returns the images, the first w
    (for the running class averages) and the per-layer styles the images were made from."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        noise: list[torch.Tensor],
        mix_z: torch.Tensor | None = None,  # second latents, same labels
        mix_layers: torch.Tensor | None = None,  # [B, num_ws] bool from style_mixing_layers
        per_layer: bool = False,  # make ws [B, num_ws, w_dim] even without mixing
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = self.G.mapping(z, labels)
        ws = w
        if mix_z is not None or per_layer:
            ws = w[:, None, :].repeat(1, self.G.synthesis.num_ws, 1)
        if mix_z is not None and mix_layers is not None:
            ws = torch.where(mix_layers[:, :, None], self.G.mapping(mix_z, labels)[:, None, :], ws)
        return self.G.synthesis(ws, noise), w, ws


@dataclass
class Trainer:
    """Everything a step needs. G_step and D_step are the modules backward passes go through:
    DistributedDataParallel wrappers when there are several processes, else the networks."""

    state: TrainState
    data: ImageSet
    sampler: BalancedSampler
    train: TrainConfig
    seed: int
    process: Process
    gestalt: GestaltLoss | None = None
    G_step: nn.Module = field(init=False)
    D_step: nn.Module = field(init=False)
    styled: StyledGenerator = field(init=False)
    depths: torch.Tensor = field(init=False)
    per_shard: int = field(init=False)
    shards: list[int] = field(init=False)  # this process's shard numbers

    def __post_init__(self) -> None:
        self.per_shard, rounds = self.train.shards(self.process.world_size)
        first = self.process.rank * rounds
        self.shards = list(range(first, first + rounds))
        self.styled = StyledGenerator(self.state.G)
        self.depths = layer_depths(self.state.G)
        self.G_step, self.D_step = self.styled, self.state.D
        if self.process.distributed:
            ids = [self.process.device.index] if self.process.device.type == "cuda" else None
            # buffers (the class w averages) are kept equal by all-reduced updates, not broadcast
            self.G_step = DistributedDataParallel(self.styled, device_ids=ids, forward_sync_buffers=False)
            self.D_step = DistributedDataParallel(self.state.D, device_ids=ids, forward_sync_buffers=False)

    @property
    def device(self) -> torch.device:
        return self.process.device

    def autocast(self, enabled: bool = True) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast when asked for (and not switched off for a regulariser), else nothing."""
        if self.train.precision == "bf16" and enabled:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def augment(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """What D sees of any image, real or generated: the DiffAugment policy, then ADA's ops."""
        images = diff_augment(images, self.train.diffaugment, g)
        if self.train.ada_target > 0:
            images = ada_augment(images, self.state.ada_p, g)
        return images

    def latents(
        self, n: int, labels_g: torch.Generator, g: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """Labels, z, noise and style-mixing inputs of n generated images."""
        labels = self.sampler.fake_labels(n, labels_g).to(self.device)
        z = torch.randn(n, self.state.G.config.z_dim, generator=g, device=self.device)
        noise = self.state.G.synthesis.make_noise(n, g, self.device)
        mix: dict[str, torch.Tensor] = {}
        if self.train.style_mixing > 0:
            mix["mix_z"] = torch.randn(z.shape, generator=g, device=self.device)
            mix["mix_layers"] = style_mixing_layers(n, self.depths, self.train.style_mixing, g)
        return labels, z, noise, mix


def _synchronised_if(module: nn.Module, last: bool) -> contextlib.AbstractContextManager[None]:
    """Gradients are averaged across processes once per step, on its last backward pass."""
    if isinstance(module, DistributedDataParallel) and not last:
        return module.no_sync()
    return contextlib.nullcontext()


def _discriminator_phase(t: Trainer, stats: dict[str, float]) -> None:
    state, train, n = t.state, t.train, t.per_shard
    do_r1 = train.r1_gamma > 0 and state.step % train.r1_interval == 0
    state.opt_D.zero_grad(set_to_none=True)
    for i, shard in enumerate(t.shards):
        labels_g, g = shard_streams(t.seed, state.step, shard, "D", t.device)
        real_idx = t.sampler.real_indices(n, labels_g)
        real = to_float(t.data.images[real_idx].to(t.device))  # uint8 travels, a quarter of fp32
        real_labels = t.data.labels[real_idx].to(t.device)
        fake_labels, z, noise, mix = t.latents(n, labels_g, g)
        with torch.no_grad(), t.autocast():
            fake = t.styled(z, fake_labels, noise, **mix)[0]
        with _synchronised_if(t.D_step, last=i == len(t.shards) - 1):
            with t.autocast():
                fake_scores = t.D_step(t.augment(fake, g), fake_labels).float()
            real.requires_grad_(do_r1)
            with t.autocast(enabled=not do_r1):  # R1's gradient norm is taken in fp32
                real_scores = t.D_step(t.augment(real, g), real_labels).float()
            loss = d_logistic_loss(real_scores, fake_scores)
            if do_r1:
                r1 = r1_penalty(real_scores, real)
                loss = loss + train.r1_gamma / 2 * r1 * train.r1_interval
                _add(stats, "r1", r1.item() / len(t.shards))
            (loss / len(t.shards)).backward()
        _add(stats, "d_loss", loss.item() / len(t.shards))
        _add(stats, "real_sign_sum", real_scores.detach().sign().sum().item())
        _add(stats, "real_count", float(n))
    state.opt_D.step()


def _generator_phase(t: Trainer, stats: dict[str, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The adversarial (and GestaltLoss, and path-length) step of G; returns this process's
    per-class sums and counts of w for the running class averages."""
    state, train, n = t.state, t.train, t.per_shard
    G, D = state.G, state.D
    do_pl = train.pl_weight > 0 and state.step % train.pl_interval == 0
    backwards = len(t.shards) * (2 if do_pl else 1)
    done = 0
    w_sums = torch.zeros_like(G.mapping.w_avg)
    w_counts = torch.zeros(G.config.num_classes, device=t.device)
    state.opt_G.zero_grad(set_to_none=True)
    D.requires_grad_(False)  # D's weights take no gradient from G's losses
    try:
        for shard in t.shards:
            labels_g, g = shard_streams(t.seed, state.step, shard, "G", t.device)
            labels, z, noise, mix = t.latents(n, labels_g, g)
            done += 1
            with _synchronised_if(t.G_step, last=done == backwards):
                with t.autocast():
                    fake, w, _ = t.G_step(z, labels, noise, **mix)
                    scores = D(t.augment(fake, g), labels).float()
                loss = g_nonsaturating_loss(scores)
                _add(stats, "g_adv", loss.item() / len(t.shards))
                if t.gestalt is not None and train.gestalt_weight > 0:
                    with t.autocast():
                        gl = t.gestalt(diff_augment(fake, train.gestalt_view, g), labels).float()
                    loss = loss + train.gestalt_weight * gl
                    _add(stats, "gestalt", gl.item() / len(t.shards))
                    rank0 = (t.gestalt.rank(fake.detach(), labels) == 0).float().mean().item()
                    _add(stats, "rank0", rank0 / len(t.shards))
                (loss / len(t.shards)).backward()
            w_sums.index_add_(0, labels, w.detach().float())
            w_counts += torch.bincount(labels, minlength=G.config.num_classes)
        if do_pl:
            length_sum = torch.zeros((), device=t.device)
            m = max(n // train.pl_batch_shrink, 1)
            for shard in t.shards:
                labels_g, g = shard_streams(t.seed, state.step, shard, "PL", t.device)
                labels, z, noise, mix = t.latents(m, labels_g, g)
                done += 1
                with _synchronised_if(t.G_step, last=done == backwards):
                    with t.autocast(enabled=False):  # the Jacobian norm is taken in fp32
                        fake, _, ws = t.G_step(z, labels, noise, per_layer=True, **mix)
                        lengths = path_lengths(fake, ws, g)
                    penalty = path_length_penalty(lengths, state.pl_mean)
                    # + 0 x images: every parameter takes part in this backward, as DDP expects
                    scaled = penalty * train.pl_weight * train.pl_interval + fake.sum() * 0
                    (scaled / len(t.shards)).backward()
                _add(stats, "pl_penalty", penalty.item() / len(t.shards))
                length_sum += lengths.detach().sum()
            totals = t.process.all_reduce_sum(torch.stack([length_sum, length_sum.new_tensor(m * len(t.shards))]))
            mean_length = float(totals[0] / totals[1])
            state.pl_mean += (mean_length - state.pl_mean) * train.pl_decay
            stats["pl_mean"] = state.pl_mean
        state.opt_G.step()
    finally:
        D.requires_grad_(True)
    return w_sums, w_counts


def _add(stats: dict[str, float], key: str, value: float) -> None:
    stats[key] = stats.get(key, 0.0) + value


# statistics summed, not averaged, over processes
_SUMMED = ("real_sign_sum", "real_count")


def _across_processes(t: Trainer, stats: dict[str, float]) -> dict[str, float]:
    """Every process's statistics in one all-reduce: sums for counts, means for losses."""
    keys = sorted(k for k in stats if k != "pl_mean")
    totals = t.process.all_reduce_sum(torch.tensor([stats[k] for k in keys], dtype=torch.float64))
    out = {
        k: float(v) if k in _SUMMED else float(v) / t.process.world_size
        for k, v in zip(keys, totals.tolist(), strict=True)
    }
    return out | ({"pl_mean": stats["pl_mean"]} if "pl_mean" in stats else {})


def _adapt_augmentation(t: Trainer, stats: dict[str, float]) -> None:
    """ADA's controller: every ada_interval steps, r_t over them moves p towards the target."""
    state, train = t.state, t.train
    sign_sum, count = stats.pop("real_sign_sum"), stats.pop("real_count")
    if train.ada_target <= 0:
        return
    state.ada_sign_sum += sign_sum
    state.ada_count += count
    if (state.step + 1) % train.ada_interval:
        return
    r_t = overfitting(state.ada_sign_sum, state.ada_count)
    images = train.batch * train.ada_interval
    state.ada_p = adjust_ada_p(state.ada_p, r_t, train.ada_target, images, train.ada_speed_images)
    state.ada_sign_sum = state.ada_count = 0.0
    stats["ada_r_t"] = r_t


def train_step(t: Trainer) -> dict[str, float]:
    """One optimisation step of D then G over the global batch; statistics averaged over the
    processes (identical on every one)."""
    local: dict[str, float] = {}
    _discriminator_phase(t, local)
    w_sums, w_counts = _generator_phase(t, local)
    sums = t.process.all_reduce_sum(torch.cat([w_sums, w_counts[:, None]], dim=1))
    t.state.G.mapping.update_w_avg_from_sums(sums[:, :-1], sums[:, -1])
    update_ema(t.state, t.train)
    stats = _across_processes(t, local)
    _adapt_augmentation(t, stats)
    if t.train.ada_target > 0:
        stats["ada_p"] = t.state.ada_p
    t.state.step += 1
    return stats


def init_generator_from(state: TrainState, path: Path, config: NetworkConfig, disorders: list[str]) -> str:
    """Start a fresh run from an exported generator (a fine-tune, e.g. with GestaltLoss): its EMA weights
    become both G and G_ema; the discriminator and optimisers start anew. Returns its checkpoint id."""
    ckpt = _matching_generator(path, config, disorders, "cannot start from it")
    weights = ckpt.with_prefix("G_ema")
    for module in (state.G, state.G_ema):
        load_module_state(module, weights, f"{path} (G_ema)")
    return ckpt.checkpoint_id


def _same_on_every_process(process: Process, value: int) -> bool:
    both = process.all_reduce_sum(torch.tensor([value, value * value], dtype=torch.float64))
    # equal values are exactly those whose mean square is the square of their mean
    return bool(both[1] * process.world_size == both[0] * both[0])


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
    process: Process | None = None,
) -> Path:
    """Train to `steps` total steps (resuming from out_dir/latest when present; a fresh run may start
    from an exported generator, `init_from`); return the export. With several processes (torchrun)
    each holds its shards of every batch and rank 0 alone writes; out_dir and data_dir must be
    folders every process sees."""
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    process = process or Process(device=device or torch.device("cpu"))
    device = process.device
    data = load_image_set(data_dir, config.resolution, training_only=True)
    if len(data.disorders) != config.num_classes:
        config = NetworkConfig.from_json(config.to_json() | {"num_classes": len(data.disorders)})
    sampler = BalancedSampler(data.labels, class_weights(data.disorders, train.unaffected_factor))
    per_shard, rounds = train.shards(process.world_size)  # refuse an uneven split before work
    state = build_state(config, train, device, seed)
    out_dir = Path(out_dir)
    say = _printer(process)
    say(
        f"world size {process.world_size}: {rounds} shard(s) of {per_shard} images per process, "
        f"global batch {train.batch}, {train.precision}, {device.type}"
    )
    resume = resume or (out_dir / LATEST if (out_dir / LATEST).is_file() else None)
    initialised_from = None
    if resume is not None:
        restore_state(state, resume, config, data.disorders)
        say(f"resumed from {resume} at step {state.step}")
    elif init_from is not None:
        initialised_from = init_generator_from(state, init_from, config, data.disorders)
        say(f"starting from the generator {initialised_from} ({init_from})")
    if not _same_on_every_process(process, state.step):
        raise CheckpointError(
            f"the processes start from different steps (rank {process.rank}: {state.step}): "
            f"every process must see the same {out_dir} (a shared folder) to resume"
        )
    gestalt = None
    if train.gestalt_weight > 0:
        if classifier_path is None:
            raise ValueError("gestalt_weight > 0 needs --classifier CKPT (train one with train-classifier)")
        clf = load_classifier(classifier_path, device)
        gestalt = GestaltLoss(clf.net, clf.disorders, data.disorders).to(device)
    trainer = Trainer(state, data, sampler, train, seed, process, gestalt)
    provenance = {
        "data_dir": str(data_dir),
        "data_manifest_sha256": data.manifest_sha256,
        "data_images": len(data.labels),
        "seed": seed,
        "train_config": asdict(train),
        "world_size": process.world_size,
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
        disable=not process.is_main,
    )
    if process.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    start, start_step = time.monotonic(), state.step
    with _log_file(out_dir / LOG, process) as log:
        while state.step < steps:
            stats = train_step(trainer)
            if log is not None:
                log.write(json.dumps({"step": state.step} | stats) + "\n")
            bar.update(1)
            if state.step % 25 == 0 or state.step == steps:
                rate = (state.step - start_step) / max(time.monotonic() - start, 1e-9)
                eta = (steps - state.step) / max(rate, 1e-9)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()} | {"eta_s": f"{eta:.0f}"})
            if state.step % train.checkpoint_every == 0 or state.step == steps:
                if process.is_main:
                    log.flush()
                    save_training_checkpoint(state, out_dir / LATEST, data, provenance)
                process.barrier()  # no process runs ahead of a checkpoint it might resume from
    bar.close()
    # The running average lags the final mapping; every rank recomputes it (seeded, so identically).
    recompute_class_w_avg(state.G_ema)
    export = out_dir / EXPORT
    if process.is_main:
        export_generator(state, export, data, provenance)
    process.barrier()
    return export


def _printer(process: Process) -> Callable[[str], None]:
    def say(message: str) -> None:
        if process.is_main:
            print(message, file=sys.stderr)

    return say


@contextlib.contextmanager
def _log_file(path: Path, process: Process) -> Iterator[Any]:
    """Rank 0 appends one JSON line per step (a resumed run continues the file); others log nothing."""
    if not process.is_main:
        yield None
        return
    with path.open("a", encoding="utf-8") as handle:
        yield handle


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

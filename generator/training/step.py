"""One optimisation step: the discriminator's phase (lazy R1), the generator's (GestaltLoss, lazy
path-length regularisation), ADA's controller, and what they share (Trainer: the networks as the
backward passes see them, bf16 autocast, augmentation, latents with style mixing). Kept apart from
the state (`state.py`) and the run loop (`train.py`) because this is what a step computes, and all
of what `benchmark` times.

Randomness: a step's global batch is split into shards (TrainConfig.shards); each shard of each
phase of each step draws from its own generators, derived from (seed, step, shard, phase), never
from torch's global RNG. So a resumed run draws exactly what the uninterrupted run would have drawn,
and one process holding two shards draws what two processes holding one each would."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from generator.nets.config import TrainConfig
from generator.nets.networks import Generator
from generator.training.augment import ada_augment, adjust_ada_p, diff_augment, overfitting
from generator.training.data import BalancedSampler, ImageSet, to_float
from generator.training.distributed import Process
from generator.training.losses import (
    GestaltLoss,
    d_logistic_loss,
    g_nonsaturating_loss,
    path_length_penalty,
    path_lengths,
    r1_penalty,
)
from generator.training.state import TrainState, update_ema

_PHASES = {"D": 0, "G": 1, "PL": 2}


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

"""Adversarial training: balanced over-sampling, DiffAugment or adaptive augmentation (ADA), lazy R1,
optional style mixing and lazy path-length regularisation, EMA generator, optional GestaltLoss,
bf16 autocast, resumable checkpoints, on one process or many (torchrun, DistributedDataParallel).

This module is the run: run_training loads the data, builds or restores the state, steps to the end
while logging and checkpointing, and exports. What a step computes (and how its randomness is drawn)
is in `step.py`; the state and its checkpoints are in `state.py`."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from generator.inference.averages import recompute_class_w_avg
from generator.nets.checkpoint import CheckpointError
from generator.nets.config import NetworkConfig, TrainConfig
from generator.training.classifier import load_classifier
from generator.training.data import BalancedSampler, class_weights, load_image_set
from generator.training.distributed import Process
from generator.training.losses import GestaltLoss
from generator.training.state import (
    EXPORT,
    LATEST,
    build_state,
    export_generator,
    init_generator_from,
    restore_state,
    save_training_checkpoint,
)
from generator.training.step import Trainer, train_step

LOG = "training-log.jsonl"  # one line of process-averaged statistics per step, written by rank 0


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

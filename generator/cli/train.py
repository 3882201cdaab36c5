"""`python -m generator train`: the conditional generator on a phantoms dataset (torchrun-aware)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import torch

from generator.cli.options import add_device
from generator.nets.config import PRECISIONS, TrainConfig, load_network_config
from generator.nets.device import device_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the conditional generator on a phantoms dataset")
    p.add_argument("data_dir", type=Path, help="folder with manifest.csv (python -m phantoms writes one)")
    p.add_argument("--config", default="demo64", help="network preset (tiny, demo64, real256) or JSON file")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/generator"),
        help="run folder: latest + exported checkpoint",
    )
    p.add_argument(
        "--steps",
        type=int,
        required=True,
        help="total training steps (a resumed run continues to this)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume",
        type=Path,
        help="training checkpoint to resume (default: OUT/latest.safetensors if present)",
    )
    p.add_argument(
        "--init-from",
        dest="init_from",
        type=Path,
        help="exported generator to start a fresh run from (a fine-tune); ignored when resuming",
    )
    p.add_argument("--classifier", type=Path, help="frozen phantom classifier for the GestaltLoss")
    for flag, options in _TRAIN_CONFIG_OPTIONS:
        p.add_argument(flag, **options)
    add_device(p)
    p.set_defaults(func=run)


# TrainConfig's fields, in --help order; an option not given keeps the config's default
# (argparse names each dest after its flag: --g-lr -> g_lr, the TrainConfig field)
_TRAIN_CONFIG_OPTIONS: tuple[tuple[str, dict], ...] = (
    ("--batch", {"type": int}),
    ("--g-lr", {"type": float}),
    ("--d-lr", {"type": float}),
    ("--r1-gamma", {"type": float}),
    ("--diffaugment", {"type": str, "help": "DiffAugment policy, e.g. color,translation,cutout"}),
    ("--unaffected-factor", {"type": float, "help": "unaffected exposure vs one disorder (paper: 20)"}),
    ("--gestalt-weight", {"type": float, "help": "GestaltLoss lambda (0 = off)"}),
    (
        "--gestalt-view",
        {"help": f"augmentation of what the GestaltLoss classifier sees (default {TrainConfig().gestalt_view})"},
    ),
    ("--ema-half-life-images", {"type": int}),
    ("--checkpoint-every", {"type": int}),
    (
        "--batch-gpu",
        {"type": int, "help": "images per process per pass (default: batch / processes); smaller ones accumulate"},
    ),
    ("--precision", {"choices": PRECISIONS, "help": "fp32 (default) or bf16 autocast"}),
    (
        "--style-mixing",
        {"type": float, "help": "probability of mixing a second z's styles from a random layer on (StyleGAN2: 0.9)"},
    ),
    ("--pl-weight", {"type": float, "help": "path-length weight (0 = off; StyleGAN2: 2)"}),
    ("--pl-interval", {"type": int, "help": "lazy path-length interval"}),
    ("--ada-target", {"type": float, "help": "adaptive augmentation's target r_t (0 = off; ADA: 0.6)"}),
    ("--ada-interval", {"type": int, "help": "steps between p updates"}),
    ("--ada-speed-images", {"type": int, "help": "images over which ADA's p may go from 0 to 1 (ADA: 500000)"}),
)


def run(args: argparse.Namespace) -> None:
    from generator.training.distributed import end_process, start_process
    from generator.training.train import run_training

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    try:
        train = TrainConfig(**overrides)
    except ValueError as exc:  # a user's option, not a bug: one line, exit status 2
        print(f"python -m generator train: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    config = load_network_config(args.config)
    command = "python -m generator " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.threads:
        torch.set_num_threads(args.threads)
    process = start_process(args.device)  # one process, or this rank of torchrun's
    try:
        train.shards(process.world_size)
    except ValueError as exc:
        print(f"python -m generator train: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if process.is_main:
        print(f"device: {device_name(process.device)}", file=sys.stderr)
    path = run_training(
        args.data_dir,
        args.out,
        config,
        train,
        steps=args.steps,
        seed=args.seed,
        classifier_path=args.classifier,
        resume=args.resume,
        init_from=args.init_from,
        command=command,
        process=process,
    )
    end_process(process)
    if process.is_main:
        print(f"exported {path}")

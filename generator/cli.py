"""`python -m generator {train,train-classifier,sample,evaluate-classes,grid,averages}`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import torch

from generator.config import TrainConfig, load_network_config
from generator.device import device_name, resolve_device


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1 ..."
    )
    p.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)"
    )


def _setup(args: argparse.Namespace) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device: {device_name(device)}", file=sys.stderr)
    return device


def cmd_train(args: argparse.Namespace) -> None:
    from generator.train import run_training

    device = _setup(args)
    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    train = TrainConfig(**overrides)
    config = load_network_config(args.config)
    command = "python -m generator " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = run_training(
        args.data_dir,
        args.out,
        config,
        train,
        steps=args.steps,
        seed=args.seed,
        device=device,
        classifier_path=args.classifier,
        resume=args.resume,
        command=command,
    )
    print(f"exported {path}")


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from generator.classifier import train_classifier

    device = _setup(args)
    ckpt_id, acc = train_classifier(
        args.data_dir,
        args.out,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        device=device,
    )
    print(f"wrote {args.out} (id {ckpt_id}); held-out accuracy on real phantoms {acc:.3f}")


def cmd_sample(args: argparse.Namespace) -> None:
    from PIL import Image

    from generator.model import load_generator
    from generator.sampling import iter_samples, provenance
    from generator.seeds import parse_seeds

    device = _setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    seeds = parse_seeds(args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, image in iter_samples(
        model, args.disorder, seeds, args.truncation, args.batch, progress=True
    ):
        stem = args.out / f"{args.disorder}_seed{seed:06d}"
        Image.fromarray(image).save(stem.with_suffix(".png"))
        stem.with_suffix(".json").write_text(
            json.dumps(provenance(model, args.disorder, seed, args.truncation), indent=2)
        )
    print(
        f"wrote {len(seeds)} images of {args.disorder} to {args.out} (checkpoint {model.checkpoint_id})"
    )


def cmd_evaluate_classes(args: argparse.Namespace) -> None:
    from generator.evaluate import evaluate_classes, format_table

    device = _setup(args)
    rows = evaluate_classes(
        args.checkpoint,
        args.classifier,
        args.per_disorder,
        args.truncation,
        device,
        args.batch,
        real_dir=args.real,
    )
    print(format_table(rows))


def cmd_grid(args: argparse.Namespace) -> None:
    from generator.figures import sample_grid

    device = _setup(args)
    sample_grid(args.checkpoint, args.out, args.per_disorder, args.truncation, device).save(
        args.out
    )
    print(f"wrote {args.out}")


def cmd_averages(args: argparse.Namespace) -> None:
    from generator.figures import averages_figure

    device = _setup(args)
    image, rows = averages_figure(args.checkpoint, args.n_latent, args.n_pixel, device, args.data)
    image.save(args.out)
    print("sharpness = variance of the Laplacian (higher is sharper)")
    print(f"{'disorder':<12} {'real pixel avg':>15} {'generated pixel avg':>20} {'latent avg':>11}")
    for r in rows:
        real = f"{r['real_pixel_laplacian_var']:.1f}" if "real_pixel_laplacian_var" in r else "-"
        print(
            f"{r['disorder']:<12} {real:>15} {r['pixel_laplacian_var']:>20.1f} {r['latent_laplacian_var']:>11.1f}"
        )
    print(f"wrote {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the conditional generator on a phantoms dataset")
    p.add_argument(
        "data_dir", type=Path, help="folder with manifest.csv (python -m phantoms writes one)"
    )
    p.add_argument(
        "--config", default="demo64", help="network preset (tiny, demo64, real256) or JSON file"
    )
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
    p.add_argument("--classifier", type=Path, help="frozen phantom classifier for the GestaltLoss")
    p.add_argument("--batch", type=int)
    p.add_argument("--g-lr", dest="g_lr", type=float)
    p.add_argument("--d-lr", dest="d_lr", type=float)
    p.add_argument("--r1-gamma", dest="r1_gamma", type=float)
    p.add_argument(
        "--diffaugment", type=str, help="DiffAugment policy, e.g. color,translation,cutout"
    )
    p.add_argument(
        "--unaffected-factor",
        dest="unaffected_factor",
        type=float,
        help="unaffected exposure vs one disorder (paper: 20)",
    )
    p.add_argument(
        "--gestalt-weight", dest="gestalt_weight", type=float, help="GestaltLoss lambda (0 = off)"
    )
    p.add_argument("--ema-half-life-images", dest="ema_half_life_images", type=int)
    p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    _add_device(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-classifier", help="train the small phantom classifier")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser("sample", help="write seeded samples with provenance JSON beside each")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--disorder", required=True)
    p.add_argument("--seeds", default="0-15", help="e.g. 0-999,1200")
    p.add_argument(
        "--truncation", type=float, default=0.7, help="psi: 1 = none, 0 = the disorder's mean w"
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch", type=int, default=64)
    _add_device(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "evaluate-classes", help="classifier top-1 accuracy on generated images, per disorder"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=200)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument(
        "--real", type=Path, help="phantom dataset to score too (render unseen individuals)"
    )
    p.add_argument("--batch", type=int, default=64)
    _add_device(p)
    p.set_defaults(func=cmd_evaluate_classes)

    p = sub.add_parser("grid", help="PNG grid: one row of samples per disorder")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=8)
    p.add_argument("--truncation", type=float, default=0.7)
    _add_device(p)
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser(
        "averages", help="PNG: pixel average vs latent average per disorder, with sharpness"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--n-latent",
        dest="n_latent",
        type=int,
        default=10_000,
        help="w samples in the latent average",
    )
    p.add_argument(
        "--n-pixel", dest="n_pixel", type=int, default=64, help="portraits in the pixel average"
    )
    p.add_argument(
        "--data", type=Path, help="also show the pixel average of real phantoms from this dataset"
    )
    _add_device(p)
    p.set_defaults(func=cmd_averages)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)

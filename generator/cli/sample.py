"""`python -m generator sample` (seeded images with provenance) and `grid` (a row per disorder)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generator.cli.options import add_device, setup


def register_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write seeded samples with provenance JSON beside each")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--disorder", required=True)
    p.add_argument("--seeds", default="0-15", help="e.g. 0-999,1200")
    p.add_argument("--truncation", type=float, default=0.7, help="psi: 1 = none, 0 = the disorder's mean w")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch", type=int, default=64)
    add_device(p)
    p.set_defaults(func=run_sample)


def run_sample(args: argparse.Namespace) -> None:
    from PIL import Image

    from generator.inference.sampling import iter_samples, provenance
    from generator.inference.seeds import parse_seeds
    from generator.nets.model import load_generator

    device = setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    seeds = parse_seeds(args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, image in iter_samples(model, args.disorder, seeds, args.truncation, args.batch, progress=True):
        stem = args.out / f"{args.disorder}_seed{seed:06d}"
        Image.fromarray(image).save(stem.with_suffix(".png"))
        stem.with_suffix(".json").write_text(
            json.dumps(provenance(model, args.disorder, seed, args.truncation), indent=2)
        )
    print(f"wrote {len(seeds)} images of {args.disorder} to {args.out} (checkpoint {model.checkpoint_id})")


def register_grid(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grid", help="PNG grid: one row of samples per disorder")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=8)
    p.add_argument("--truncation", type=float, default=0.7)
    add_device(p)
    p.set_defaults(func=run_grid)


def run_grid(args: argparse.Namespace) -> None:
    from generator.reports.figures import sample_grid

    device = setup(args)
    sample_grid(args.checkpoint, args.out, args.per_disorder, args.truncation, device).save(args.out)
    print(f"wrote {args.out}")

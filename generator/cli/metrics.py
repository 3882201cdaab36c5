"""`python -m generator metrics` (KID, precision/recall against real portraits) and
`evaluate-classes` (a classifier's top-1 accuracy on generated portraits)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generator.cli.options import add_device, setup


def register_metrics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="KID and precision/recall against real portraits, overall and per disorder")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", type=Path, required=True, help="real portraits: folder with manifest.csv")
    p.add_argument(
        "--features",
        type=Path,
        help="feature network: phantom classifier .safetensors or TorchScript (runs code; "
        "default: the bundled phantom judge)",
    )
    p.add_argument(
        "--per-disorder",
        type=int,
        help="generated portraits per disorder (default: as many as its real portraits)",
    )
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--neighbours", type=int, default=3, help="k of the k-NN manifolds")
    p.add_argument("--subsets", type=int, default=100, help="KID subsets")
    p.add_argument("--seed", type=int, default=0, help="seed of the KID subsets")
    p.add_argument("--baseline", type=Path, help="other real portraits, scored like a generator: the floor")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--batch", type=int, default=64)
    add_device(p)
    p.set_defaults(func=run_metrics)


def run_metrics(args: argparse.Namespace) -> None:
    from generator.nets.model import load_generator
    from generator.reports import metrics

    device = setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    features, name = metrics.feature_network(args.features, device)
    real = metrics.real_features_by_disorder(args.data, model.config.resolution, features, device)
    generated = {
        code: metrics.generated_features(
            model, features, code, args.per_disorder or len(real[code]), args.truncation, args.batch
        )
        for code in model.disorders
        if code in real
    }
    rows = metrics.compare(real, generated, args.neighbours, args.subsets, args.seed)
    print(
        f"features: {name}; generated at truncation {args.truncation:g} (seeds from 0) vs real "
        f"portraits in {args.data}; KID over {args.subsets} subsets; precision/recall with "
        f"k = {args.neighbours}"
    )
    print(metrics.format_rows(rows))
    if args.baseline is not None:
        other = metrics.real_features_by_disorder(args.baseline, model.config.resolution, features, device)
        print(f"baseline: real portraits in {args.baseline} in place of generated ones")
        print(metrics.format_rows(metrics.compare(real, other, args.neighbours, args.subsets, args.seed)))
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


def register_evaluate_classes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-classes", help="classifier top-1 accuracy on generated images, per disorder")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=200)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--real", type=Path, help="phantom dataset to score too (render unseen individuals)")
    p.add_argument("--batch", type=int, default=64)
    add_device(p)
    p.set_defaults(func=run_evaluate_classes)


def run_evaluate_classes(args: argparse.Namespace) -> None:
    from generator.reports.evaluate_classes import evaluate_classes, format_table

    device = setup(args)
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

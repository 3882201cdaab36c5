"""`python -m generator realism`: how well cheap pixel statistics tell real from synthetic
portraits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "realism",
        help="how well cheap pixel statistics tell real from synthetic portraits (leave-one-out AUC)",
    )
    p.add_argument("folder", type=Path, nargs="?", help="folder with manifest.csv (filename, kind, disorder)")
    p.add_argument("--real", type=Path, help="folder of real portraits (instead of a manifest)")
    p.add_argument("--synthetic", type=Path, help="folder of synthetic portraits")
    p.add_argument(
        "--size",
        type=int,
        help="centre-crop and resize every portrait to SIZE px first, as a bank does",
    )
    p.add_argument("--questions", type=int, default=2000, help="simulated real-vs-synthetic questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from generator.reports import realism, realism_folders

    if args.folder is not None:
        real, synthetic, real_groups, synthetic_groups = realism_folders.load_manifest_folder(args.folder, args.size)
    elif args.real is not None and args.synthetic is not None:
        real, real_groups = realism_folders.load_kind_folder(args.real, args.size)
        synthetic, synthetic_groups = realism_folders.load_kind_folder(args.synthetic, args.size)
    else:
        raise ValueError("give a FOLDER with manifest.csv, or both --real DIR and --synthetic DIR")
    report = realism.measure(real, synthetic, real_groups, synthetic_groups, n_questions=args.questions, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        print(report.table())

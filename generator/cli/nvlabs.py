"""`python -m generator import-nvlabs`: an NVlabs StyleGAN2-ADA / StyleGAN3 snapshot into a
generator checkpoint, without running its code; with no OUT, a report of what the snapshot holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-nvlabs",
        help="convert an NVlabs StyleGAN2-ADA/StyleGAN3 snapshot into a generator checkpoint "
        "without running its code (no OUT: report what it holds)",
    )
    p.add_argument("snapshot", type=Path, help="network-snapshot-*.pkl")
    p.add_argument("out", type=Path, nargs="?", help="checkpoint to write; none: print a report")
    p.add_argument("--out", dest="out_opt", type=Path, help="same as the OUT argument")
    p.add_argument("--classes", help="class names in label order: a,b,c")
    p.add_argument(
        "--classes-file",
        dest="classes_file",
        type=Path,
        help="class names, one a line, in label order",
    )
    p.add_argument(
        "--mapping-only",
        action="store_true",
        help="write the mapping network alone (w and per-class w averages, no images)",
    )
    p.add_argument(
        "--w-avg",
        dest="w_avg",
        default="per-class",
        choices=["per-class", "nvlabs"],
        help="truncation centre: each class's mean w (ours), or NVlabs' one global w_avg for "
        "every class (reproduces NVlabs' truncation)",
    )
    p.add_argument("--w-avg-samples", dest="w_avg_samples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0, help="seed of the per-class w average")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from generator.nvlabs.importer import import_nvlabs
    from generator.nvlabs.snapshot import NVlabsError, describe, read_snapshot

    out = args.out or args.out_opt
    try:
        if out is None:  # no output asked for: report what the snapshot holds
            print(json.dumps(describe(read_snapshot(args.snapshot)), indent=2, default=str))
            return
        if args.classes and args.classes_file:
            raise NVlabsError("give --classes or --classes-file, not both")
        classes = args.classes
        if args.classes_file:  # one name a line, in label order
            classes = args.classes_file.read_text(encoding="utf-8").replace("\n", ",")
        result = import_nvlabs(
            args.snapshot,
            out,
            classes=[c.strip() for c in classes.split(",") if c.strip()] if classes else None,
            mapping_only=args.mapping_only,
            w_avg=args.w_avg,
            w_avg_samples=args.w_avg_samples,
            seed=args.seed,
        )
    except (NVlabsError, OSError) as exc:
        print(f"import-nvlabs: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    what = "mapping network" if result.kind == "mapping" else "generator"
    print(f"wrote {out} (id {result.checkpoint_id}): the {result.architecture} {what}")

"""`python -m phantoms OUT_DIR --per-class N --size S`: write a phantom dataset with manifest.csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from phantoms.dataset import write_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m phantoms", description=__doc__)
    parser.add_argument("out_dir", type=Path, help="folder for the PNGs and manifest.csv")
    parser.add_argument("--per-class", type=int, default=20, help="portraits per class")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--first-individual", type=int, default=0, help="first individual index")
    parser.add_argument(
        "--classes",
        help="comma-separated classes to render (default: every disorder and unaffected)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=1.0,
        help="widen the individuals' facial variation by this factor (a broad population: ~2.5)",
    )
    args = parser.parse_args(argv)
    classes = args.classes.split(",") if args.classes else None
    try:
        manifest = write_dataset(args.out_dir, args.per_class, args.size, args.first_individual, classes, args.spread)
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote {manifest}")


if __name__ == "__main__":
    main()

"""`python -m generator averages` (pixel vs latent average figure) and `recompute-w-avg` (each
disorder's truncation centre from many samples)."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.cli.options import add_device, setup


def register_recompute_w_avg(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recompute-w-avg",
        help="recompute each disorder's truncation centre (mean w) from many samples",
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint file")
    p.add_argument("--samples", type=int, default=10_000, help="z samples per disorder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_recompute_w_avg)


def run_recompute_w_avg(args: argparse.Namespace) -> None:
    from generator.inference.averages import recompute_checkpoint_w_avg

    if args.out.resolve() == args.checkpoint.resolve():
        raise ValueError(f"--out {args.out} is the checkpoint itself: write a new file")
    checkpoint_id, shift = recompute_checkpoint_w_avg(args.checkpoint, args.out, args.samples, args.seed)
    print(
        f"wrote {args.out} (id {checkpoint_id}): per-class w averages from {args.samples:,} "
        f"samples each; the old centres were {float(shift.min()):.3f}-{float(shift.max()):.3f} "
        "of the mean distance between two class centres away"
    )


def register_averages(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("averages", help="PNG: pixel average vs latent average per disorder, with sharpness")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--n-latent",
        dest="n_latent",
        type=int,
        default=10_000,
        help="w samples in the latent average",
    )
    p.add_argument("--n-pixel", dest="n_pixel", type=int, default=64, help="portraits in the pixel average")
    p.add_argument("--data", type=Path, help="also show the pixel average of real phantoms from this dataset")
    add_device(p)
    p.set_defaults(func=run_averages)


def run_averages(args: argparse.Namespace) -> None:
    from generator.reports.figures import averages_figure

    device = setup(args)
    image, rows = averages_figure(args.checkpoint, args.n_latent, args.n_pixel, device, args.data)
    image.save(args.out)
    print("sharpness = variance of the Laplacian (higher is sharper)")
    print(f"{'disorder':<12} {'real pixel avg':>15} {'generated pixel avg':>20} {'latent avg':>11}")
    for r in rows:
        real = f"{r['real_pixel_laplacian_var']:.1f}" if "real_pixel_laplacian_var" in r else "-"
        print(f"{r['disorder']:<12} {real:>15} {r['pixel_laplacian_var']:>20.1f} {r['latent_laplacian_var']:>11.1f}")
    print(f"wrote {args.out}")

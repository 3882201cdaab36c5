"""`python -m generator invert-study`: for disorders the generator never saw, the inverted latent
average against the pixel average, judged by a classifier."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.cli.inversion_options import add_inversion_options, feature_net, inversion_settings
from generator.cli.options import add_device, setup


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "invert-study",
        help="unseen disorders: inverted latent average vs pixel average, judged by a classifier",
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", type=Path, required=True, help="phantom folder with the unseen disorders")
    p.add_argument("--disorders", required=True, help="comma-separated disorders the model never saw")
    p.add_argument("--init-disorder", default="unaffected", help="whose mean w starts the inversion")
    p.add_argument("--groups", type=int, default=5)
    p.add_argument("--per-group", type=int, default=8)
    p.add_argument("--classifier", type=Path, help="judge (default: the bundled phantom judge)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--misalign-shift",
        type=float,
        default=0.0,
        help="largest random shift per portrait, fraction of the side (photographs: ~0.05)",
    )
    p.add_argument("--misalign-scale", type=float, default=0.0, help="largest random relative size change")
    p.add_argument("--misalign-degrees", type=float, default=0.0, help="largest random roll in degrees")
    add_inversion_options(p)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from generator.gates.classifiers import load_disorder_classifier
    from generator.gates.pipeline import BUNDLED_JUDGE
    from generator.inversion.study import (
        Misalignment,
        figure,
        pose_recovery_line,
        run_study,
        summary_lines,
        write_csv,
    )
    from generator.nets.model import load_generator

    device = setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    classifier = load_disorder_classifier(args.classifier or BUNDLED_JUDGE, device)
    unseen = [d for d in args.disorders.split(",") if d]
    misalignment = Misalignment(args.misalign_shift, args.misalign_scale, args.misalign_degrees)
    print(misalignment.describe())
    outcomes = run_study(
        model,
        classifier,
        args.data,
        unseen,
        args.init_disorder,
        args.groups,
        args.per_group,
        inversion_settings(args),
        feature_net(args.feature_net, device),
        misalignment,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(outcomes, args.out / "invert-study.csv")
    figure(outcomes).save(args.out / "invert-study.png")
    lines = summary_lines(outcomes)
    recovery = pose_recovery_line(outcomes)
    if recovery is not None:
        lines.append(recovery)
    (args.out / "invert-study.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"recognised as their disorder by {classifier.name} (top-1), per group of "
        f"{args.per_group} portraits; p = mean probability of the true disorder"
    )
    print("\n".join(lines))
    print(f"wrote {args.out / 'invert-study.csv'}, {args.out / 'invert-study.png'}")

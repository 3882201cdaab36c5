"""`python -m generator train-classifier` and `train-face-check`: the small phantom models the
GestaltLoss and the gates use."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.cli.options import add_device, setup


def register_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-classifier", help="train the small phantom classifier")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.set_defaults(func=run_classifier)


def run_classifier(args: argparse.Namespace) -> None:
    from generator.training.classifier import train_classifier

    device = setup(args)
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


def register_face_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-face-check", help="train the tiny phantom face / non-face model of the face gate")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.set_defaults(func=run_face_check)


def run_face_check(args: argparse.Namespace) -> None:
    from generator.gates.facecheck import train_face_check

    device = setup(args)
    ckpt_id, rates = train_face_check(args.data_dir, args.out, epochs=args.epochs, seed=args.seed, device=device)
    print(
        f"wrote {args.out} (id {ckpt_id}); held-out phantoms passing at 0.999: "
        f"{rates['faces_passing']:.3f}, non-faces passing: {rates['non_faces_passing']:.3f}"
    )

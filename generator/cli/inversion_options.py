"""Options `invert` and `invert-study` share: the inversion's budget, losses and feature network."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def add_inversion_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=200, help="fixed Adam step budget")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--w-plus", action="store_true", help="one w per layer instead of one w")
    p.add_argument("--pixel-weight", type=float, default=1.0)
    p.add_argument("--feature-weight", type=float, default=1.0)
    p.add_argument("--noise-weight", type=float, default=1e3, help="noise regularisation weight")
    p.add_argument("--no-noise", action="store_true", help="keep noise off; optimise w only")
    p.add_argument(
        "--fit-pose",
        action="store_true",
        help="fit each portrait's shift, scale and roll beside w, so w carries only the face",
    )
    p.add_argument("--pose-lr", type=float, default=0.01, help="Adam step on the pose")
    p.add_argument(
        "--feature-net",
        default="bundled",
        help="bundled (phantom classifier's stage outputs), none, or a classifier file",
    )


def inversion_settings(args: argparse.Namespace):  # -> InversionSettings (imported here, lazily)
    from generator.inversion.invert import InversionSettings

    return InversionSettings(
        steps=args.steps,
        lr=args.lr,
        w_plus=args.w_plus,
        pixel_weight=args.pixel_weight,
        feature_weight=args.feature_weight,
        noise_weight=args.noise_weight,
        optimise_noise=not args.no_noise,
        fit_pose=args.fit_pose,
        pose_lr=args.pose_lr,
    )


def feature_net(spec: str, device: torch.device):  # -> FeatureNet | None
    """`bundled` (the phantom classifier's stage outputs), `none`, or a classifier file."""
    from generator.gates.classifiers import load_disorder_classifier
    from generator.gates.pipeline import BUNDLED_CLASSIFIER

    if spec == "none":
        return None
    path = BUNDLED_CLASSIFIER if spec == "bundled" else Path(spec)
    return load_disorder_classifier(path, device).feature_maps

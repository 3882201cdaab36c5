"""Options several commands share: the device, and the gates' settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from generator.nets.device import device_name, resolve_device


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)")


def setup(args: argparse.Namespace) -> torch.device:
    """Apply --threads, resolve --device and say on stderr which device runs."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device: {device_name(device)}", file=sys.stderr)
    return device


def gate_options(p: argparse.ArgumentParser) -> None:
    from generator.gates.settings import DEFAULTS

    p.add_argument(
        "--classifier",
        type=Path,
        help="disorder classifier: phantom .safetensors or TorchScript (runs code; default: the "
        "bundled phantom judge for a phantom checkpoint)",
    )
    p.add_argument(
        "--face-detector",
        default="auto",
        help="auto (phantom face check for a phantom checkpoint), phantom, mtcnn (optional extra), none",
    )
    p.add_argument(
        "--face-calibration",
        type=Path,
        help="real portraits (folder with manifest.csv) or a calibration JSON that set the face "
        "threshold (default: the bundled face check's stored calibration)",
    )
    p.add_argument(
        "--face-calibration-percentile",
        type=float,
        default=DEFAULTS.face_calibration_percentile,
        help="face threshold = this percentile of real portraits' scores",
    )
    p.add_argument(
        "--face-threshold",
        type=float,
        default=DEFAULTS.face_threshold,
        help="a fixed face threshold instead of the calibrated one",
    )
    p.add_argument(
        "--brightness-tolerance",
        type=float,
        default=DEFAULTS.brightness_tolerance,
        help="largest allowed difference of the face gate's pass rates across brightness quartiles",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=DEFAULTS.top_k,
        help="disorder gate: requested disorder in the top k (default: the largest k whose "
        f"chance pass rate k / classes is at most {DEFAULTS.max_chance_pass:g})",
    )
    p.add_argument(
        "--privacy-percentile",
        type=float,
        default=DEFAULTS.privacy_percentile,
        help="flag portraits nearer to a training portrait than this percentile of held-out ones",
    )
    p.add_argument(
        "--skip-gates",
        default="",
        help="comma-separated gates to turn off: face, disorder, privacy (or all)",
    )


def gate_settings(args: argparse.Namespace):  # -> GateSettings
    from generator.gates.settings import GateSettings

    return GateSettings(
        face_threshold=args.face_threshold,
        face_calibration_percentile=args.face_calibration_percentile,
        brightness_tolerance=args.brightness_tolerance,
        top_k=args.top_k,
        privacy_percentile=args.privacy_percentile,
    )


def skipped_gates(spec: str) -> frozenset[str]:
    """--skip-gates: comma-separated gate names, or `all`."""
    from generator.gates.pipeline import GATE_NAMES

    names = {s.strip() for s in spec.split(",") if s.strip()}
    return frozenset(GATE_NAMES) if "all" in names else frozenset(names)

"""`python -m generator evaluate` (the gates per disorder: CSV, Markdown, figure) and
`calibrate-face` (the face gate's threshold from real portraits)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from generator.cli.options import add_device, gate_options, gate_settings, setup, skipped_gates


def register_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="face, disorder and privacy gates per disorder: CSV, Markdown, figure")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--per-disorder", type=int, default=1000)
    p.add_argument(
        "--data",
        type=Path,
        help="manifest folder: used_in_training=1 rows are the training portraits, 0 the "
        "held-out ones (the privacy gate runs only with it)",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=64)
    gate_options(p)
    add_device(p)
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    from generator.gates.pipeline import build_gates
    from generator.nets.model import load_generator
    from generator.reports import gate_report

    if args.per_disorder < 1:
        raise ValueError(f"--per-disorder must be at least 1, got {args.per_disorder}")
    settings = gate_settings(args)
    device = setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    gates, notes = build_gates(
        model.disorders,
        model.config.resolution,
        device,
        classifier=args.classifier,
        face_detector=args.face_detector,
        training_data=args.data,
        face_calibration=args.face_calibration,
        skip=skipped_gates(args.skip_gates),
        settings=settings,
    )
    for line in notes:
        print(line, file=sys.stderr)
    rows, closest, brightness = gate_report.evaluate_gates(model, gates, args.per_disorder, args.truncation, args.batch)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m generator " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    gate_report.write_csv(rows, args.out / "gates.csv")
    train = gates.privacy.train_images if gates.privacy is not None else None
    gate_report.figure(rows, closest, train).save(args.out / "gates.png")
    (args.out / "gates.md").write_text(
        gate_report.markdown_report(rows, model, gates, notes, command, args.truncation, "gates.png", brightness),
        encoding="utf-8",
    )
    print(gate_report.markdown_table(rows))
    real = gate_report.real_brightness(gates)
    if brightness is not None:
        print(f"generated: {brightness.line()}")
        if real is not None:
            print(f"real: {real.line()}")
        if brightness.biased:
            print(f"WARNING: {brightness.line()}", file=sys.stderr)
    print(f"wrote {args.out / 'gates.csv'}, {args.out / 'gates.md'}, {args.out / 'gates.png'}")


def register_calibrate_face(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate-face",
        help="score real portraits with a face detector: the face gate's calibration (JSON)",
    )
    p.add_argument("data_dir", type=Path, help="real portraits: a folder with manifest.csv")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--face-detector", default="phantom", help="phantom or mtcnn")
    p.add_argument("--face-check", type=Path, help="phantom face check (default: the bundled one)")
    p.add_argument("--size", type=int, default=64, help="the generator's resolution")
    p.add_argument("--source", help="how to describe the portraits in reports")
    add_device(p)
    p.set_defaults(func=run_calibrate_face)


def run_calibrate_face(args: argparse.Namespace) -> None:
    from generator.gates.face import FaceDetector, calibrate
    from generator.training.data import load_image_set

    device = setup(args)
    detector: FaceDetector
    if args.face_detector == "mtcnn":
        from generator.gates.face import MTCNNFaceDetector

        detector = MTCNNFaceDetector(device)
    elif args.face_detector == "phantom":
        from generator.gates.facecheck import load_face_check
        from generator.gates.pipeline import BUNDLED_FACE_CHECK

        detector = load_face_check(args.face_check or BUNDLED_FACE_CHECK, device)
    else:
        raise ValueError(f"face detector {args.face_detector!r}: choose phantom or mtcnn")
    real = load_image_set(args.data_dir, args.size, training_only=False)
    calibration = calibrate(detector, real.images, args.source or f"real portraits in {args.data_dir}")
    calibration.save(args.out)
    print(
        f"wrote {args.out}: {detector.name} scores of {len(calibration.scores)} real portraits; "
        f"threshold at percentile 1: {calibration.threshold(1.0):.6f}"
    )

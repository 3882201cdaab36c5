"""`python -m generator COMMAND`: train, train-classifier, train-face-check, sample, evaluate,
evaluate-classes, invert, invert-study, grid, averages, realism, import-nvlabs."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

import torch

from generator.config import PRECISIONS, TrainConfig, load_network_config
from generator.device import device_name, resolve_device


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1 ..."
    )
    p.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)"
    )


def _setup(args: argparse.Namespace) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device: {device_name(device)}", file=sys.stderr)
    return device


def cmd_train(args: argparse.Namespace) -> None:
    from generator.distributed import end_process, start_process
    from generator.train import run_training

    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    try:
        train = TrainConfig(**overrides)
    except ValueError as exc:  # a user's option, not a bug: one line, exit status 2
        print(f"python -m generator train: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    config = load_network_config(args.config)
    command = "python -m generator " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.threads:
        torch.set_num_threads(args.threads)
    process = start_process(args.device)  # one process, or this rank of torchrun's
    try:
        train.shards(process.world_size)
    except ValueError as exc:
        print(f"python -m generator train: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if process.is_main:
        print(f"device: {device_name(process.device)}", file=sys.stderr)
    path = run_training(
        args.data_dir,
        args.out,
        config,
        train,
        steps=args.steps,
        seed=args.seed,
        classifier_path=args.classifier,
        resume=args.resume,
        init_from=args.init_from,
        command=command,
        process=process,
    )
    end_process(process)
    if process.is_main:
        print(f"exported {path}")


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from generator.classifier import train_classifier

    device = _setup(args)
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


def cmd_train_face_check(args: argparse.Namespace) -> None:
    from generator.gates.facecheck import train_face_check

    device = _setup(args)
    ckpt_id, rates = train_face_check(
        args.data_dir, args.out, epochs=args.epochs, seed=args.seed, device=device
    )
    print(
        f"wrote {args.out} (id {ckpt_id}); held-out phantoms passing at 0.999: "
        f"{rates['faces_passing']:.3f}, non-faces passing: {rates['non_faces_passing']:.3f}"
    )


def cmd_sample(args: argparse.Namespace) -> None:
    from PIL import Image

    from generator.model import load_generator
    from generator.sampling import iter_samples, provenance
    from generator.seeds import parse_seeds

    device = _setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    seeds = parse_seeds(args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, image in iter_samples(
        model, args.disorder, seeds, args.truncation, args.batch, progress=True
    ):
        stem = args.out / f"{args.disorder}_seed{seed:06d}"
        Image.fromarray(image).save(stem.with_suffix(".png"))
        stem.with_suffix(".json").write_text(
            json.dumps(provenance(model, args.disorder, seed, args.truncation), indent=2)
        )
    print(
        f"wrote {len(seeds)} images of {args.disorder} to {args.out} (checkpoint {model.checkpoint_id})"
    )


def cmd_import_nvlabs(args: argparse.Namespace) -> None:
    from generator.nvlabs import NVlabsError, describe, read_snapshot
    from generator.nvlabs_import import import_nvlabs

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


def _gate_options(p: argparse.ArgumentParser) -> None:
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


def _gate_settings(args: argparse.Namespace):  # -> GateSettings
    from generator.gates.settings import GateSettings

    return GateSettings(
        face_threshold=args.face_threshold,
        face_calibration_percentile=args.face_calibration_percentile,
        brightness_tolerance=args.brightness_tolerance,
        top_k=args.top_k,
        privacy_percentile=args.privacy_percentile,
    )


def _skip(spec: str) -> frozenset[str]:
    from generator.gates.pipeline import GATE_NAMES

    names = {s.strip() for s in spec.split(",") if s.strip()}
    return frozenset(GATE_NAMES) if "all" in names else frozenset(names)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from generator import gate_report
    from generator.gates.pipeline import build_gates
    from generator.model import load_generator

    if args.per_disorder < 1:
        raise ValueError(f"--per-disorder must be at least 1, got {args.per_disorder}")
    settings = _gate_settings(args)
    device = _setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    gates, notes = build_gates(
        model.disorders,
        model.config.resolution,
        device,
        classifier=args.classifier,
        face_detector=args.face_detector,
        training_data=args.data,
        face_calibration=args.face_calibration,
        skip=_skip(args.skip_gates),
        settings=settings,
    )
    for line in notes:
        print(line, file=sys.stderr)
    rows, closest, brightness = gate_report.evaluate_gates(
        model, gates, args.per_disorder, args.truncation, args.batch
    )
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m generator " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    gate_report.write_csv(rows, args.out / "gates.csv")
    train = gates.privacy.train_images if gates.privacy is not None else None
    gate_report.figure(rows, closest, train).save(args.out / "gates.png")
    (args.out / "gates.md").write_text(
        gate_report.markdown_report(
            rows, model, gates, notes, command, args.truncation, "gates.png", brightness
        ),
        encoding="utf-8",
    )
    print(gate_report.markdown_table(rows))
    real = gate_report.real_brightness(gates)
    if brightness is not None:
        print(f"generated: {brightness.line()}")
        if real is not None:
            print(f"real: {real.line()}")
        if not brightness.within_tolerance:
            print(f"WARNING: {brightness.line()}", file=sys.stderr)
    print(f"wrote {args.out / 'gates.csv'}, {args.out / 'gates.md'}, {args.out / 'gates.png'}")


def cmd_calibrate_face(args: argparse.Namespace) -> None:
    from generator.data import load_image_set
    from generator.gates.face import calibrate

    device = _setup(args)
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
    calibration = calibrate(
        detector, real.images, args.source or f"real portraits in {args.data_dir}"
    )
    calibration.save(args.out)
    print(
        f"wrote {args.out}: {detector.name} scores of {len(calibration.scores)} real portraits; "
        f"threshold at percentile 1: {calibration.threshold(1.0):.6f}"
    )


def cmd_metrics(args: argparse.Namespace) -> None:
    from generator import metrics
    from generator.model import load_generator

    device = _setup(args)
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
        other = metrics.real_features_by_disorder(
            args.baseline, model.config.resolution, features, device
        )
        print(f"baseline: real portraits in {args.baseline} in place of generated ones")
        print(
            metrics.format_rows(
                metrics.compare(real, other, args.neighbours, args.subsets, args.seed)
            )
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps([r.to_dict() for r in rows], indent=2) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.json}")


def cmd_recompute_w_avg(args: argparse.Namespace) -> None:
    from generator.averages import recompute_checkpoint_w_avg

    if args.out.resolve() == args.checkpoint.resolve():
        raise ValueError(f"--out {args.out} is the checkpoint itself: write a new file")
    checkpoint_id, shift = recompute_checkpoint_w_avg(
        args.checkpoint, args.out, args.samples, args.seed
    )
    print(
        f"wrote {args.out} (id {checkpoint_id}): per-class w averages from {args.samples:,} "
        f"samples each; the old centres were {float(shift.min()):.3f}-{float(shift.max()):.3f} "
        "of the mean distance between two class centres away"
    )


def _inversion_settings(args: argparse.Namespace):  # -> InversionSettings (torch-free import here)
    from generator.invert import InversionSettings

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


def _feature_net(spec: str, device: torch.device):  # -> FeatureNet | None
    """`bundled` (the phantom classifier's stage outputs), `none`, or a classifier file."""
    from generator.gates.classifiers import load_disorder_classifier
    from generator.gates.pipeline import BUNDLED_CLASSIFIER

    if spec == "none":
        return None
    path = BUNDLED_CLASSIFIER if spec == "bundled" else Path(spec)
    return load_disorder_classifier(path, device).feature_maps


def cmd_invert(args: argparse.Namespace) -> None:
    from PIL import Image
    from safetensors.torch import save_file

    from generator.averages import pixel_average
    from generator.invert import invert, inverted_latent_average, load_targets
    from generator.model import load_generator
    from generator.sampling import to_uint8

    device = _setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    init = model.label_of(args.disorder)
    targets = load_targets(args.images, model.config.resolution)
    settings = _inversion_settings(args)
    args.out.mkdir(parents=True, exist_ok=True)
    feature_net = _feature_net(args.feature_net, device)
    rows = []
    ws = []
    for start in range(0, len(targets), args.batch):
        chunk = targets[start : start + args.batch]
        result = invert(model, chunk, init, settings, feature_net, progress=True, seed=start)
        ws.append(result.w)
        for i, image in enumerate(to_uint8(result.reconstructions)):
            source = args.images[start + i]
            Image.fromarray(image).save(args.out / f"{source.stem}_inverted.png")
            rows.append(
                (
                    source.name,
                    float(result.initial_loss[i]),
                    float(result.final_loss[i]),
                    float(result.final_pixel[i]),
                    float(result.final_feature[i]),
                    *(float(v) for v in result.pose[i]),
                )
            )
    w = torch.cat(ws)
    save_file(
        {"w": w.contiguous()},
        str(args.out / "w.safetensors"),
        metadata={
            "checkpoint_id": model.checkpoint_id,
            "init_disorder": args.disorder,
            "w_plus": str(settings.w_plus),
        },
    )
    Image.fromarray(to_uint8(inverted_latent_average(model, w))[0]).save(
        args.out / "latent_average.png"
    )
    Image.fromarray(pixel_average(to_uint8(targets))).save(args.out / "pixel_average.png")
    with (args.out / "losses.csv").open("w", encoding="utf-8") as fh:
        # the pose columns are the fitted photograph pose (identity without --fit-pose)
        fh.write(
            "image,loss_start,loss_end,pixel_end,feature_end,shift_x,shift_y,scale,roll_degrees\n"
        )
        fh.writelines(f"{row[0]}," + ",".join(f"{v:.6f}" for v in row[1:]) + "\n" for row in rows)
    mean_before = sum(r[1] for r in rows) / len(rows)
    mean_after = sum(r[2] for r in rows) / len(rows)
    print(
        f"inverted {len(rows)} portraits from {args.disorder}'s mean w "
        f"({'w+' if settings.w_plus else 'w'}, {settings.steps} steps): mean loss "
        f"{mean_before:.4f} -> {mean_after:.4f}"
    )
    print(
        f"wrote {args.out}/: *_inverted.png, losses.csv, w.safetensors, latent_average.png, "
        "pixel_average.png"
    )


def cmd_invert_study(args: argparse.Namespace) -> None:
    from generator.gates.classifiers import load_disorder_classifier
    from generator.gates.pipeline import BUNDLED_JUDGE
    from generator.inversion_study import (
        Misalignment,
        figure,
        pose_recovery_line,
        run_study,
        summary_lines,
        write_csv,
    )
    from generator.model import load_generator

    device = _setup(args)
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
        _inversion_settings(args),
        _feature_net(args.feature_net, device),
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


def cmd_evaluate_classes(args: argparse.Namespace) -> None:
    from generator.evaluate import evaluate_classes, format_table

    device = _setup(args)
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


def cmd_grid(args: argparse.Namespace) -> None:
    from generator.figures import sample_grid

    device = _setup(args)
    sample_grid(args.checkpoint, args.out, args.per_disorder, args.truncation, device).save(
        args.out
    )
    print(f"wrote {args.out}")


def cmd_averages(args: argparse.Namespace) -> None:
    from generator.figures import averages_figure

    device = _setup(args)
    image, rows = averages_figure(args.checkpoint, args.n_latent, args.n_pixel, device, args.data)
    image.save(args.out)
    print("sharpness = variance of the Laplacian (higher is sharper)")
    print(f"{'disorder':<12} {'real pixel avg':>15} {'generated pixel avg':>20} {'latent avg':>11}")
    for r in rows:
        real = f"{r['real_pixel_laplacian_var']:.1f}" if "real_pixel_laplacian_var" in r else "-"
        print(
            f"{r['disorder']:<12} {real:>15} {r['pixel_laplacian_var']:>20.1f} {r['latent_laplacian_var']:>11.1f}"
        )
    print(f"wrote {args.out}")


def cmd_realism(args: argparse.Namespace) -> None:
    from generator import realism

    if args.folder is not None:
        real, synthetic, real_groups, synthetic_groups = realism.load_manifest_folder(
            args.folder, args.size
        )
    elif args.real is not None and args.synthetic is not None:
        real, real_groups = realism.load_kind_folder(args.real, args.size)
        synthetic, synthetic_groups = realism.load_kind_folder(args.synthetic, args.size)
    else:
        raise ValueError("give a FOLDER with manifest.csv, or both --real DIR and --synthetic DIR")
    report = realism.measure(
        real, synthetic, real_groups, synthetic_groups, n_questions=args.questions, seed=args.seed
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        print(report.table())


def _inversion_options(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m generator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the conditional generator on a phantoms dataset")
    p.add_argument(
        "data_dir", type=Path, help="folder with manifest.csv (python -m phantoms writes one)"
    )
    p.add_argument(
        "--config", default="demo64", help="network preset (tiny, demo64, real256) or JSON file"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/generator"),
        help="run folder: latest + exported checkpoint",
    )
    p.add_argument(
        "--steps",
        type=int,
        required=True,
        help="total training steps (a resumed run continues to this)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume",
        type=Path,
        help="training checkpoint to resume (default: OUT/latest.safetensors if present)",
    )
    p.add_argument(
        "--init-from",
        dest="init_from",
        type=Path,
        help="exported generator to start a fresh run from (a fine-tune); ignored when resuming",
    )
    p.add_argument("--classifier", type=Path, help="frozen phantom classifier for the GestaltLoss")
    p.add_argument("--batch", type=int)
    p.add_argument("--g-lr", dest="g_lr", type=float)
    p.add_argument("--d-lr", dest="d_lr", type=float)
    p.add_argument("--r1-gamma", dest="r1_gamma", type=float)
    p.add_argument(
        "--diffaugment", type=str, help="DiffAugment policy, e.g. color,translation,cutout"
    )
    p.add_argument(
        "--unaffected-factor",
        dest="unaffected_factor",
        type=float,
        help="unaffected exposure vs one disorder (paper: 20)",
    )
    p.add_argument(
        "--gestalt-weight", dest="gestalt_weight", type=float, help="GestaltLoss lambda (0 = off)"
    )
    p.add_argument(
        "--gestalt-view",
        dest="gestalt_view",
        help="augmentation of what the GestaltLoss classifier sees (default "
        f"{TrainConfig().gestalt_view})",
    )
    p.add_argument("--ema-half-life-images", dest="ema_half_life_images", type=int)
    p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    p.add_argument(
        "--batch-gpu",
        dest="batch_gpu",
        type=int,
        help="images per process per pass (default: batch / processes); smaller ones accumulate",
    )
    p.add_argument("--precision", choices=PRECISIONS, help="fp32 (default) or bf16 autocast")
    p.add_argument(
        "--style-mixing",
        dest="style_mixing",
        type=float,
        help="probability of mixing a second z's styles from a random layer on (StyleGAN2: 0.9)",
    )
    p.add_argument(
        "--pl-weight",
        dest="pl_weight",
        type=float,
        help="path-length weight (0 = off; StyleGAN2: 2)",
    )
    p.add_argument("--pl-interval", dest="pl_interval", type=int, help="lazy path-length interval")
    p.add_argument(
        "--ada-target",
        dest="ada_target",
        type=float,
        help="adaptive augmentation's target r_t (0 = off; ADA: 0.6)",
    )
    p.add_argument("--ada-interval", dest="ada_interval", type=int, help="steps between p updates")
    p.add_argument(
        "--ada-speed-images",
        dest="ada_speed_images",
        type=int,
        help="images over which ADA's p may go from 0 to 1 (ADA: 500000)",
    )
    _add_device(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-classifier", help="train the small phantom classifier")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser(
        "train-face-check", help="train the tiny phantom face / non-face model of the face gate"
    )
    p.add_argument("data_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_train_face_check)

    p = sub.add_parser("sample", help="write seeded samples with provenance JSON beside each")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--disorder", required=True)
    p.add_argument("--seeds", default="0-15", help="e.g. 0-999,1200")
    p.add_argument(
        "--truncation", type=float, default=0.7, help="psi: 1 = none, 0 = the disorder's mean w"
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch", type=int, default=64)
    _add_device(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "evaluate", help="face, disorder and privacy gates per disorder: CSV, Markdown, figure"
    )
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
    _gate_options(p)
    _add_device(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "metrics", help="KID and precision/recall against real portraits, overall and per disorder"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument(
        "--data", type=Path, required=True, help="real portraits: folder with manifest.csv"
    )
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
    p.add_argument(
        "--baseline", type=Path, help="other real portraits, scored like a generator: the floor"
    )
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--batch", type=int, default=64)
    _add_device(p)
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser(
        "recompute-w-avg",
        help="recompute each disorder's truncation centre (mean w) from many samples",
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint file")
    p.add_argument("--samples", type=int, default=10_000, help="z samples per disorder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_recompute_w_avg)

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
    _add_device(p)
    p.set_defaults(func=cmd_calibrate_face)

    p = sub.add_parser(
        "evaluate-classes", help="classifier top-1 accuracy on generated images, per disorder"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=200)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument(
        "--real", type=Path, help="phantom dataset to score too (render unseen individuals)"
    )
    p.add_argument("--batch", type=int, default=64)
    _add_device(p)
    p.set_defaults(func=cmd_evaluate_classes)

    p = sub.add_parser("invert", help="GAN inversion of real portraits, and their latent average")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument(
        "--disorder",
        required=True,
        help="start from this class's mean w (for a disorder the model never saw: unaffected)",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch", type=int, default=16, help="portraits inverted together")
    _inversion_options(p)
    _add_device(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser(
        "invert-study",
        help="unseen disorders: inverted latent average vs pixel average, judged by a classifier",
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument(
        "--data", type=Path, required=True, help="phantom folder with the unseen disorders"
    )
    p.add_argument(
        "--disorders", required=True, help="comma-separated disorders the model never saw"
    )
    p.add_argument(
        "--init-disorder", default="unaffected", help="whose mean w starts the inversion"
    )
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
    p.add_argument(
        "--misalign-scale", type=float, default=0.0, help="largest random relative size change"
    )
    p.add_argument(
        "--misalign-degrees", type=float, default=0.0, help="largest random roll in degrees"
    )
    _inversion_options(p)
    _add_device(p)
    p.set_defaults(func=cmd_invert_study)

    p = sub.add_parser("grid", help="PNG grid: one row of samples per disorder")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-disorder", type=int, default=8)
    p.add_argument("--truncation", type=float, default=0.7)
    _add_device(p)
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser(
        "averages", help="PNG: pixel average vs latent average per disorder, with sharpness"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--n-latent",
        dest="n_latent",
        type=int,
        default=10_000,
        help="w samples in the latent average",
    )
    p.add_argument(
        "--n-pixel", dest="n_pixel", type=int, default=64, help="portraits in the pixel average"
    )
    p.add_argument(
        "--data", type=Path, help="also show the pixel average of real phantoms from this dataset"
    )
    _add_device(p)
    p.set_defaults(func=cmd_averages)

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
    p.set_defaults(func=cmd_import_nvlabs)

    p = sub.add_parser(
        "realism",
        help="how well cheap pixel statistics tell real from synthetic portraits (leave-one-out AUC)",
    )
    p.add_argument(
        "folder", type=Path, nargs="?", help="folder with manifest.csv (filename, kind, disorder)"
    )
    p.add_argument("--real", type=Path, help="folder of real portraits (instead of a manifest)")
    p.add_argument("--synthetic", type=Path, help="folder of synthetic portraits")
    p.add_argument(
        "--size",
        type=int,
        help="centre-crop and resize every portrait to SIZE px first, as a bank does",
    )
    p.add_argument(
        "--questions", type=int, default=2000, help="simulated real-vs-synthetic questions"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_realism)
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line on stderr and exit status 2 (argparse prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> None:
    """Run one command. A user's mistake (a bad value, a missing or unreadable file, a checkpoint
    that does not fit) is one line on stderr and exit status 2; GENERATOR_TRACEBACK=1 shows the
    traceback instead, for a bug report."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as error:  # CheckpointError and NVlabsError are ValueErrors
        if os.environ.get("GENERATOR_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"python -m generator {args.command}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None

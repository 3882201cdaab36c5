"""`python -m generator invert`: GAN inversion of real portraits, and their latent average."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from generator.cli.inversion_options import add_inversion_options, feature_net, inversion_settings
from generator.cli.options import add_device, setup


def register(sub: argparse._SubParsersAction) -> None:
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
    add_inversion_options(p)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from PIL import Image
    from safetensors.torch import save_file

    from generator.inference.averages import pixel_average
    from generator.inference.sampling import to_uint8
    from generator.inversion.invert import invert, inverted_latent_average, load_targets
    from generator.nets.model import load_generator

    device = setup(args)
    model = load_generator(args.checkpoint, device=str(device))
    init = model.label_of(args.disorder)
    targets = load_targets(args.images, model.config.resolution)
    settings = inversion_settings(args)
    args.out.mkdir(parents=True, exist_ok=True)
    features = feature_net(args.feature_net, device)
    rows = []
    ws = []
    for start in range(0, len(targets), args.batch):
        chunk = targets[start : start + args.batch]
        result = invert(model, chunk, init, settings, features, progress=True, seed=start)
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
    Image.fromarray(to_uint8(inverted_latent_average(model, w))[0]).save(args.out / "latent_average.png")
    Image.fromarray(pixel_average(to_uint8(targets))).save(args.out / "pixel_average.png")
    with (args.out / "losses.csv").open("w", encoding="utf-8") as fh:
        # the pose columns are the fitted photograph pose (identity without --fit-pose)
        fh.write("image,loss_start,loss_end,pixel_end,feature_end,shift_x,shift_y,scale,roll_degrees\n")
        fh.writelines(f"{row[0]}," + ",".join(f"{v:.6f}" for v in row[1:]) + "\n" for row in rows)
    mean_before = sum(r[1] for r in rows) / len(rows)
    mean_after = sum(r[2] for r in rows) / len(rows)
    print(
        f"inverted {len(rows)} portraits from {args.disorder}'s mean w "
        f"({'w+' if settings.w_plus else 'w'}, {settings.steps} steps): mean loss "
        f"{mean_before:.4f} -> {mean_after:.4f}"
    )
    print(f"wrote {args.out}/: *_inverted.png, losses.csv, w.safetensors, latent_average.png, pixel_average.png")

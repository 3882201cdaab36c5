"""`python -m generator.benchmark CKPT`: batched vs one-image-per-forward sampling, latent-average time,
and the gates' (evaluation's) images/s beside sampling's. With --train: training images/s (one
process) at a batch and precision, e.g. `--untrained real256 --train --batch 256 --precision bf16`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from generator.gates.pipeline import GateSet, build_gates
from generator.gates.privacy import PrivacyReference
from generator.inference.averages import latent_average
from generator.inference.sampling import generate_batch
from generator.nets.config import PRECISIONS, PRESETS, NetworkConfig, TrainConfig
from generator.nets.device import device_name, resolve_device
from generator.nets.model import LoadedGenerator, load_generator
from generator.nets.networks import Generator
from generator.training.data import BalancedSampler, ImageSet, class_weights
from generator.training.distributed import Process


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(model: LoadedGenerator, label: int, n: int, batch: int) -> float:
    seeds = list(range(n))
    generate_batch(model, label, seeds[: min(batch, n)], 1.0)  # warm-up: kernels, allocator
    _sync(model.device)
    start = time.perf_counter()
    for i in range(0, n, batch):
        generate_batch(model, label, seeds[i : i + batch], 1.0)
    _sync(model.device)
    return n / (time.perf_counter() - start)


def flops_per_image(model: LoadedGenerator, label: int) -> float:
    """Convolution and matrix-multiply FLOPs of one generated image (elementwise work not counted)."""
    with FlopCounterMode(display=False) as counter:
        generate_batch(model, label, [0], 1.0)
    return float(counter.get_total_flops())


def matmul_flops_per_second(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """What this device sustains on one large float32 matrix multiply: the ceiling a
    compute-bound network can approach, whatever its batch size."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def gates_per_second(model: LoadedGenerator, gates: GateSet, n: int, batch: int) -> float:
    """Images/s of the gates alone, on images generated beforehand (sampling is timed apart)."""
    disorder = model.disorders[0]
    label = model.label_of(disorder)
    images = [generate_batch(model, label, list(range(i, min(i + batch, n))), 1.0).float() for i in range(0, n, batch)]
    gates.check(images[0], disorder)  # warm-up
    _sync(model.device)
    start = time.perf_counter()
    for chunk in images:
        gates.check(chunk, disorder)
    _sync(model.device)
    return n / (time.perf_counter() - start)


def timing_gates(model: LoadedGenerator, reference_size: int) -> tuple[GateSet, str]:
    """The default gates of a phantom checkpoint; the privacy reference is random unit vectors of
    the classifier's embedding size: a nearest-neighbour search costs the same whatever they hold."""
    gates, _ = build_gates(model.disorders, model.config.resolution, model.device, skip=frozenset({"privacy"}))
    if gates.classifier is None:
        return gates, "no classifier for these disorders: give a phantom checkpoint"
    probe = torch.zeros(1, 3, model.config.resolution, model.config.resolution, device=model.device)
    with torch.inference_mode():
        dim = gates.classifier.embed(probe).shape[1]
    train = torch.nn.functional.normalize(torch.randn(reference_size, dim), dim=1)
    gates.privacy = PrivacyReference(train, [], torch.ones(1), 1.0, 0.0)
    shifts = (2 * gates.privacy.shift_radius + 1) ** 2
    return gates, (
        f"face check + classifier top-k + nearest of {reference_size:,} training embeddings at {shifts} shifts"
    )


def untrained_model(preset: str, device: torch.device) -> LoadedGenerator:
    """Random weights of a preset: speed does not depend on the weights, only on the shapes."""
    config = PRESETS[preset]
    net = Generator(config).eval().requires_grad_(False).to(device)
    names = [f"class{i}" for i in range(config.num_classes)]
    return LoadedGenerator(net, names, f"untrained-{preset}", config, {}, device)


def print_compute_rate(model: LoadedGenerator, label: int, batched: float, loop: float) -> None:
    """Why batching gains what it gains: a network that already keeps the device busy one image at
    a time cannot be sped up by batching beyond the device's arithmetic ceiling."""
    per_image = flops_per_image(model, label)
    ceiling = matmul_flops_per_second(model.device)
    print(f"work per image:             {per_image / 1e6:8.1f} MFLOP (convolutions and matmuls)")
    for what, rate in (("batched", batched), ("one per forward", loop)):
        achieved = rate * per_image
        print(
            f"  {what + ':':<25}{achieved / 1e9:8.1f} GFLOP/s"
            f" = {100 * achieved / ceiling:4.0f} % of a 1024x1024 matmul ({ceiling / 1e9:.1f} GFLOP/s)"
        )
    print(f"speed-up ceiling:           {ceiling / (loop * per_image):8.1f}x  (matmul rate / loop's rate)")


def random_image_set(config: NetworkConfig, images: int) -> ImageSet:
    """Random uint8 portraits, every class present: a step's cost does not depend on the pixels."""
    g = torch.Generator().manual_seed(0)
    res = config.resolution
    return ImageSet(
        images=torch.randint(0, 256, (images, 3, res, res), dtype=torch.uint8, generator=g),
        labels=torch.arange(images) % config.num_classes,
        individuals=[f"random{i}" for i in range(images)],
        disorders=[f"class{i}" for i in range(config.num_classes)],
        manifest_sha256="",
    )


def training_images_per_second(
    config: NetworkConfig, train: TrainConfig, device: torch.device, steps: int, warmup: int
) -> tuple[float, float, float]:
    """(images/s, seconds per step, images per CPU second of this process) of full training steps
    (D with lazy R1, G, EMA) on one process, timed after `warmup` steps; steps should span the R1
    interval for R1's share to be counted. On a shared CPU the CPU-time figure is the steadier one."""
    from generator.training.state import build_state
    from generator.training.step import Trainer, train_step

    data = random_image_set(config, max(train.batch, 4 * config.num_classes))
    sampler = BalancedSampler(data.labels, class_weights(data.disorders, train.unaffected_factor))
    state = build_state(config, train, device, seed=0)
    trainer = Trainer(state, data, sampler, train, 0, Process(device))
    for _ in range(warmup):
        train_step(trainer)
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        train_step(trainer)
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    cpu_seconds = (time.process_time() - cpu_start) / steps
    return train.batch / seconds, seconds, train.batch / cpu_seconds


def print_training_rate(config: NetworkConfig, args: argparse.Namespace, device: torch.device) -> None:
    train = TrainConfig(
        batch=args.batch,
        precision=args.precision,
        style_mixing=args.style_mixing,
        pl_weight=args.pl_weight,
        ada_target=args.ada_target,
    )
    print(
        f"training: {config.resolution} px, batch {train.batch}, {train.precision}, "
        f"R1 every {train.r1_interval} steps, style mixing {train.style_mixing}, "
        f"path length {'every ' + str(train.pl_interval) + ' steps' if train.pl_weight else 'off'}, "
        f"ADA {'on' if train.ada_target else 'off'}; {args.train_steps} steps after "
        f"{args.warmup_steps} warm-up"
    )
    rate, seconds, per_cpu_second = training_images_per_second(
        config, train, device, args.train_steps, args.warmup_steps
    )
    print(f"training:                   {rate:8.1f} images/s  ({seconds * 1000:.1f} ms per step)")
    if device.type == "cpu":
        print(f"training per CPU second:    {per_cpu_second:8.1f} images  (this process's CPU time)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m generator.benchmark", description=__doc__)
    parser.add_argument("checkpoint", type=Path, nargs="?", help="generator checkpoint (or use --untrained)")
    parser.add_argument(
        "--untrained",
        metavar="PRESET",
        help="time a randomly initialised preset instead, e.g. real256",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n", type=int, default=512, help="images for the batched measurement")
    parser.add_argument("--n-loop", type=int, default=64, help="images for the one-per-forward loop")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--reference-size",
        type=int,
        default=1350,
        help="training portraits in the privacy gate's search (bundled model: 1,350)",
    )
    parser.add_argument("--train", action="store_true", help="time training steps instead of sampling")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="with --train")
    parser.add_argument("--train-steps", type=int, default=16, help="timed steps, with --train")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps, with --train")
    parser.add_argument("--style-mixing", type=float, default=0.0, help="with --train")
    parser.add_argument("--pl-weight", type=float, default=0.0, help="with --train")
    parser.add_argument("--ada-target", type=float, default=0.0, help="with --train")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.checkpoint is not None:
        model = load_generator(args.checkpoint, device=str(device))
    elif args.untrained:
        model = untrained_model(args.untrained, device)
    else:
        parser.error("give a checkpoint or --untrained PRESET")
    if args.train:
        print(f"device: {device_name(model.device)}")
        # training builds our own networks from the config; an imported NVlabs checkpoint has no
        # such config and could never be timed (it failed further in, on the missing channels)
        assert isinstance(model.config, NetworkConfig), "--train times our own networks, not imported ones"
        print_training_rate(model.config, args, model.device)
        return
    label = 0
    print(f"device: {device_name(model.device)}; checkpoint {model.checkpoint_id}, {model.config.resolution} px")
    if model.device.type == "cuda":
        print(f"autocast: {'bf16' if torch.cuda.is_bf16_supported() else 'fp16'}")
    batched = images_per_second(model, label, args.n, args.batch)
    loop = images_per_second(model, label, args.n_loop, 1)
    print(f"batched (batch {args.batch}): {batched:8.1f} images/s")
    print(f"one image per forward:      {loop:8.1f} images/s")
    print(f"speed-up:                   {batched / loop:8.1f}x")
    print_compute_rate(model, label, batched, loop)
    if model.checkpoint_id.startswith("untrained"):
        print("gates:                      skipped (untrained preset has no phantom disorders)")
    else:
        gates, what = timing_gates(model, args.reference_size)
        if gates.classifier is not None:
            rate = gates_per_second(model, gates, args.n, args.batch)
            print(f"gates (batch {args.batch}):    {rate:8.1f} images/s  ({what})")
            print(f"sampling + gates:           {1 / (1 / batched + 1 / rate):8.1f} images/s")
            gates.privacy = None  # the shifted nearest-neighbour search is most of the cost
            no_privacy = gates_per_second(model, gates, args.n, args.batch)
            print(f"gates without privacy:      {no_privacy:8.1f} images/s  (face check + classifier)")
        else:
            print(f"gates: {what}")
    latent_average(model, label, 10_000)  # warm-up
    _sync(model.device)
    start = time.perf_counter()
    latent_average(model, label, 10_000)
    _sync(model.device)
    print(f"latent average of 10,000 w: {(time.perf_counter() - start) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

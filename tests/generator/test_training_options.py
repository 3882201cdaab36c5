"""bf16, the per-shard random streams, style mixing, path-length regularisation and ADA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.nets.checkpoint import load_checkpoint_file
from generator.nets.config import PRESETS, NetworkConfig, TrainConfig
from generator.nets.networks import Generator
from generator.training.augment import ada_augment, adjust_ada_p, overfitting
from generator.training.data import BalancedSampler, class_weights, load_image_set
from generator.training.distributed import Process
from generator.training.losses import path_lengths
from generator.training.state import LATEST, build_state
from generator.training.step import (
    StyledGenerator,
    Trainer,
    layer_depths,
    shard_streams,
    style_mixing_layers,
    train_step,
)
from generator.training.train import run_training

TINY = PRESETS["tiny"]
CPU = torch.device("cpu")


def _trainer(data_dir: Path, device: torch.device = CPU, **options: object) -> Trainer:
    data = load_image_set(data_dir, 16)
    config = NetworkConfig.from_json(TINY.to_json() | {"num_classes": len(data.disorders)})
    train = TrainConfig(batch=4, unaffected_factor=2.0, **options)  # type: ignore[arg-type]
    sampler = BalancedSampler(data.labels, class_weights(data.disorders, 2.0))
    state = build_state(config, train, device, seed=0)
    return Trainer(state, data, sampler, train, 0, Process(device))


# --- precision


def test_bf16_trains_on_cpu_stays_finite_and_keeps_fp32_weights(phantom_data: Path, tmp_path: Path) -> None:
    options = {"batch": 4, "checkpoint_every": 1, "unaffected_factor": 2.0, "r1_interval": 1}
    options |= {"pl_weight": 2.0, "pl_interval": 1}  # R1 and path length on every step
    bf16 = TrainConfig(**options, precision="bf16")  # type: ignore[arg-type]
    run_training(phantom_data, tmp_path / "bf16", TINY, bf16, steps=2)
    run_training(phantom_data, tmp_path / "fp32", TINY, TrainConfig(**options), steps=2)  # type: ignore[arg-type]
    half = load_checkpoint_file(tmp_path / "bf16" / LATEST).tensors
    full = load_checkpoint_file(tmp_path / "fp32" / LATEST).tensors
    for name, tensor in half.items():
        assert tensor.dtype in (torch.float32, torch.bool), name  # weights, EMA, Adam: fp32
        assert torch.isfinite(tensor.float()).all(), name
    assert not torch.equal(half["G.synthesis.const"], full["G.synthesis.const"])  # it took effect


def test_bf16_autocasts_the_networks_but_not_the_regularisers(phantom_data: Path) -> None:
    t = _trainer(phantom_data, precision="bf16")
    labels_g, g = shard_streams(0, 0, 0, "G", CPU)
    labels, z, noise, _ = t.latents(4, labels_g, g)
    with t.autocast():  # the layers' matrix products run in bf16
        assert t.styled(z, labels, noise)[1].dtype == torch.bfloat16
    with t.autocast(enabled=False):  # what R1 and the path-length pass run under
        assert t.styled(z, labels, noise)[1].dtype == torch.float32
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


# --- randomness


def test_a_training_step_leaves_the_global_rng_alone(phantom_data: Path) -> None:
    t = _trainer(phantom_data, style_mixing=0.5, ada_target=0.6)
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    train_step(t)
    build_state(t.state.G.config, t.train, CPU, seed=7)
    assert torch.equal(torch.get_rng_state(), before)


def test_each_shard_phase_and_step_has_its_own_reproducible_stream() -> None:
    def draw(seed: int, step: int, shard: int, phase: str) -> torch.Tensor:
        labels_g, g = shard_streams(seed, step, shard, phase, CPU)
        return torch.cat([torch.rand(3, generator=labels_g), torch.rand(3, generator=g)])

    base = draw(0, 5, 1, "G")
    assert torch.equal(base, draw(0, 5, 1, "G"))
    others = [draw(1, 5, 1, "G"), draw(0, 6, 1, "G"), draw(0, 5, 0, "G"), draw(0, 5, 1, "D")]
    assert all(not torch.allclose(base, other) for other in others)
    labels_g, g = shard_streams(0, 5, 1, "G", CPU)  # the two generators of a shard differ too
    assert not torch.equal(torch.rand(3, generator=labels_g), torch.rand(3, generator=g))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_latents_and_noise_are_drawn_on_the_training_device(phantom_data: Path) -> None:
    t = _trainer(phantom_data, device=torch.device("cuda"))
    labels_g, g = shard_streams(0, 0, 0, "G", torch.device("cuda"))
    _, z, noise, _ = t.latents(4, labels_g, g)
    assert g.device.type == "cuda" and z.is_cuda and all(n.is_cuda for n in noise)
    stats = train_step(t)  # a whole step on the GPU
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_trains_on_cuda_and_stays_finite(phantom_data: Path, tmp_path: Path) -> None:
    train = TrainConfig(batch=4, r1_interval=1, pl_weight=2.0, pl_interval=1, precision="bf16")
    process = Process(torch.device("cuda"))
    run_training(phantom_data, tmp_path, TINY, train, steps=2, process=process)
    for name, tensor in load_checkpoint_file(tmp_path / LATEST).tensors.items():
        assert torch.isfinite(tensor.float()).all(), name


# --- style mixing


def test_style_mixing_hands_the_second_w_to_every_layer_past_the_cutoff() -> None:
    torch.manual_seed(0)
    G = Generator(TINY)
    depths = layer_depths(G)  # 5 convs, then ToRGBs after convs 0, 2, 4
    assert depths.tolist() == [0, 1, 2, 3, 4, 0, 2, 4]
    g = torch.Generator().manual_seed(0)
    none = style_mixing_layers(64, depths, 0.0, g)
    every = style_mixing_layers(64, depths, 1.0, g)
    assert not none.any() and every.any(dim=1).all()
    assert not every[:, depths == 0].any()  # the first layer always keeps the first w
    for row in every:  # from the cutoff on, every deeper layer is mixed
        cutoff = int(depths[row].min())
        assert torch.equal(row, depths >= cutoff)
    z, z2 = torch.randn(64, TINY.z_dim), torch.randn(64, TINY.z_dim)
    labels = torch.randint(0, 3, (64,))
    noise = G.synthesis.make_noise(64, g)
    styled = StyledGenerator(G)
    images, w, ws = styled(z, labels, noise, mix_z=z2, mix_layers=every)
    w2 = G.mapping(z2, labels)
    expected = torch.where(every[:, :, None], w2[:, None], w[:, None].expand_as(ws))
    assert torch.equal(ws, expected)
    plain = styled(z, labels, noise)[0]
    assert not torch.allclose(images, plain) and torch.equal(plain, G(z, labels, noise=noise))


# --- path-length regularisation


def test_path_lengths_are_the_norm_of_the_jacobian_times_a_seeded_image() -> None:
    ws = torch.randn(2, 3, 4, requires_grad=True)  # batch 2, 3 layers, w_dim 4
    M = torch.randn(4, 3 * 2 * 2)
    images = (ws.sum(dim=1) @ M).reshape(2, 3, 2, 2)
    lengths = path_lengths(images, ws, torch.Generator().manual_seed(3))
    y = torch.randn(images.shape, generator=torch.Generator().manual_seed(3)) / 2.0
    expected = (M @ y.flatten(1).t()).t().norm(dim=1)  # every layer has the same Jacobian
    assert torch.allclose(lengths, expected, atol=1e-5)


def test_the_running_path_length_mean_updates_on_regularisation_steps_only(
    phantom_data: Path,
) -> None:
    t = _trainer(phantom_data, pl_weight=2.0, pl_interval=2, pl_decay=0.5)
    stats = train_step(t)  # step 0 regularises
    first = t.state.pl_mean
    assert first > 0 and stats["pl_mean"] == first and "pl_penalty" in stats
    train_step(t)  # step 1 does not
    assert t.state.pl_mean == first
    train_step(t)
    assert t.state.pl_mean != first
    off = _trainer(phantom_data)
    on = _trainer(phantom_data, pl_weight=2.0, pl_interval=1)
    train_step(off)
    train_step(on)  # the penalty reaches G's weights
    assert not torch.equal(off.state.G.synthesis.const, on.state.G.synthesis.const)


# --- adaptive augmentation


def test_ada_augments_each_image_with_probability_p_and_passes_gradients() -> None:
    x = (torch.rand(400, 3, 16, 16) * 2 - 1).requires_grad_(True)
    assert ada_augment(x, 0.0, torch.Generator().manual_seed(0)) is x

    def changed(p: float) -> float:
        out = ada_augment(x, p, torch.Generator().manual_seed(0))
        return float((out - x).flatten(1).abs().amax(dim=1).gt(1e-6).float().mean())

    assert changed(0.05) < changed(0.3) < changed(1.0) == 1.0
    ada_augment(x, 0.5, torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_ada_p_follows_the_overfitting_heuristic() -> None:
    assert overfitting(sign_sum=8.0, count=10.0) == 0.8 and overfitting(0.0, 0.0) == 0.0
    assert adjust_ada_p(0.2, r_t=0.8, target=0.6, images=100, speed_images=1000) == pytest.approx(0.3)
    assert adjust_ada_p(0.2, r_t=0.4, target=0.6, images=100, speed_images=1000) == pytest.approx(0.1)
    assert adjust_ada_p(0.0, r_t=0.0, target=0.6, images=100, speed_images=1000) == 0.0
    assert adjust_ada_p(0.95, r_t=1.0, target=0.6, images=100, speed_images=1000) == 1.0


@pytest.mark.parametrize(("bias", "rises"), [(10.0, True), (-10.0, False)])
def test_ada_p_rises_when_d_is_sure_of_every_real_image(phantom_data: Path, bias: float, rises: bool) -> None:
    # a toy overfitting D: a large output bias makes D(real) > 0 for every real image (r_t = 1)
    t = _trainer(phantom_data, ada_target=0.6, ada_interval=2, ada_speed_images=40)
    with torch.no_grad():
        t.state.D.out.bias.fill_(bias)
    train_step(t)
    assert t.state.ada_p == 0.0 and t.state.ada_count == 4  # adjusted every 2 steps
    stats = train_step(t)
    assert stats["ada_r_t"] == (1.0 if rises else -1.0)
    assert t.state.ada_p == (pytest.approx(0.2) if rises else 0.0)  # 2 x 4 images / 40


def test_ada_shows_d_augmented_real_images(phantom_data: Path) -> None:
    seen: list[torch.Tensor] = []
    dataset = {tuple(img.flatten().tolist()) for img in (load_image_set(phantom_data, 16).images.float() / 127.5 - 1)}

    def real_inputs(ada_target: float, p: float) -> list[torch.Tensor]:
        t = _trainer(phantom_data, diffaugment="", ada_target=ada_target)
        t.state.ada_p = p
        seen.clear()
        handle = t.state.D.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
        train_step(t)
        handle.remove()
        return list(seen[1])  # the D phase shows generated images first, then real ones

    assert all(tuple(x.flatten().tolist()) in dataset for x in real_inputs(0.0, 0.0))
    assert not any(tuple(x.flatten().tolist()) in dataset for x in real_inputs(0.6, 1.0))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--batch", "6", "--batch-gpu", "4"], "does not split"),
        (["--style-mixing", "2"], "style_mixing must be a probability"),
    ],
)
def test_the_train_cli_refuses_bad_options_in_one_line(
    phantom_data: Path, tmp_path: Path, flags: list[str], says: str
) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "generator", "train", str(phantom_data), "--config", "tiny"]
    command += ["--out", str(tmp_path), "--steps", "1", "--device", "cpu", *flags]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and says in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written

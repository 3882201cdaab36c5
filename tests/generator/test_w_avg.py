"""The truncation centre of each disorder is its mean w over many samples, not a stale running
average: recomputed by a function, by `recompute-w-avg`, and at the end of training."""

from __future__ import annotations

from pathlib import Path

import torch

from generator.cli import main
from generator.inference.averages import class_w_means, recompute_class_w_avg
from generator.nets.checkpoint import load_checkpoint_file, save_checkpoint
from generator.nets.config import PRESETS
from generator.nets.model import load_generator
from generator.nets.networks import Generator


def test_the_recomputed_centre_is_closer_to_the_true_class_mean_than_a_stale_one(tiny_model):
    mapping = tiny_model.generator.mapping
    stale = mapping.w_avg.clone()  # the fixture's centres: random, as a lagging average may be
    truth = class_w_means(mapping, 50_000, seed=12345)  # other z than the recomputation's
    centres = recompute_class_w_avg(tiny_model.generator, n=10_000, seed=0)
    assert torch.equal(mapping.w_avg, centres) and bool(mapping.w_avg_seen.all())
    new_error = (centres - truth).norm(dim=1)
    stale_error = (stale - truth).norm(dim=1)
    assert (new_error < stale_error).all()
    # and close in absolute terms: well under a tenth of the distance between two class centres
    assert float(new_error.max()) < 0.1 * float(torch.pdist(truth).min())


def test_psi_zero_then_draws_the_recomputed_centre(tiny_model):
    recompute_class_w_avg(tiny_model.generator, n=2_000, seed=0)
    z = torch.randn(3, tiny_model.config.z_dim)
    labels = torch.tensor([0, 1, 2])
    w = tiny_model.generator.mapping(z, labels, truncation=0.0)
    assert torch.allclose(w, tiny_model.generator.mapping.w_avg)


def test_recompute_w_avg_command_writes_a_new_checkpoint(tmp_path: Path, capsys):
    torch.manual_seed(0)
    net = Generator(PRESETS["tiny"])
    source = tmp_path / "g.safetensors"
    save_checkpoint(source, kind="generator", config=PRESETS["tiny"].to_json(),
                    disorders=["alpha", "beta", "unaffected"], provenance={"made": "here"},
                    tensors={f"G_ema.{k}": v for k, v in net.state_dict().items()})  # fmt: skip
    out = tmp_path / "g2.safetensors"
    main(["recompute-w-avg", str(source), "--out", str(out), "--samples", "3000", "--seed", "4"])
    before, after = load_checkpoint_file(source), load_checkpoint_file(out)
    assert after.provenance["w_avg"] == {
        "samples_per_class": 3000, "seed": 4, "recomputed_from": before.checkpoint_id
    }  # fmt: skip
    assert after.provenance["made"] == "here"
    model = load_generator(out, device="cpu")
    expected = class_w_means(model.generator.mapping, 3000, seed=4)
    assert torch.allclose(after.tensors["G_ema.mapping.w_avg"], expected)
    changed = {k for k in before.tensors if not torch.equal(before.tensors[k], after.tensors[k])}
    assert changed == {"G_ema.mapping.w_avg", "G_ema.mapping.w_avg_seen"}
    assert f"wrote {out}" in capsys.readouterr().out


def test_training_exports_centres_recomputed_from_10000_samples(phantom_data: Path, tmp_path: Path):
    from generator.nets.config import TrainConfig
    from generator.training.state import LATEST
    from generator.training.train import run_training

    train = TrainConfig(batch=4, r1_interval=2, checkpoint_every=1, unaffected_factor=2.0)
    export = run_training(phantom_data, tmp_path, PRESETS["tiny"], train, steps=1)
    model = load_generator(export, device="cpu")
    expected = class_w_means(model.generator.mapping, 10_000, seed=0)
    assert torch.allclose(model.generator.mapping.w_avg, expected, atol=1e-6)
    # the running average stays in the resumable checkpoint, so a resumed run is unchanged
    running = load_checkpoint_file(tmp_path / LATEST).tensors["G_ema.mapping.w_avg"]
    assert not torch.allclose(running, expected, atol=1e-6)

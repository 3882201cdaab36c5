import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from generator import api
from generator.inference.averages import laplacian_variance, latent_average, mean_w, pixel_average
from generator.inference.sampling import generate_batch


def test_a_seed_gives_the_same_image_whatever_the_batch(tiny_model) -> None:  # type: ignore[no-untyped-def]
    together = generate_batch(tiny_model, 1, [3, 4, 5, 6], 0.7)
    alone = torch.cat([generate_batch(tiny_model, 1, [s], 0.7) for s in (3, 4, 5, 6)])
    reordered = generate_batch(tiny_model, 1, [6, 5, 4, 3], 0.7).flip(0)
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(together, reordered, atol=1e-5)
    assert not torch.allclose(together[0], together[1])


def test_api_samples_with_provenance_across_batch_sizes(tiny_model) -> None:  # type: ignore[no-untyped-def]
    a = api.sample_images(tiny_model, "beta", [0, 1, 2], truncation=0.7, batch=2)
    b = api.sample_images(tiny_model, "beta", [0, 1, 2], truncation=0.7, batch=64)
    assert [info["seed"] for _, info in a] == [0, 1, 2]
    assert a[0][1] == {
        "checkpoint_id": "test0000",
        "disorder": "beta",
        "seed": 0,
        "truncation": 0.7,
        "kind": "synthetic",
    }
    for (img_a, _), (img_b, _) in zip(a, b):
        assert img_a.size == (16, 16) and img_a.mode == "RGB"
        assert np.abs(np.asarray(img_a, dtype=int) - np.asarray(img_b, dtype=int)).max() <= 1
    assert api.disorders(tiny_model) == ["alpha", "beta", "unaffected"]
    with pytest.raises(ValueError, match="gamma"):
        api.sample_images(tiny_model, "gamma", [0], 1.0)


def test_latent_average_is_one_synthesis_of_the_class_mean_w(tiny_model) -> None:  # type: ignore[no-untyped-def]
    w = mean_w(tiny_model, 0, 2_000, seed=0)
    direct = tiny_model.generator.synthesis(w)
    image = latent_average(tiny_model, 0, 2_000, seed=0)
    expected = ((direct.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(image, expected)
    other = latent_average(tiny_model, 1, 2_000, seed=0)
    assert not np.array_equal(image, other)
    img, info = api.latent_average_image(tiny_model, "alpha", n_samples=2_000)
    assert img.size == (16, 16) and info["disorder"] == "alpha" and info["checkpoint_id"] == "test0000"


def test_pixel_averages_are_blurrier_than_their_members() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(32, 16, 16, 3), dtype=np.uint8)
    assert laplacian_variance(pixel_average(images)) < laplacian_variance(images[0]) / 10


def test_importing_the_package_is_cheap_and_never_loads_django() -> None:
    code = (
        "import sys, generator; assert 'torch' not in sys.modules; "
        "import generator.api, generator.cli, generator.training.train, generator.reports.benchmark; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sample_cli_writes_images_and_provenance(tmp_path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    from generator.nets.checkpoint import save_checkpoint
    from generator.training.state import TrainState  # noqa: F401  (import check only)

    ckpt = tmp_path / "g.safetensors"
    save_checkpoint(
        ckpt,
        kind="generator",
        config=tiny_model.config.to_json(),
        disorders=tiny_model.disorders,
        provenance={},
        tensors={f"G_ema.{k}": v for k, v in tiny_model.generator.state_dict().items()},
    )
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "sample",
            str(ckpt),
            "--disorder",
            "alpha",
            "--seeds",
            "0-2,7",
            "--truncation",
            "0.7",
            "--out",
            str(out),
            "--device",
            "auto",
            "--batch",
            "2",
            "--threads",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in out.glob("*.png")) == [f"alpha_seed{s:06d}.png" for s in (0, 1, 2, 7)]
    info = json.loads((out / "alpha_seed000007.json").read_text())
    assert info["seed"] == 7 and info["truncation"] == 0.7 and len(info["checkpoint_id"]) == 16

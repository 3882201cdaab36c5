from pathlib import Path

import pytest
import torch

from generator import api
from generator.inference.sampling import generate_batch
from generator.nets.checkpoint import CheckpointError, save_checkpoint
from generator.nets.config import PRESETS, NetworkConfig
from generator.nets.model import load_generator

TINY = PRESETS["tiny"]


def _save(model, path: Path) -> str:  # type: ignore[no-untyped-def]
    tensors = {f"G_ema.{k}": v for k, v in model.generator.state_dict().items()}
    return save_checkpoint(
        path,
        kind="generator",
        config=model.config.to_json(),
        disorders=model.disorders,
        provenance={"note": "test"},
        tensors=tensors,
    )


def test_a_loaded_checkpoint_reproduces_the_saved_generator(tmp_path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.safetensors"
    ckpt_id = _save(tiny_model, path)
    loaded = api.load_checkpoint(path, device="cpu")
    assert loaded.checkpoint_id == ckpt_id and loaded.disorders == tiny_model.disorders
    assert loaded.provenance == {"note": "test"}
    before = generate_batch(tiny_model, 2, [0, 1], 0.7)
    after = generate_batch(loaded, 2, [0, 1], 0.7)
    assert torch.equal(before, after)
    assert torch.equal(loaded.generator.mapping.w_avg, tiny_model.generator.mapping.w_avg)


def test_the_id_is_a_content_hash(tmp_path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    a = _save(tiny_model, tmp_path / "a.safetensors")
    assert _save(tiny_model, tmp_path / "b.safetensors") == a
    with torch.no_grad():
        tiny_model.generator.synthesis.const.add_(1e-3)
    assert _save(tiny_model, tmp_path / "c.safetensors") != a


def test_a_mismatched_config_is_refused_with_the_differing_field(tmp_path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.safetensors"
    _save(tiny_model, path)
    other = NetworkConfig.from_json(TINY.to_json() | {"w_dim": 32})
    with pytest.raises(CheckpointError, match="w_dim: 16 != 32"):
        load_generator(path, expected_config=other)


def test_tensors_that_do_not_fit_the_stored_config_are_refused(tmp_path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.safetensors"
    tensors = {f"G_ema.{k}": v for k, v in tiny_model.generator.state_dict().items() if "const" not in k}
    save_checkpoint(
        path,
        kind="generator",
        config=TINY.to_json(),
        disorders=tiny_model.disorders,
        provenance={},
        tensors=tensors,
    )
    with pytest.raises(CheckpointError, match="missing"):
        load_generator(path)


def test_a_classifier_file_or_a_foreign_file_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.safetensors"
    save_checkpoint(
        path,
        kind="classifier",
        config={},
        disorders=[],
        provenance={},
        tensors={"x": torch.zeros(1)},
    )
    with pytest.raises(CheckpointError, match="classifier checkpoint, but a generator"):
        load_generator(path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_generator(junk)

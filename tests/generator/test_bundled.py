"""Bundled model paths come from one place, `generator.bundled`; GENERATOR_MODELS_DIR moves them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from generator import bundled
from generator.gates import pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_default_is_the_repositorys_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bundled.MODELS_DIR_ENV, raising=False)
    assert bundled.models_dir() == ROOT / "fixtures" / "models"
    assert bundled.model_path("generator-demo64.safetensors").is_file()
    for path in (
        pipeline.BUNDLED_CLASSIFIER,
        pipeline.BUNDLED_JUDGE,
        pipeline.BUNDLED_FACE_CHECK,
        pipeline.BUNDLED_FACE_CALIBRATION,
    ):
        assert path.parent == bundled.models_dir() and path.is_file()


def test_the_environment_variable_moves_every_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundled.MODELS_DIR_ENV, str(tmp_path))
    assert bundled.model_path("judge-demo64.safetensors") == tmp_path / "judge-demo64.safetensors"
    monkeypatch.setenv(bundled.MODELS_DIR_ENV, "  ")  # blank: as if unset
    assert bundled.models_dir() == ROOT / "fixtures" / "models"
    # the gates' defaults are fixed when their module is imported: in a fresh process
    code = "from generator.gates import pipeline; print(pipeline.BUNDLED_JUDGE)"
    env = {**os.environ, bundled.MODELS_DIR_ENV: str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=env
    ).stdout.strip()
    assert Path(shown) == tmp_path / "judge-demo64.safetensors"


@pytest.mark.parametrize("name", ["", "../judge-demo64.safetensors", "models/judge.safetensors"])
def test_a_name_is_a_file_name(name: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        bundled.model_path(name)


def test_build_demo_takes_the_bundled_generator_from_there() -> None:
    from survey.management.commands import build_demo

    assert build_demo.BUNDLED_CHECKPOINT == bundled.model_path("generator-demo64.safetensors")


def _path_literals(path: Path) -> list[str]:
    """String literals with no whitespace in them (paths, names), not prose or docstrings."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [t.string for t in tokens if t.type == tokenize.STRING and not any(c.isspace() for c in t.string)]


def test_no_other_module_spells_the_fixtures_folder() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {literal}"
        for package in ("generator", "survey")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "generator" / "bundled.py"
        for literal in _path_literals(path)
        if "fixtures" in literal
    ]
    assert offenders == [], "bundled models are found through generator.bundled.model_path"


def test_the_web_tier_offers_the_same_bundled_checkpoint() -> None:
    """The "Fill the pool" page lists the bundled model from settings (the web tier never imports the
    generator); both read GENERATOR_MODELS_DIR with the same default."""
    from survey.jobs import BUNDLED_CHECKPOINT

    assert BUNDLED_CHECKPOINT == bundled.model_path("generator-demo64.safetensors")

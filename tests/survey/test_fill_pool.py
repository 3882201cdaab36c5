"""manage.py fill_pool: a generator checkpoint's portraits and latent averages enter the bank through the
same normalising pipeline as imported ones."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from survey.imaging import stored_path
from survey.models import Portrait
from tests.survey.factories import DisorderFactory, StudyFactory

torch = pytest.importorskip("torch")


@pytest.fixture
def tiny_checkpoint(tmp_path) -> tuple[Path, str]:
    from generator.nets.checkpoint import save_checkpoint
    from generator.nets.config import PRESETS
    from generator.nets.networks import Generator

    torch.manual_seed(0)
    config = PRESETS["tiny"]
    net = Generator(config)
    disorders = ["alpha", "beta", "unaffected"][: config.num_classes]
    path = tmp_path / "tiny.safetensors"
    checkpoint_id = save_checkpoint(
        path,
        kind="generator",
        config=config.to_json(),
        disorders=disorders,
        provenance={"purpose": "test"},
        tensors={f"G_ema.{k}": v for k, v in net.state_dict().items()},
    )
    return path, checkpoint_id


@pytest.fixture
def study(db, image_bank_root):
    return StudyFactory(slug="gen", disorders=[DisorderFactory(code="alpha"), DisorderFactory(code="beta")])


def test_it_adds_normalised_synthetic_portraits_and_latent_averages(study, tiny_checkpoint, image_bank_root):
    path, checkpoint_id = tiny_checkpoint
    out = io.StringIO()
    call_command("fill_pool", "gen", checkpoint=str(path), per_disorder=3, latent_samples=64, stdout=out)
    synthetic = Portrait.objects.filter(study=study, kind="synthetic")
    averages = Portrait.objects.filter(study=study, kind="latent_average")
    assert synthetic.count() == 6 and averages.count() == 2
    assert set(synthetic.values_list("seed", flat=True)) == {0, 1, 2}
    assert set(Portrait.objects.values_list("checkpoint_id", flat=True)) == {checkpoint_id}
    assert set(synthetic.values_list("truncation", flat=True)) == {0.7}
    for portrait in Portrait.objects.all():
        image = Image.open(stored_path(image_bank_root, portrait.content_hash))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (256, 256))


def test_a_disorder_the_model_never_learned_is_a_clear_error(db, tiny_checkpoint, image_bank_root):
    StudyFactory(slug="other", disorders=[DisorderFactory(code="alpha"), DisorderFactory(code="zeta")])
    with pytest.raises(CommandError, match="not trained on zeta"):
        call_command("fill_pool", "other", checkpoint=str(tiny_checkpoint[0]), per_disorder=1, latent_samples=8)
    assert not Portrait.objects.exists()


def test_a_corrupt_checkpoint_is_a_clear_error(study, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CommandError, match="Cannot load"):
        call_command("fill_pool", "gen", checkpoint=str(broken), per_disorder=1)


def test_the_web_process_does_not_import_torch():
    """Loading every URL, view, API and admin module, and the background jobs' module that the web process
    enqueues with, must not pull torch in (the generator is imported inside the task's body only)."""
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings_test'; django.setup(); "
        "import config.urls, survey.admin, survey.api.urls, survey.views, survey.dashboard, "
        "survey.staff_views, survey.jobs, survey.tasks; "
        "survey.jobs.checkpoint_choices(); "
        "from django.urls import get_resolver; get_resolver().url_patterns; "
        "sys.exit(1 if 'torch' in sys.modules or 'generator' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


@pytest.fixture
def phantom_tiny_checkpoint(tmp_path) -> Path:
    """An untrained generator whose classes are phantom disorders: the bundled gates judge it, and
    its random images are no faces."""
    from generator.nets.checkpoint import save_checkpoint
    from generator.nets.config import PRESETS
    from generator.nets.networks import Generator

    torch.manual_seed(0)
    config = PRESETS["tiny"]
    path = tmp_path / "phantom-tiny.safetensors"
    save_checkpoint(
        path,
        kind="generator",
        config=config.to_json(),
        disorders=["quellan", "velmar", "unaffected"],
        provenance={"purpose": "test"},
        tensors={f"G_ema.{k}": v for k, v in Generator(config).state_dict().items()},
    )
    return path


@pytest.fixture
def phantom_study(db, image_bank_root):
    return StudyFactory(slug="ph", disorders=[DisorderFactory(code="quellan"), DisorderFactory(code="velmar")])


def test_it_keeps_portraits_that_fail_the_gates_out_and_says_why(phantom_study, phantom_tiny_checkpoint):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "fill_pool",
        "ph",
        checkpoint=str(phantom_tiny_checkpoint),
        per_disorder=2,
        latent_samples=16,
        max_tries_factor=3,
        stdout=out,
        stderr=err,
    )
    text = out.getvalue()
    assert not Portrait.objects.filter(study=phantom_study, kind="synthetic").exists()
    assert Portrait.objects.filter(study=phantom_study, kind="latent_average").count() == 2
    assert "face gate: phantom face check" in text
    assert "quellan: 0 synthetic portraits and a latent average; rejected 6 of 6 generated" in text
    assert "no face (detector confidence below threshold): 6" in text
    assert "only 0 of 2 passed within 6 seeds" in err.getvalue()


def test_skipping_the_gates_adds_every_portrait(phantom_study, phantom_tiny_checkpoint):
    out = io.StringIO()
    call_command(
        "fill_pool",
        "ph",
        checkpoint=str(phantom_tiny_checkpoint),
        per_disorder=2,
        latent_samples=16,
        skip_gates="all",
        stdout=out,
    )
    assert Portrait.objects.filter(study=phantom_study, kind="synthetic").count() == 4
    assert "rejected 0 of 2 generated" in out.getvalue() and "face gate: off" in out.getvalue()


def test_a_missing_classifier_file_is_a_clear_error(phantom_study, phantom_tiny_checkpoint, tmp_path):
    with pytest.raises(CommandError, match="Cannot set up the gates"):
        call_command(
            "fill_pool",
            "ph",
            checkpoint=str(phantom_tiny_checkpoint),
            per_disorder=1,
            classifier=str(tmp_path / "nope.safetensors"),
        )
    assert not Portrait.objects.exists()


def _add_real_portraits(study, levels: list[int]) -> None:
    from survey.image_bank import portrait_add

    for i, level in enumerate(levels):
        image = Image.new("RGB", (64, 64), (level, level, level))
        image.putpixel((i % 64, 0), (0, 0, 0))  # distinct content, one pixel off the centre
        portrait_add(study=study, image=image, kind="real", disorder_code="alpha", used_in_training=False)


def test_it_reports_the_pools_brightness_beside_the_real_banks(study, tiny_checkpoint, image_bank_root):
    _add_real_portraits(study, [40, 80, 120, 160, 200, 240])
    out = io.StringIO()
    call_command("fill_pool", "gen", checkpoint=str(tiny_checkpoint[0]), per_disorder=3, latent_samples=16, stdout=out)
    text = out.getvalue()
    assert "real bank, 6 portraits: luma min 40.0" in text and "max 240.0" in text
    assert "synthetic added now, 6 portraits: luma" in text
    assert "synthetic per quartile of the real bank, darkest" in text


class _FailsDarkPortraits:
    name = "fails-dark"

    def confidence(self, images):
        return (images.mean(dim=(1, 2, 3)) > images.mean()).float()  # the darker half fails


def test_it_warns_loudly_when_the_face_gate_fails_dark_portraits(study, tiny_checkpoint, monkeypatch):
    from generator import api
    from generator.gates.pipeline import GateSet

    monkeypatch.setattr(
        api,
        "load_gates",
        lambda model, **kw: (GateSet(face=_FailsDarkPortraits(), face_threshold=0.5), ["face gate: a stand-in"]),
    )
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "fill_pool",
        "gen",
        checkpoint=str(tiny_checkpoint[0]),
        per_disorder=24,  # enough portraits per quartile for the bias to be beyond chance
        latent_samples=16,
        batch=16,
        stdout=out,
        stderr=err,
    )
    assert "face gate pass rate by brightness quartile" in out.getvalue()
    assert "WARNING: face gate pass rate by brightness quartile" in err.getvalue()
    assert "BIASED BY BRIGHTNESS" in err.getvalue()


def test_its_gate_defaults_are_the_settings_object(study, tiny_checkpoint, monkeypatch):
    from generator import api
    from generator.gates.settings import DEFAULTS, GateSettings

    seen = {}
    real_load_gates = api.load_gates

    def spy(model, **kwargs):
        seen.update(kwargs)
        return real_load_gates(model, **kwargs)

    monkeypatch.setattr(api, "load_gates", spy)
    call_command(
        "fill_pool", "gen", checkpoint=str(tiny_checkpoint[0]), per_disorder=1, latent_samples=8, stdout=io.StringIO()
    )
    assert seen["settings"] == DEFAULTS
    call_command(
        "fill_pool",
        "gen",
        checkpoint=str(tiny_checkpoint[0]),
        per_disorder=1,
        latent_samples=8,
        top_k=2,
        stdout=io.StringIO(),
    )
    assert seen["settings"] == GateSettings(top_k=2)
    with pytest.raises(CommandError, match="Bad gate setting: face threshold"):
        call_command("fill_pool", "gen", checkpoint=str(tiny_checkpoint[0]), per_disorder=1, face_threshold=2.0)

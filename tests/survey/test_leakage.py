"""The leak audit: what the browser receives must not tell real from synthetic."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from survey.image_bank import portrait_add
from survey.imaging import stored_path
from survey.management.commands._leakage import audit_study
from tests.survey.factories import DisorderFactory, StudyFactory


@pytest.fixture
def bank_study(db, image_bank_root):
    disorder = DisorderFactory(code="velmar")
    study = StudyFactory(slug="audit", disorders=[disorder])
    rng = np.random.default_rng(7)
    for kind, used, n in [("real", True, 12), ("synthetic", None, 12), ("latent_average", None, 2)]:
        for _ in range(n):
            # Same texture statistics for every kind, so only a pipeline fault could separate them.
            image = Image.fromarray(rng.integers(60, 200, (80, 80, 3), dtype=np.uint8))
            portrait_add(study=study, image=image, kind=kind, disorder_code="velmar", used_in_training=used)
    return study


def test_a_clean_bank_shows_no_difference(bank_study):
    report = audit_study(bank_study)
    assert report.counts == {"real": 12, "synthetic": 12, "latent_average": 2}
    assert report.differences == [] and report.clean
    assert report.byte_size_test["p_value"] > 0.05


def test_the_command_reports_a_clean_bank(bank_study):
    out = io.StringIO()
    call_command("audit_leakage", "audit", stdout=out)
    assert "No difference between kinds" in out.getvalue()


def test_it_catches_an_image_that_bypassed_the_pipeline(bank_study, image_bank_root):
    planted = bank_study.portraits.filter(kind="synthetic").first()
    exif = Image.Exif()
    exif[0x010F] = "GeneratorCam"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (90, 90, 90)).save(buffer, "PNG", exif=exif.tobytes())
    stored_path(image_bank_root, planted.content_hash).write_bytes(buffer.getvalue())
    report = audit_study(bank_study)
    joined = "\n".join(report.differences)
    assert "width differs" in joined and "format differs" in joined
    assert "carry metadata" in joined
    with pytest.raises(CommandError):
        call_command("audit_leakage", "audit", stdout=io.StringIO())


@pytest.fixture
def revealing_sizes(db, image_bank_root):
    """Real portraits that compress badly, synthetic ones that compress well."""
    study = StudyFactory(slug="sizes", disorders=[DisorderFactory(code="velmar")])
    rng = np.random.default_rng(3)
    for _ in range(15):
        noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))  # large JPEGs
        portrait_add(study=study, image=noisy, kind="real", disorder_code="velmar", used_in_training=True)
        flat = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(0, 256, 3)))  # tiny JPEGs
        portrait_add(study=study, image=flat, kind="synthetic", disorder_code="velmar")
    return study


def test_it_catches_byte_sizes_that_give_the_kind_away(revealing_sizes, settings):
    settings.SURVEY_IMAGE_PAD_BYTES = 0
    report = audit_study(revealing_sizes)
    assert report.byte_size_test["p_value"] < 0.001
    assert any("byte sizes" in line for line in report.differences)


def test_padding_makes_every_delivered_image_the_same_size(revealing_sizes, settings):
    settings.SURVEY_IMAGE_PAD_BYTES = 65536
    report = audit_study(revealing_sizes)
    assert {s["min"] for s in report.byte_sizes.values()} == {65536}
    assert {s["max"] for s in report.byte_sizes.values()} == {65536}
    assert report.clean


def test_padding_changes_no_pixel(image_bank_root):
    from survey.delivery import padded

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    original = buffer.getvalue()
    grown = padded(original, 4096)
    assert len(grown) == 4096 and grown.startswith(original)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(grown))), np.asarray(Image.open(io.BytesIO(original))))
    assert Image.open(io.BytesIO(grown)).info == Image.open(io.BytesIO(original)).info


# --- pixel statistics: reported as a warning beside the byte-level checks, never a failure ---------


@pytest.fixture
def blurry_synthetic(db, image_bank_root):
    """Crisp 'real' phantoms, blurred 'synthetic' ones: the pixels give the kind away, the bytes do not."""
    from PIL import ImageFilter

    import phantoms

    study = StudyFactory(slug="blurry", disorders=[DisorderFactory(code="velmar")])
    for i in range(12):
        portrait_add(
            study=study,
            image=phantoms.render_portrait("velmar", i, 64),
            kind="real",
            disorder_code="velmar",
            used_in_training=True,
        )
        blurred = phantoms.render_portrait("velmar", 1000 + i, 64).filter(ImageFilter.GaussianBlur(2))
        portrait_add(study=study, image=blurred, kind="synthetic", disorder_code="velmar")
    return study


def test_the_audit_measures_the_pixels_as_a_warning(blurry_synthetic, settings):
    settings.SURVEY_IMAGE_PAD_BYTES = 65536
    report = audit_study(blurry_synthetic)
    assert report.clean  # the pixels are the study's subject: no difference, whatever they give away
    assert report.realism["auc"] > 0.95 and report.realism["n_real"] == report.realism["n_synthetic"] == 12
    assert any("leave-one-out AUC" in line for line in report.warnings)
    out = io.StringIO()
    call_command("audit_leakage", "blurry", stdout=out)  # does not raise
    text = out.getvalue()
    assert "WARNING (pixels; not a failure)" in text, text
    assert f"leave-one-out AUC {report.realism['auc']:.3f}" in text
    assert "laplacian_variance" in text and "No difference between kinds" in text


def test_the_audit_can_skip_the_pixels(blurry_synthetic):
    report = audit_study(blurry_synthetic, with_pixels=False)
    assert report.realism is None and report.warnings == []
    out = io.StringIO()
    call_command("audit_leakage", "blurry", "--no-pixels", "--json", stdout=out)
    assert '"realism": null' in out.getvalue()


def test_a_bank_too_small_for_the_pixel_measure_says_so(bank_study):
    bank_study.portraits.filter(kind="synthetic").exclude(
        pk=bank_study.portraits.filter(kind="synthetic").first().pk
    ).delete()
    report = audit_study(bank_study)
    assert report.realism is None and "not measured" in report.warnings[0]


def test_importing_the_leak_audit_loads_neither_torch_nor_the_generator():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings_test'); "
        "django.setup(); import survey.management.commands._leakage, sys; "
        "assert not {'torch', 'generator'} & set(sys.modules), sorted({'torch', 'generator'} & set(sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# --- padding to the study's own length (the default) ---------------------------------------------------


def _delivered_sizes(study) -> set[int]:
    report = audit_study(study, with_pixels=False)
    assert report.clean, report.differences
    return {s["min"] for s in report.byte_sizes.values()} | {s["max"] for s in report.byte_sizes.values()}


def test_by_default_every_portrait_of_a_study_is_padded_to_its_largest(revealing_sizes, settings):
    from survey.delivery import PAD_GRANULE

    settings.SURVEY_IMAGE_PAD_BYTES = None  # "auto", the default
    largest = max(revealing_sizes.portraits.values_list("byte_size", flat=True))
    sizes = _delivered_sizes(revealing_sizes)
    assert len(sizes) == 1  # one length for every kind: the size says nothing
    (size,) = sizes
    assert largest <= size < largest + PAD_GRANULE and size % PAD_GRANULE == 0
    assert size < 65536  # less than the fixed 64 KiB block every portrait used to take


def test_the_freeze_stores_the_length_and_later_portraits_do_not_change_it(study, settings):
    from survey.delivery import bank_pad_bytes, pad_block, padded_length
    from survey.models import Portrait
    from survey.services import study_bank_freeze

    settings.SURVEY_IMAGE_PAD_BYTES = None
    assert study.image_pad_bytes is None
    Portrait.objects.filter(pk=study.portraits.first().pk).update(byte_size=3000)  # the bank's largest
    study = study_bank_freeze(study=study)
    assert study.image_pad_bytes == 3072 == bank_pad_bytes(study) == pad_block(study)
    later = study.portraits.first()  # a larger portrait added after the freeze (it gets no role)
    Portrait.objects.create(
        study=study,
        disorder=later.disorder,
        kind="synthetic",
        content_hash="f" * 64,
        width=256,
        height=256,
        byte_size=7000,
    )
    study.refresh_from_db()
    assert study.image_pad_bytes == 3072 and bank_pad_bytes(study) == 7168
    assert padded_length(7000, pad_block(study)) == 3 * 3072  # a multiple of the study's length
    settings.SURVEY_IMAGE_PAD_BYTES = 65536  # a fixed block, as a deployment may still choose
    assert pad_block(study) == 65536
    settings.SURVEY_IMAGE_PAD_BYTES = 0
    assert pad_block(study) == 0 and padded_length(7000, 0) == 7000


def test_a_streamed_image_is_its_stored_bytes_then_zeros(bank_study, settings):
    from survey.delivery import image_response, pad_block

    settings.SURVEY_IMAGE_PAD_BYTES = None
    portrait = bank_study.portraits.first()
    response = image_response(portrait.content_hash, pad_to=pad_block(bank_study))
    body = b"".join(response.streaming_content)
    stored = stored_path(settings.IMAGE_BANK_ROOT, portrait.content_hash).read_bytes()
    assert len(body) == int(response["Content-Length"]) == pad_block(bank_study)
    assert body.startswith(stored) and set(body[len(stored) :]) == {0}
    assert "Content-Disposition" not in response

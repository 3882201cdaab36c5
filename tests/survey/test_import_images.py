"""manage.py import_images: everything validated before anything is written; one pipeline for all."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from survey.imaging import stored_path
from survey.models import Portrait
from tests.survey.factories import DisorderFactory, StudyFactory

HEADER = "filename,disorder,kind,used_in_training,source\n"


@pytest.fixture
def study(db, image_bank_root):
    return StudyFactory(slug="pilot", disorders=[DisorderFactory(code="velmar"), DisorderFactory(code="ostrin")])


def noise(seed: int, size=(300, 200), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


def write(folder: Path, name: str, image: Image.Image, **save) -> None:
    image.save(folder / name, **save)


def run(folder: Path, manifest_text: str) -> str:
    (folder / "manifest.csv").write_text(manifest_text)
    out = io.StringIO()
    call_command("import_images", str(folder), manifest=str(folder / "manifest.csv"), study="pilot", stdout=out)
    return out.getvalue()


def test_it_imports_a_valid_folder(tmp_path, study, image_bank_root):
    write(tmp_path, "a.png", noise(1))
    write(tmp_path, "b.jpg", noise(2), quality=95)
    output = run(tmp_path, HEADER + "a.png,velmar,real,1,clinic A\nb.jpg,ostrin,real,0,clinic B\n")
    assert "Imported 2" in output
    a = Portrait.objects.get(original_name="a.png")
    assert (a.kind, a.disorder.code, a.used_in_training, a.source) == ("real", "velmar", True, "clinic A")
    assert stored_path(image_bank_root, a.content_hash).is_file()


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (HEADER + "a.png,velmar,real,1,x\nb.png,nosuch,real,1,x\n", "line 3 (b.png): disorder 'nosuch'"),
        (HEADER + "a.png,velmar,real,1,x\nmissing.png,velmar,real,1,x\n", "line 3 (missing.png): cannot be read"),
        (HEADER + "a.png,velmar,real,1,x\nbroken.png,velmar,real,1,x\n", "line 3 (broken.png): not a readable image"),
        (HEADER + "a.png,velmar,real,1,x\ncopy.png,velmar,real,0,x\n", "line 3 (copy.png): same content as line 2"),
        (HEADER + "a.png,velmar,portrait,1,x\n", "line 2 (a.png): kind 'portrait'"),
        (HEADER + "a.png,velmar,real,,x\n", "line 2 (a.png): a real portrait needs used_in_training"),
        ("filename,kind\na.png,real\n", "line 1: missing column(s) disorder"),
        (HEADER + "../outside.png,velmar,real,1,x\n", "must lie inside"),
    ],
)
def test_it_rejects_bad_input_naming_file_and_line_and_imports_nothing(
    tmp_path, study, image_bank_root, manifest, expected
):
    write(tmp_path, "a.png", noise(1))
    write(tmp_path, "copy.png", noise(1))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(CommandError) as refused:
        run(tmp_path, manifest)
    assert expected in str(refused.value)
    assert "nothing imported" in str(refused.value)
    assert not Portrait.objects.exists()
    assert not image_bank_root.exists() or not any(image_bank_root.rglob("*.jpg"))


def test_a_truncated_image_is_rejected(tmp_path, study):
    write(tmp_path, "full.jpg", noise(3), quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(CommandError, match=r"line 2 \(cut.jpg\)"):
        run(tmp_path, HEADER + "cut.jpg,velmar,real,1,x\n")


def test_it_lists_every_problem_at_once(tmp_path, study):
    write(tmp_path, "a.png", noise(1))
    with pytest.raises(CommandError) as refused:
        run(tmp_path, HEADER + "a.png,nosuch,real,1,x\nb.png,velmar,real,1,x\n")
    assert "line 2" in str(refused.value) and "line 3" in str(refused.value)


def test_a_portrait_already_in_the_bank_is_a_duplicate(tmp_path, study):
    write(tmp_path, "a.png", noise(1))
    run(tmp_path, HEADER + "a.png,velmar,real,1,x\n")
    with pytest.raises(CommandError, match="already in study 'pilot'"):
        run(tmp_path, HEADER + "a.png,velmar,real,1,x\n")


def test_every_image_leaves_the_pipeline_the_same_shape_without_metadata(tmp_path, study, image_bank_root):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° on display
    exif[0x010F] = "CameraMaker"
    write(tmp_path, "exif.jpg", noise(4, size=(400, 300)), exif=exif.tobytes(), quality=80)
    write(tmp_path, "grey.png", noise(5, size=(128, 128), mode="L"))
    write(tmp_path, "alpha.png", noise(6, size=(90, 160), mode="RGBA"))
    write(tmp_path, "palette.gif", noise(7, size=(64, 64), mode="P"))
    run(
        tmp_path,
        HEADER + "exif.jpg,velmar,real,1,x\ngrey.png,velmar,synthetic,,x\nalpha.png,ostrin,real,0,x\n"
        "palette.gif,ostrin,latent_average,,x\n",
    )
    for portrait in Portrait.objects.all():
        data = stored_path(image_bank_root, portrait.content_hash).read_bytes()
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (256, 256))
        assert not image.getexif() and "icc_profile" not in image.info and "exif" not in image.info
        assert portrait.byte_size == len(data)


def test_exif_orientation_is_applied_before_cropping(tmp_path, study, image_bank_root):
    # A landscape picture whose EXIF says "rotate 90°": upright, its left half is dark and its right bright
    # only after rotation, so the stored square must show the rotated content.
    pixels = np.zeros((200, 400, 3), dtype=np.uint8)
    pixels[:100, :, :] = 255  # top half white before rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    run(tmp_path, HEADER + "turned.jpg,velmar,real,1,x\n")
    stored = Image.open(stored_path(image_bank_root, Portrait.objects.get().content_hash)).convert("L")
    left, right = np.asarray(stored)[:, :100].mean(), np.asarray(stored)[:, -100:].mean()
    assert right > 200 and left < 55  # rotated 90° clockwise: the white top is now on the right


def test_an_unknown_study_is_a_clear_error(tmp_path, db):
    (tmp_path / "manifest.csv").write_text(HEADER)
    with pytest.raises(CommandError, match="No study with slug 'pilot'"):
        call_command("import_images", str(tmp_path), manifest=str(tmp_path / "manifest.csv"), study="pilot")

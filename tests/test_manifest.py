"""One reading of a manifest's training flag: a manifest the survey imports is one the generator's
trainer and privacy gate read the same way (the survey and the generator both call `manifest`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from manifest import parse_training_flag
from survey.image_bank import ImportRejected, manifest_read

SPELLINGS = [
    ("1", True),
    ("yes", True),
    ("True", True),
    (" YES ", True),
    ("0", False),
    ("no", False),
    ("false", False),
    ("No", False),
]


@pytest.mark.parametrize(("cell", "expected"), SPELLINGS)
def test_it_reads_every_spelling_of_the_flag(cell: str, expected: bool) -> None:
    assert parse_training_flag(cell) is expected


@pytest.mark.parametrize("cell", ["2", "y", "maybe", "ja"])
def test_it_refuses_anything_else_saying_what_it_accepts(cell: str) -> None:
    with pytest.raises(ValueError, match="is not 1/0, true/false or yes/no"):
        parse_training_flag(cell)


def _folder(tmp_path: Path, cells: list[str]) -> Path:
    lines = ["filename,disorder,kind,used_in_training"]
    for number, cell in enumerate(cells):
        name = f"p{number}.png"
        Image.new("RGB", (16, 16), (40 * number % 255, 90, 120)).save(tmp_path / name)
        lines.append(f"{name},{'alpha' if number % 2 else 'beta'},real,{cell}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_the_survey_and_the_generator_agree_on_which_portraits_were_trained_on(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from generator.training.data import load_image_set

    cells = [cell for cell, _ in SPELLINGS]
    folder = _folder(tmp_path, cells)
    survey_says = {row.filename for row in manifest_read(folder / "manifest.csv") if row.used_in_training}
    trained = load_image_set(folder, resolution=16, training_only=True)
    assert set(trained.individuals) == survey_says
    assert len(survey_says) == sum(expected for _, expected in SPELLINGS)
    assert isinstance(trained.images, torch.Tensor)


def test_both_refuse_the_same_bad_cell_naming_its_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from generator.training.data import load_image_set

    folder = _folder(tmp_path, ["1", "maybe", "0"])
    with pytest.raises(ImportRejected, match=r"line 3 .*'maybe' is not 1/0"):
        manifest_read(folder / "manifest.csv")
    with pytest.raises(ValueError, match=r"line 3: used_in_training 'maybe' is not 1/0"):
        load_image_set(folder, resolution=16, training_only=True)

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import phantoms
from phantoms.dataset import MANIFEST_COLUMNS


def test_it_writes_pngs_and_a_manifest(tmp_path: Path) -> None:
    manifest = phantoms.write_dataset(tmp_path, per_class=2, size=32, first_individual=4)
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == MANIFEST_COLUMNS
    assert len(rows) == 2 * (len(phantoms.DISORDERS) + 1)
    assert {r["disorder"] for r in rows} == set(phantoms.class_codes())
    assert {r["kind"] for r in rows} == {"real"}
    assert {r["source"] for r in rows} == {"phantom-renderer"}
    # even individuals train, odd are held out
    assert [r["used_in_training"] for r in rows[:2]] == ["1", "0"]
    for r in rows:
        with Image.open(tmp_path / r["filename"]) as img:
            assert img.size == (32, 32) and img.mode == "RGB"


def test_the_cli_writes_a_dataset(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "phantoms", str(tmp_path), "--per-class", "1", "--size", "24"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "manifest.csv" in out.stdout
    assert (tmp_path / "manifest.csv").exists()


def test_it_renders_only_the_classes_asked_for_with_the_spread_asked_for(tmp_path: Path) -> None:
    manifest = phantoms.write_dataset(tmp_path / "broad", per_class=2, size=32, classes=["unaffected"], spread=2.5)
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["disorder"] for r in rows] == ["unaffected", "unaffected"]
    broad = Image.open(tmp_path / "broad" / rows[0]["filename"])
    assert broad.tobytes() == phantoms.render_portrait("unaffected", 0, 32, spread=2.5).tobytes()
    assert broad.tobytes() != phantoms.render_portrait("unaffected", 0, 32).tobytes()


def test_the_cli_names_an_unknown_class_and_writes_nothing(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "phantoms", str(tmp_path / "x"), "--classes", "unaffected,nosuch"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "nosuch" in out.stderr
    assert not (tmp_path / "x").exists()


def test_a_non_positive_spread_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="spread must be positive"):
        phantoms.write_dataset(tmp_path / "y", per_class=1, size=16, spread=0)
    assert not (tmp_path / "y").exists()

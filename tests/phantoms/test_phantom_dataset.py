import csv
import subprocess
import sys
from pathlib import Path

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

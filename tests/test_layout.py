"""The repository's shape a newcomer relies on: no source module too long to read in one sitting (which
package may import which: test_import_boundaries.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = ("survey", "generator", "analysis", "manifest", "phantoms", "config", "tools")
MODULE_MAX_LINES = 400


def _source_modules() -> list[Path]:
    return [
        path
        for package in SOURCE_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts  # written by makemigrations, read by no one
    ]


def test_no_source_module_is_over_the_limit() -> None:
    modules = _source_modules()
    assert len(modules) > 100  # the walk found the packages
    lengths = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules}
    assert {name: n for name, n in lengths.items() if n > MODULE_MAX_LINES} == {}

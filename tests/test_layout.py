"""The repository's shape a newcomer relies on: no source module too long to read in one sitting, and the
platform reaches the statistics only through its export (the generator's side is in
test_import_boundaries.py)."""

from __future__ import annotations

import ast
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


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_source_module_is_over_the_limit() -> None:
    modules = _source_modules()
    assert len(modules) > 100  # the walk found the packages
    lengths = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules}
    assert {name: n for name, n in lengths.items() if n > MODULE_MAX_LINES} == {}


def test_the_platform_reaches_the_statistics_only_through_its_export() -> None:
    """One survey module imports analysis, the dashboard, and what it gives analysis is the export."""
    importers = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "survey").rglob("*.py"))
        if any(name.split(".")[0] == "analysis" for name in _imported_modules(path))
    }
    assert importers == {"survey/dashboard.py"}
    dashboard = (ROOT / "survey" / "dashboard.py").read_text(encoding="utf-8")
    assert "analysis.load_export(answers)" in dashboard
    assert "answers = export.answers_frame(study)" in dashboard

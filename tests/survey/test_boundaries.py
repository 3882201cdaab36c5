"""Boundaries inside survey/: nothing outside the API (pages, admin, staff pages, jobs) imports it, and the API never imports the HTML forms;
what both need (who may see what, the profession list) lives in neutral modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SURVEY = Path(__file__).resolve().parents[2] / "survey"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def touches(modules: set[str], package: str) -> bool:
    return any(module == package or module.startswith(package + ".") for module in modules)


OUTSIDE_THE_API = sorted(path for path in SURVEY.rglob("*.py") if "api" not in path.relative_to(SURVEY).parts)


@pytest.mark.parametrize("path", OUTSIDE_THE_API, ids=lambda path: str(path.relative_to(SURVEY)))
def test_nothing_outside_the_api_imports_it(path):
    """The pages, the admin, the staff pages and the jobs reach the rules through survey/access.py and the
    services, never through the API's modules (config/urls.py mounts the API by name)."""
    assert not touches(imported_modules(path), "survey.api"), f"survey/{path.relative_to(SURVEY)} imports survey.api"


@pytest.mark.parametrize(
    "path", sorted((SURVEY / "api").rglob("*.py")), ids=lambda path: str(path.relative_to(SURVEY / "api"))
)
def test_the_api_does_not_import_the_html_forms(path):
    assert not touches(imported_modules(path), "survey.forms"), (
        f"survey/{path.relative_to(SURVEY)} imports survey.forms"
    )


def test_the_check_sees_an_import_of_the_api():
    """The checker itself: a module importing the API is caught, in either import form."""
    assert touches({"survey.api.auth", "survey.api.auth.studies_for"}, "survey.api")
    assert touches({"survey.api"}, "survey.api") and not touches({"survey.apiary"}, "survey.api")

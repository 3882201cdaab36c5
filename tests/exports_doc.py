"""docs/exports.md as the tests read it: the page the statisticians read is the exports' contract, so the
tests compare the code's tables with it (no Django here: the analysis tests use it too)."""

from __future__ import annotations

import re
from pathlib import Path

EXPORTS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "exports.md"


def documented_columns(table: str) -> list[str]:
    """The column names of one table of docs/exports.md, in the page's order (a row may name several)."""
    section = re.search(rf"^## `{table}`[^\n]*\n(.*?)(?=^## |\Z)", EXPORTS_PAGE.read_text(), flags=re.M | re.S)
    assert section, f"docs/exports.md has no section for {table!r}"
    rows = re.findall(r"^\| ([^|]+) \|", section.group(1), flags=re.M)
    return [name.strip("` ") for row in rows[1:] for name in row.split(",")]  # rows[0] is the header

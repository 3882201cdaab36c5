"""The error every reader and check of an export raises: :class:`ExportError`.

It lives apart from the readers (:mod:`analysis.export`, :mod:`analysis.options`,
:mod:`analysis.table_reader`) because the report and the summaries raise it too, when an
export that reads well still breaks the contract (two studies, an options file of
another export).
"""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(ValueError):
    """The export breaks the contract; the message names the column and the row.

    ``row`` is the 1-based data row (the header is not counted), so the offending
    line of the file is ``row + 1``.
    """

    def __init__(
        self, message: str, *, column: str | None = None, row: int | None = None, source: str | None = None
    ) -> None:
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row} (line {row + 1})")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.column = column
        self.row = row
        self.source = source

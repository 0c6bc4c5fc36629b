"""Catalog queries as tables a chapter can show: what the migrations made, read from PostgreSQL."""

from __future__ import annotations

import html

from .. import db


class Table:
    """Rows under named columns: an HTML table in Jupyter, aligned text elsewhere."""

    def __init__(self, columns: list[str], rows: list[tuple]):
        self.columns = columns
        self.rows = [tuple("" if value is None else str(value) for value in row) for row in rows]

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(name)}</th>" for name in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(v)}</code></td>" for v in row) + "</tr>"
            for row in self.rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        widths = [max(len(text) for text in column) for column in zip(self.columns, *self.rows, strict=True)]
        lines = [self.columns, ["-" * width for width in widths], *self.rows]
        return "\n".join(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in lines
        )


def table(sql: str, params=None) -> Table:
    """Run a query as the superuser and return its result as a Table (order it in the SQL)."""
    with db.connect() as conn:
        cursor = conn.execute(sql, params)
        return Table([column.name for column in cursor.description], cursor.fetchall())

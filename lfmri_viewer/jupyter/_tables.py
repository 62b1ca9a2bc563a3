"""Tables of strings as HTML for ``ipywidgets.HTML`` (the strings come from
:mod:`lfmri_viewer.formatting`, so they match the napari tables character for character)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

_STYLE = (
    "<style>"
    "table.lfmri-table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}"
    "table.lfmri-table th,table.lfmri-table td{padding:2px 8px;border-bottom:1px solid #ccc;text-align:right}"
    "table.lfmri-table th:first-child,table.lfmri-table td:first-child{text-align:left}"
    "</style>"
)


def html_table(columns: Sequence[str], rows: Sequence[Mapping[str, str]], *, css_class: str, empty: str) -> str:
    """An HTML table with one header row and one row per mapping (cells looked up by column).

    Each cell carries ``data-column`` (its column name) so a page can be queried by column;
    with no rows, one cell spanning the table says ``empty``.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    if rows:
        body = "".join(
            "<tr>" + "".join(f'<td data-column="{html.escape(c, quote=True)}">{html.escape(row.get(c, ""))}</td>'
                             for c in columns) + "</tr>"
            for row in rows
        )
    else:
        body = f'<tr><td colspan="{len(columns)}"><i>{html.escape(empty)}</i></td></tr>'
    classes = f"lfmri-table {html.escape(css_class, quote=True)}"
    return f'{_STYLE}<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


__all__ = ["html_table"]

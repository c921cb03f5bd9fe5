"""Writing report sections out as a self-contained HTML page and as Markdown.

A report is a list of :class:`ReportSection`; both renderers walk the same list, so the two files carry the
same text, figures and tables. Tables are formatted for reading (shares in %, thousands separated, times to
the minute).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

_PERCENT_COLUMNS = frozenset(
    {
        "completeness",
        "share_imputed",
        "share_missing",
        "validity",
        "consistency",
        "share",
        "recall",
        "precision",
    }
)


@dataclass(frozen=True)
class ReportTable:
    """A table of the report: a caption and a frame, formatted for reading."""

    caption: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class ReportSection:
    """A section of the report: a title, a paragraph, at most one plot (a file under ``plots/``), tables."""

    title: str
    text: str
    plot: str | None = None
    plot_caption: str = ""
    tables: tuple[ReportTable, ...] = field(default_factory=tuple)


def format_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as text for reading: shares in %, floats to 4 significant digits, times to the minute."""
    columns = {col: frame[col].map(_cell_formatter(str(col), frame[col])) for col in frame.columns}
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns).reset_index(drop=True)


def _cell_formatter(name: str, values: pd.Series) -> Callable[[Any], str]:
    if name in _PERCENT_COLUMNS:
        return fmt_pct
    if pd.api.types.is_bool_dtype(values):
        return lambda v: "yes" if v else "no"
    if pd.api.types.is_datetime64_any_dtype(values):
        return lambda v: "–" if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M")
    if pd.api.types.is_integer_dtype(values):
        return fmt_int
    if pd.api.types.is_float_dtype(values):
        return lambda v: "–" if pd.isna(v) else f"{v:.4g}"
    return lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def fmt_pct(value: Any) -> str:
    """A share as a percentage with one decimal, ``–`` when unknown."""
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.1f} %"


def fmt_int(value: Any) -> str:
    """A count with thousands separated, ``–`` when unknown."""
    return "–" if value is None or pd.isna(value) else f"{int(value):,}"


def _is_numeric_text(values: Sequence[str]) -> bool:
    cells = [v for v in values if v != "–"]
    return bool(cells) and all(
        v.replace(",", "").replace(" %", "").replace(".", "").lstrip("-").isdigit() for v in cells
    )


def render_html(
    title: str, intro: Sequence[str], sections: Sequence[ReportSection], images: dict[str, bytes]
) -> str:
    """The report as one self-contained HTML page; plots are embedded as base64 PNG.

    Args:
        title: the page heading.
        intro: the bullets of "How to read this report".
        sections: the content.
        images: PNG bytes by plot file name, for every ``section.plot``.
    """
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<section><h2>How to read this report</h2><ul>",
        *(f"<li>{html.escape(item)}</li>" for item in intro),
        "</ul></section>",
    ]
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2><p>{html.escape(section.text)}</p>")
        if section.plot is not None:
            encoded = base64.b64encode(images[section.plot]).decode("ascii")
            caption = html.escape(section.plot_caption or section.title)
            parts.append(
                f'<figure><img src="data:image/png;base64,{encoded}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        parts.extend(_html_table(table) for table in section.tables)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_table(table: ReportTable) -> str:
    text = format_table(table.frame)
    numeric = {c: _is_numeric_text(list(text[c])) for c in text.columns}
    head = "".join(f"<th{_num_class(numeric[c])}>{html.escape(str(c))}</th>" for c in text.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td{_num_class(numeric[c])}>{html.escape(row[c])}</td>" for c in text.columns)
        + "</tr>"
        for _, row in text.iterrows()
    )
    if text.empty:
        body = f'<tr><td colspan="{max(1, len(text.columns))}">none</td></tr>'
    return (
        f"<table><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _num_class(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def render_markdown(title: str, intro: Sequence[str], sections: Sequence[ReportSection]) -> str:
    """The report as Markdown; plots are linked as ``plots/<name>.png`` next to the file."""
    lines = [f"# {title}", "", "## How to read this report", "", *(f"- {item}" for item in intro), ""]
    for section in sections:
        lines += [f"## {section.title}", "", section.text, ""]
        if section.plot is not None:
            lines += [f"![{section.plot_caption or section.title}](plots/{section.plot})", ""]
        for table in section.tables:
            lines += [f"**{table.caption}**", "", *_markdown_table(table.frame), ""]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    text = format_table(frame)
    if text.empty:
        return ["_none_"]

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    rule = ["---:" if _is_numeric_text(list(text[c])) else "---" for c in text.columns]
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in text.itertuples(index=False)]
    return ["| " + " | ".join(cell(c) for c in text.columns) + " |", "| " + " | ".join(rule) + " |", *rows]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #1f77b4;padding-bottom:.2em}h2{margin-top:2em;color:#1f3f66}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f3f6fa}
td.num,th.num{text-align:right}
tr:nth-child(even) td{background:#fafafa}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#666;font-size:.85em}
"""

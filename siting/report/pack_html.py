"""HTML building blocks of the printed packs: the page style, escaped tables, images and legends.

Every text from data is escaped with :func:`html.escape`; images are inlined (``data:`` URLs), so a pack is
one self-contained file that prints the same without the internet.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from siting.report.figures import LEGEND

FONTS = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
    '"Microsoft YaHei", "PingFang SC", sans-serif'
)

STYLE = f"""
@page {{ size: A4; margin: 11mm 11mm 12mm 11mm; }}
* {{ box-sizing: border-box; }}
body {{ font-family: {FONTS}; font-size: 8.6pt; color: #111; margin: 0; line-height: 1.28; }}
section.page {{ page-break-after: always; break-after: page; }}
section.page.one {{ height: 273mm; overflow: hidden; }}
section.page:last-child {{ page-break-after: auto; break-after: auto; }}
section.block {{ break-inside: avoid-page; margin-bottom: 5mm; }}
header .run {{ color: #555; font-size: 7.8pt; }}
h1 {{ font-size: 13.5pt; margin: 1mm 0 1.5mm; }}
h2 {{ font-size: 10pt; margin: 3mm 0 1mm; border-bottom: 0.3mm solid #999; }}
h3 {{ font-size: 9pt; margin: 2mm 0 1mm; }}
.decision {{ font-weight: bold; padding: 1mm 2mm; margin-bottom: 2mm; }}
.decision.chosen {{ background: #d9f2e8; }}
.decision.not {{ background: #eeeeee; }}
.cols {{ display: flex; gap: 4mm; align-items: flex-start; }}
.cols > .map {{ flex: 0 0 80mm; margin: 0; }}
.cols > .side {{ flex: 1 1 auto; min-width: 0; }}
.map img {{ width: 80mm; height: 80mm; display: block; border: 0.2mm solid #999; }}
.small img {{ width: 62mm; height: 62mm; }}
.small {{ flex-basis: 62mm !important; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 1.5mm; }}
th, td {{ border: 0.2mm solid #bbb; padding: 0.5mm 1.2mm; vertical-align: top; text-align: left; }}
th {{ background: #f2f2f2; font-weight: 600; }}
table.facts th {{ width: 31%; }}
td.n, th.n {{ text-align: right; white-space: nowrap; }}
.legend {{ font-size: 7.2pt; color: #333; margin-top: 1mm; }}
.legend span.sw {{ display: inline-block; width: 3mm; height: 3mm; margin: 0 1mm 0 2mm;
  vertical-align: middle; border: 0.2mm solid #555; }}
.note {{ color: #444; font-size: 7.6pt; }}
.mono {{ font-family: "DejaVu Sans Mono", monospace; font-size: 0.92em; }}
section.block table {{ font-size: 7.6pt; }}
section.block td, section.block th {{ padding: 0.3mm 1mm; }}
section.block td:nth-child(-n+2) {{ white-space: nowrap; }}
.index {{ column-count: 2; column-gap: 5mm; font-size: 7.2pt; }}
.ix {{ break-inside: avoid; border-bottom: 0.1mm solid #ddd; padding: 0.2mm 0; }}
"""


def esc(value: Any) -> str:
    """Escape a value from data for HTML (``–`` for None)."""
    return "–" if value is None else html.escape(str(value), quote=True)


def document(title: str, sections: Iterable[str], *, lang: str = "zh-Hans") -> str:
    """Return a full HTML page: the pack style and the given ``<section>`` elements."""
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def facts_table(rows: Sequence[tuple[str, str]], *, cls: str = "facts") -> str:
    """Return a two-column label/value table (every cell escaped)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Sequence[bool] = ()) -> str:
    """Return a table with a header row; cells marked ``numeric`` are right-aligned (cells escaped)."""
    num = list(numeric) + [False] * (len(header) - len(numeric))
    head = "".join(f'<th class="{"n" if n else ""}">{esc(h)}</th>' for h, n in zip(header, num, strict=True))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if n else ""}">{esc(c)}</td>' for c, n in zip(row, num, strict=True))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(png: bytes, *, alt: str) -> str:
    """Return an ``<img>`` with the PNG inlined."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def legend(keys: Iterable[str], *, extra: Mapping[str, str] | None = None) -> str:
    """Return the bilingual legend of the static map entries ``keys`` (see :data:`figures.LEGEND`)."""
    parts = []
    for key in keys:
        colour, zh, en = LEGEND[key]
        parts.append(f'<span class="sw" style="background:{colour}"></span>{esc(zh)} {esc(en)}')
    for text in (extra or {}).values():
        parts.append(esc(text))
    return f'<div class="legend">{" ".join(parts)}</div>'

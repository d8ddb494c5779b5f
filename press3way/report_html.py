"""The report as one self-contained HTML page: filters, summary, a funnel chart, the detail.

Nothing is loaded from the network (inline CSS and SVG; the page's Content-Security-Policy
forbids everything else, scripts included), and every database value is escaped: caller id
and channel text come from outside.
"""

from __future__ import annotations

from html import escape

from . import events as ev
from .report import DETAIL_HEADERS, DROP_OFFS, FUNNEL, TITLE, Report

CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #000; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; text-align: left; }
th { background: #e4e8ee; } tbody tr:nth-child(even) { background: #f6f7f9; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.filters td:first-child { font-weight: 600; }
tr.ok { color: #000; } tr.fail { color: #c00; }
.detail td { white-space: nowrap; } .detail td.results { white-space: normal; font-size: 12px; }
"""

# Funnel geometry (SVG user units).
BAR_W, BAR_H, GAP, TOP = 420, 40, 8, 30
DROP_X, DROP_W, DROP_H = 560, 200, 24
WIDTH = DROP_X + DROP_W + 150


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "-"


def funnel_svg(report: Report) -> str:
    """Started -> Answered -> Accepted -> Transfer as centred bars; drop-offs in red beside."""
    started = report.count(ev.STARTED)
    height = TOP + max(len(FUNNEL) * (BAR_H + GAP), len(DROP_OFFS) * (DROP_H + GAP))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="funnel" role="img" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             f'font-family="system-ui, sans-serif" font-size="13">',
             "<title>Calls from Started to Transfer, and where they dropped off</title>",
             f'<text x="{BAR_W // 2}" y="18" text-anchor="middle" font-weight="600">'
             "To transfer</text>",
             f'<text x="{DROP_X}" y="18" font-weight="600">Drop-offs</text>']
    for i, word in enumerate(FUNNEL):
        n = report.count(word)
        w = max(2.0, BAR_W * n / started) if started else 2.0
        y = TOP + i * (BAR_H + GAP)
        parts.append(f'<rect class="stage" data-event="{_e(word)}" x="{(BAR_W - w) / 2:.1f}" '
                     f'y="{y}" width="{w:.1f}" height="{BAR_H}" rx="3" fill="#8db6e0"/>')
        parts.append(f'<text x="{BAR_W // 2}" y="{y + BAR_H / 2 + 5:.0f}" text-anchor="middle">'
                     f"{_e(word)}: {n} ({_pct(n, started)})</text>")
    for i, word in enumerate(DROP_OFFS):
        n = report.count(word)
        w = max(1.0, DROP_W * n / started) if started else 1.0
        y = TOP + i * (DROP_H + GAP)
        parts.append(f'<rect class="drop" data-event="{_e(word)}" x="{DROP_X}" y="{y}" '
                     f'width="{w:.1f}" height="{DROP_H}" rx="2" fill="#d9534f"/>')
        parts.append(f'<text x="{DROP_X + w + 6:.1f}" y="{y + DROP_H / 2 + 5:.0f}" fill="#c00">'
                     f"{_e(word)}: {n}</text>")
    return "\n".join(parts + ["</svg>"])


def page(report: Report) -> str:
    filters = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
                      for k, v in report.filters.describe())
    summary = "".join(f'<tr><td>{_e(k)}</td><td class="n">{n}</td></tr>'
                      for k, n in report.summary().items())
    head = "".join(f"<th>{_e(h)}</th>" for h in DETAIL_HEADERS)
    detail = []
    for row in report.rows:
        *values, results = row.detail()
        cells = "".join(f"<td>{_e(v)}</td>" for v in values)
        detail.append(f'<tr class="{"ok" if row.successful else "fail"}">{cells}'
                      f'<td class="results">{_e(results).replace("|", "|<wbr>")}</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_e(TITLE)}: {_e(report.filters.start)} to {_e(report.filters.end)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_e(TITLE)}</h1>
<table class="filters">{filters}</table>
<h2>Results Summary</h2>
<table class="summary">{summary}</table>
<h2>Funnel</h2>
{funnel_svg(report)}
<h2>Results Detail</h2>
<p>Successful transfers in black, unsuccessful calls in red.</p>
<table class="detail">
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(detail)}
</tbody>
</table>
</body>
</html>
"""

"""The report as one self-contained HTML page: filters, summary, a funnel chart and every
call; or, by outside number, a chart and the figures of each number.

Nothing is loaded from the network (inline CSS and SVG; the page's Content-Security-Policy
forbids everything else, scripts included), and every database value is escaped: caller id
and channel text come from outside.
"""

from __future__ import annotations

from html import escape

from .. import events as ev
from .model import DROP_OFFS, FUNNEL, TITLE, PhoneFigures, Report, by_phone, seconds_text

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


DETAIL_HEADERS = ("Date Time", "User", "Lead", "Phone", "CID", "Channel", "Server", "Transfer",
                  "Results")
PHONE_HEADERS = ("Phone", "Calls", "Answered", "Accepted", "Transfers", "Too Slow", "Defeated",
                 "Median to answer", "Median to accept")
# The per-number chart: nested bars from the same origin (each measure is part of the one
# before it), the most called numbers first.
MEASURES = (("calls", "#d5dbe3"), ("answered", "#8db6e0"), ("accepted", "#4f8fd0"),
            ("transfers", "#1f5a96"))
CHART_MAX = 20
LABEL_W, CHART_W, ROW_H, NOTE_W = 150, 480, 34, 340


def _bar(x: float, y: float, w: float, h: float, colour: str, **data: str) -> str:
    attributes = "".join(f' data-{k}="{_e(v)}"' for k, v in data.items())
    return (f'<rect class="measure"{attributes} x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="{colour}"/>')


def phone_svg(figures: list[PhoneFigures]) -> str:
    """Per number: calls, answered, accepted and transfers as nested bars, scaled to the
    most called number."""
    shown = figures[:CHART_MAX]
    most = max((f.calls for f in shown), default=0)
    width = LABEL_W + CHART_W + NOTE_W
    height = TOP + max(len(shown), 1) * ROW_H + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="phones" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="system-ui, sans-serif" font-size="13">',
             "<title>Calls per outside number: answered, accepted, transferred</title>"]
    for i, (name, colour) in enumerate(MEASURES):
        x = LABEL_W + i * 110
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="17">{_e(name)}</text>')
    for row, f in enumerate(shown):
        y = TOP + row * ROW_H
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4:.0f}" '
                     f'text-anchor="end">{_e(f.phone)}</text>')
        for depth, (name, colour) in enumerate(MEASURES):
            n = getattr(f, name)
            w = CHART_W * n / most if most else 0.0
            inset = depth * 3
            parts.append(_bar(LABEL_W, y + 2 + inset, w, ROW_H - 6 - 2 * inset, colour,
                              phone=f.phone, measure=name))
        parts.append(f'<text x="{LABEL_W + CHART_W + 8}" y="{y + ROW_H / 2 + 4:.0f}">'
                     f"calls {f.calls}, answered {f.answered}, accepted {f.accepted}, "
                     f"transfers {f.transfers}</text>")
    if len(figures) > CHART_MAX:
        parts.append(f'<text x="{LABEL_W}" y="{height - 6}">the {CHART_MAX} most called of '
                     f"{len(figures)} numbers</text>")
    return "\n".join(parts + ["</svg>"])


def _document(report: Report, title: str, body: str) -> str:
    """The page around `body`: title, policy, style, the filters."""
    filters = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
                      for k, v in report.filters.describe())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_e(title)}: {_e(report.filters.start)} to {_e(report.filters.end)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<table class="filters">{filters}</table>
{body}
</body>
</html>
"""


def _table(css: str, headers: tuple[str, ...], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return (f'<table class="{css}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody>\n</table>")


def page(report: Report) -> str:
    summary = "".join(f'<tr><td>{_e(k)}</td><td class="n">{n}</td></tr>'
                      for k, n in report.summary().items())
    detail = []
    for row in report.rows:
        values = (row.when, row.user, row.lead, row.phone_number, row.outbound_cid,
                  row.call_channel, row.server_ip, row.transfer)
        cells = "".join(f"<td>{_e(v)}</td>" for v in values)
        detail.append(f'<tr class="{"ok" if row.successful else "fail"}">{cells}'
                      f'<td class="results">{_e(row.result).replace("|", "|<wbr>")}</td></tr>')
    return _document(report, TITLE, f"""<h2>Results Summary</h2>
<table class="summary">{summary}</table>
<h2>Funnel</h2>
{funnel_svg(report)}
<h2>Results Detail</h2>
<p>Successful transfers in black, unsuccessful calls in red.</p>
{_table("detail", DETAIL_HEADERS, detail)}""")


def phone_page(report: Report) -> str:
    """The calls per outside number: a chart and a table."""
    figures = by_phone(report)
    rows = [f'<tr><td>{_e(f.phone)}</td><td class="n">{f.calls}</td>'
            f'<td class="n">{_pct(f.answered, f.calls)}</td>'
            f'<td class="n">{_pct(f.accepted, f.calls)}</td><td class="n">{f.transfers}</td>'
            f'<td class="n">{f.too_slow}</td><td class="n">{f.defeated}</td>'
            f'<td class="n">{seconds_text(f.median_to_answer)}</td>'
            f'<td class="n">{seconds_text(f.median_to_accept)}</td></tr>' for f in figures]
    return _document(report, f"{TITLE}: by outside number", f"""<h2>Calls per number</h2>
{phone_svg(figures)}
<h2>Figures</h2>
<p>Answered and Accepted are shares of the number's calls. Median to answer: from Started
to Answered; median to accept: from Answered to Accepted (the result's event times).</p>
{_table("phones", PHONE_HEADERS, rows)}""")

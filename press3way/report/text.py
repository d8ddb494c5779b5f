"""Text renderings: the terminal tables (at most 100 columns), VICIdial's CSV download, JSON.

Successful rows (a Transfer) are plain, the others red, as in VICIdial's report.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Callable, Iterable, Sequence, TextIO

from ..printable import printable
from .html import page, phone_page
from .model import (
    NAME_NOT_FOUND,
    TITLE,
    VICIDIAL_SUMMARY,
    PhoneFigures,
    Report,
    Row,
    by_phone,
    seconds_text,
)

RED, RESET = "\x1b[31m", "\x1b[0m"
WIDTH = 100                      # every line of a terminal table fits this many columns
INDENT = "    "                  # a call's result text, on the lines under its row
GAP = "  "

# As VICIdial's own report table: no Transfer column (the colour and the result show it).
DETAIL_HEADERS = ("Date Time", "User", "Lead", "Phone", "CID", "Channel", "Server")
# How far columns may shrink when a table is too wide, in this order: (column, width). With
# every column at its longest (VARCHAR sizes) the channel keeps 9; an IP address is never cut.
DETAIL_SHRINK = ((5, 16), (1, 10), (4, 11), (3, 14), (5, 9))
LEAD_HEADERS = ("#", "DATE/TIME", "PHONE", "USER")
LEAD_SHRINK = ((3, 8), (2, 10))
PHONE_HEADERS = ("Phone", "Calls", "Answered", "Accepted", "Transfers", "Too Slow", "Defeated",
                 "To answer", "To accept")
PHONE_SHRINK = ((0, 10),)
PHONE_NOTE = ("Answered and Accepted: share of the number's calls. To answer: median time from "
              "Started to Answered;\nTo accept: median time from Answered to Accepted "
              "(from the result's event times).")

# VICIdial's CSV download (AST_3way_press_log_report.php, file_download=1), facts only: its
# first line pads the title to 24 characters, then ": <user filter>", 21 spaces, the time it
# was made and the database it read ((M)aster); every value is quoted and trimmed; "\n" ends
# lines. We double a quote inside a value (VICIdial leaves it, which breaks the CSV).
# The one other place our CSV differs from VICIdial's, for hostile text only: a cell that
# starts with = + - @ (or a tab or CR) would be a formula in a spreadsheet (a caller id made
# into =HYPERLINK(...)), so it gets a leading ' as OWASP's CSV-injection advice says.
CSV_HEAD = "3-Way Press Agent Report: {user}" + " " * 21 + "{now} (M)\nTime range: {start} " \
           "00:00:00 to {end} 23:59:59\n\n"
CSV_HEADERS = ("Date Time", "User Agent", "Lead", "Phone", "CID", "Channel", "Server",
               "Transfer", "Results")
CSV_EMPTY = "No Results Found\n"
_PHP_TRIM = " \t\n\r\0\x0b"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def wrap(items: Iterable[str], joiner: str) -> list[str]:
    """Items joined by `joiner` on indented lines of at most WIDTH, broken between items."""
    lines, line = [], ""
    for item in items:
        piece = f"{line}{joiner}{item}" if line else item
        if line and len(INDENT + piece) > WIDTH:
            lines.append(line + joiner.rstrip())
            piece = item
        line = piece
    return [clip(INDENT + text, WIDTH) for text in lines + [line] if text]


def wrap_result(result: str) -> list[str]:
    """A call's result text under its row, broken after its `|` separators."""
    return wrap(printable(result).split("|"), "|")


def grid(headers: Sequence[str], rows: Iterable[tuple[Sequence[str], bool, list[str]]],
         shrink: Sequence[tuple[int, int]], colour: bool,
         right: Sequence[int] = ()) -> list[str]:
    """Aligned columns fitted to WIDTH (columns in `shrink` give way, clipped with "...");
    each row may carry lines printed under it; rows whose flag is False are red when
    `colour`."""
    body = [([printable(c) for c in cells], ok, extra) for cells, ok, extra in rows]
    widths = [max([len(h)] + [len(cells[i]) for cells, _, _ in body])
              for i, h in enumerate(headers)]
    for column, narrowest in shrink:
        excess = sum(widths) + len(GAP) * (len(widths) - 1) - WIDTH
        if excess <= 0:
            break
        widths[column] -= min(excess, max(widths[column] - narrowest, 0))

    def line(cells: Sequence[str]) -> str:
        return GAP.join(clip(c, w).rjust(w) if i in right else clip(c, w).ljust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(headers), line(["-" * w for w in widths])]
    for cells, ok, extra in body:
        for text in [line(cells)] + extra:
            lines.append(text if ok or not colour else f"{RED}{text}{RESET}")
    return lines


def _head(report: Report, title: str) -> list[str]:
    return [title] + [clip(printable(f"{label}: {value}"), WIDTH)
                      for label, value in report.filters.describe()]


def table(report: Report, colour: bool = False) -> str:
    summary = [f"{label:<12}{count:>8}" for label, count in report.summary().items()]
    rows = ((_detail(r), r.successful, wrap_result(r.result)) for r in report.rows)
    detail = grid(DETAIL_HEADERS, rows, DETAIL_SHRINK, colour)
    return "\n".join(_head(report, TITLE) + ["", "Results Summary:"] + summary
                     + ["", "Results Detail:"] + detail) + "\n"


def _detail(row: Row) -> tuple[str, ...]:
    return (row.when, row.user, row.lead, row.phone_number, row.outbound_cid, row.call_channel,
            row.server_ip)


def lead_table(lead_id: int, rows: Sequence[Row], archive: bool, colour: bool = False) -> str:
    """The lead page's "3-WAY PRESS LOGS FOR THIS LEAD": numbered rows, newest first, times
    in whole seconds, each call's result under it; archived calls marked when included."""
    title = f"3-WAY PRESS LOGS FOR THIS LEAD: {lead_id}"
    if not rows:
        return f"{title}\nno 3-way calls\n"
    headers = LEAD_HEADERS + (("ARCHIVE",) if archive else ())
    cells = (((str(n), r.when, r.phone_number, r.user)
              + (("archived" if r.archived else "",) if archive else ()),
              r.successful, wrap_result(r.result)) for n, r in enumerate(rows, 1))
    return "\n".join([title, ""] + grid(headers, cells, LEAD_SHRINK, colour, right=(0,))) + "\n"


def inert(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula (OWASP)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _quoted(*values: object, data: bool = False) -> str:
    """VICIdial's quoted, trimmed cells; `data`: the values came from calls (hostile text),
    made inert, except VICIdial's own placeholder for a missing user, kept as it writes it."""
    cells = (str(v).strip(_PHP_TRIM) for v in values)
    return ",".join('"' + (inert(c) if data and c != NAME_NOT_FOUND else c).replace('"', '""')
                    + '"' for c in cells)


def csv_text(report: Report) -> str:
    """Byte for byte VICIdial's CSV download of the same range."""
    filters = report.filters
    head = CSV_HEAD.format(user=filters.user or "", start=filters.start, end=filters.end,
                           now=report.generated.strftime("%Y-%m-%d %H:%M:%S"))
    if not report.rows:
        return head + CSV_EMPTY
    lines = (['"Results Summary:"']
             + [_quoted(label, n) for label, n in report.summary(VICIDIAL_SUMMARY).items()]
             + ["", '"Results Detail:"', _quoted(*CSV_HEADERS)]
             + [_quoted(r.when, r.agent_name, r.lead, r.phone_number, r.outbound_cid,
                        r.call_channel, r.server_ip, r.transfer, r.result, data=True)
                for r in report.rows])
    return head + "\n".join(lines) + "\n"


def _filters_json(report: Report) -> dict:
    f = report.filters
    return {"start": str(f.start), "end": str(f.end), "user": f.user, "phone": f.phone,
            "archive": f.archive}


def json_text(report: Report) -> str:
    """Rows with their events split out, for scripts that would otherwise parse `result`."""
    rows = [{"call_date": r.when, "call_3way_id": r.call_3way_id, "user": r.user,
             "user_agent": r.agent_name, "lead_id": r.lead_id, "phone_number": r.phone_number,
             "outbound_cid": r.outbound_cid, "call_channel": r.call_channel,
             "server_ip": r.server_ip, "transfer": r.transfer, "result": r.result,
             "events": [{"event": e, "time": t} for e, t in r.events]}
            for r in report.rows]
    return json.dumps({"filters": _filters_json(report), "summary": report.summary(),
                       "rows": rows}, indent=2, ensure_ascii=False) + "\n"


# --- per outside number (--by phone) -------------------------------------------------------
def percent(value: float) -> str:
    return f"{value:.0f}%"


def phone_table(report: Report, colour: bool = False) -> str:
    figures = by_phone(report)
    rows: Iterable[tuple[Sequence[str], bool, list[str]]]
    rows = (((f.phone, str(f.calls), percent(f.answered_pct), percent(f.accepted_pct),
              str(f.transfers), str(f.too_slow), str(f.defeated), seconds_text(f.median_to_answer),
              seconds_text(f.median_to_accept)), True, []) for f in figures)
    body = grid(PHONE_HEADERS, rows, PHONE_SHRINK, colour, right=range(1, len(PHONE_HEADERS)))
    return "\n".join(_head(report, f"{TITLE}: by outside number") + [""] + body
                     + ["", PHONE_NOTE]) + "\n"


PHONE_CSV_HEADERS = ("Phone", "Calls", "Answered", "Answered %", "Accepted", "Accepted %",
                     "Transfers", "Too Slow", "Defeated", "Median seconds to answer",
                     "Median seconds to accept")


def _phone_values(f: PhoneFigures) -> tuple:
    return (f.phone, f.calls, f.answered, round(f.answered_pct, 1), f.accepted,
            round(f.accepted_pct, 1), f.transfers, f.too_slow, f.defeated,
            f.median_to_answer, f.median_to_accept)


def phone_csv(report: Report) -> str:
    """One quoted line per number (VICIdial's quoting and line ends); no median is empty."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(PHONE_CSV_HEADERS)
    writer.writerows(["" if v is None else inert(str(v)) for v in _phone_values(f)]
                     for f in by_phone(report))
    return out.getvalue()


def phone_json(report: Report) -> str:
    keys = ("phone_number", "calls", "answered", "answered_pct", "accepted", "accepted_pct",
            "transfers", "too_slow", "defeated", "median_s_to_answer", "median_s_to_accept")
    phones = [dict(zip(keys, _phone_values(f))) for f in by_phone(report)]
    return json.dumps({"filters": _filters_json(report), "phones": phones}, indent=2,
                      ensure_ascii=False) + "\n"


FORMATS = ("table", "csv", "json", "html")
GROUPINGS = ("call", "phone")
_RENDER: dict[tuple[str, str], Callable[..., str]] = {
    ("call", "table"): table, ("call", "csv"): csv_text, ("call", "json"): json_text,
    ("call", "html"): page, ("phone", "table"): phone_table, ("phone", "csv"): phone_csv,
    ("phone", "json"): phone_json, ("phone", "html"): phone_page,
}


def render(report: Report, fmt: str, colour: bool = False, by: str = "call") -> str:
    """The report in one of FORMATS, one row per call or per outside number (`by`);
    `colour` matters to the tables only."""
    try:
        renderer = _RENDER[(by, fmt)]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} by {by!r} (expected one of "
                         f"{', '.join(FORMATS)}, by {' or '.join(GROUPINGS)})") from None
    return renderer(report, colour) if fmt == "table" else renderer(report)

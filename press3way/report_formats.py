"""Text renderings of the report: a terminal table, VICIdial's CSV, and JSON.

Successful rows (a Transfer) are plain, the others red, as in VICIdial's report.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Iterable, Sequence, TextIO

from .report import DETAIL_HEADERS, LEAD_HEADERS, TITLE, Report, Row
from .report_html import page

RED, RESET = "\x1b[31m", "\x1b[0m"
CSV_HEADERS = ("Date Time", "User Agent") + DETAIL_HEADERS[2:]


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _printable(text: str) -> str:
    """Caller id and channel text come from outside: keep escape sequences off the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def table_lines(headers: Sequence[str], rows: Iterable[tuple[Sequence[str], bool]],
                colour: bool) -> list[str]:
    """Aligned columns; rows whose flag is False are red when `colour`."""
    body = [([_printable(c) for c in cells], ok) for cells, ok in rows]
    widths = [max([len(h)] + [len(cells[i]) for cells, _ in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    lines = [line(headers), line(["-" * w for w in widths])]
    for cells, ok in body:
        lines.append(line(cells) if ok or not colour else f"{RED}{line(cells)}{RESET}")
    return lines


def table(report: Report, colour: bool = False) -> str:
    head = [TITLE] + [f"{label}: {value}" for label, value in report.filters.describe()]
    summary = [f"{label:<12}{count:>8}" for label, count in report.summary().items()]
    detail = table_lines(DETAIL_HEADERS, ((r.detail(), r.successful) for r in report.rows), colour)
    return "\n".join(head + ["", "Results Summary:"] + summary + ["", "Results Detail:"]
                     + detail) + "\n"


def lead_table(lead_id: int, rows: Sequence[Row], archive: bool, colour: bool = False) -> str:
    """The lead page's "3-WAY PRESS LOGS FOR THIS LEAD"; archived rows marked when included."""
    headers = LEAD_HEADERS + (("Archive",) if archive else ())
    cells = ((r.lead_detail() + (("archived" if r.archived else "",) if archive else ()),
              r.successful) for r in rows)
    title = f"3-WAY PRESS LOGS FOR THIS LEAD: {lead_id}"
    if not rows:
        return f"{title}\nno 3-way calls\n"
    return "\n".join([title, ""] + table_lines(headers, cells, colour)) + "\n"


def csv_text(report: Report) -> str:
    """VICIdial's CSV download: title, date range, summary, blank line, detail."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow([TITLE])
    writer.writerow([f"Date Range: {report.filters.start} to {report.filters.end}"])
    writer.writerow(["Results Summary:"])
    writer.writerows(report.summary().items())
    out.write("\n")
    writer.writerow(["Results Detail:"])
    writer.writerow(CSV_HEADERS)
    writer.writerows(row.detail() for row in report.rows)
    return out.getvalue()


def json_text(report: Report) -> str:
    """Rows with their events split out, for scripts that would otherwise parse `result`."""
    rows = [{"call_date": r.when, "call_3way_id": r.call_3way_id, "user": r.user,
             "lead_id": r.lead_id, "phone_number": r.phone_number, "outbound_cid": r.outbound_cid,
             "call_channel": r.call_channel, "server_ip": r.server_ip, "transfer": r.transfer,
             "result": r.result, "events": [{"event": e, "time": t} for e, t in r.events]}
            for r in report.rows]
    filters = report.filters
    return json.dumps({"filters": {"start": str(filters.start), "end": str(filters.end),
                                   "user": filters.user, "phone": filters.phone,
                                   "archive": filters.archive},
                       "summary": report.summary(), "rows": rows},
                      indent=2, ensure_ascii=False) + "\n"


FORMATS = ("table", "csv", "json", "html")


def render(report: Report, fmt: str, colour: bool = False) -> str:
    """The report in one of FORMATS; `colour` matters to the table only."""
    if fmt == "table":
        return table(report, colour)
    if fmt == "csv":
        return csv_text(report)
    if fmt == "json":
        return json_text(report)
    if fmt == "html":
        return page(report)
    raise ValueError(f"unknown format {fmt!r} (expected {', '.join(FORMATS)})")

"""The 3-Way Press Log Report and the per-lead log: filters, rows and the summary counts.

Rendering lives in `report_formats` and `report_html`; the SQL in `db`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pymysql

from . import db
from . import events as ev

TITLE = "3-Way Press Log Report"
# VICIdial's report counts the rows whose result contains each word; ours must agree with it.
SUMMARY = (ev.ANSWERED, ev.ACCEPTED, ev.DECLINED, ev.TOO_SLOW, ev.DEFEATED, ev.AGENT_GONE,
           ev.TRANSFER)
# The funnel chart: the path to a transfer, and where calls leave it.
FUNNEL = (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.TRANSFER)
DROP_OFFS = (ev.DECLINED, ev.TOO_SLOW, ev.DEFEATED, ev.HUNGUP, ev.AGENT_GONE, ev.TIMEOUT)

DETAIL_HEADERS = ("Date Time", "User", "Lead", "Phone", "CID", "Channel", "Server", "Transfer",
                  "Results")
LEAD_HEADERS = ("Date Time", "Phone", "User", "Results")


@dataclass(frozen=True)
class Row:
    """One outside call's log row, as the reports show it."""
    call_date: datetime | None
    call_3way_id: str
    lead_id: int | None
    phone_number: str
    outbound_cid: str
    user: str
    server_ip: str
    call_channel: str
    result: str
    archived: bool = False

    @classmethod
    def from_db(cls, row: dict) -> Row:
        text = {k: "" if row.get(k) is None else str(row[k])
                for k in ("call_3way_id", "phone_number", "outbound_cid", "user", "server_ip",
                          "call_channel", "result")}
        return cls(call_date=row["call_date"], lead_id=row["lead_id"],
                   archived=bool(row.get("archived")), **text)

    @property
    def when(self) -> str:
        """Seconds, as VICIdial shows them (call_date keeps microseconds for ordering)."""
        return self.call_date.strftime(ev.TIME_FORMAT) if self.call_date else ""

    @property
    def successful(self) -> bool:
        return ev.is_successful(self.result)

    @property
    def transfer(self) -> int:
        return int(self.successful)

    @property
    def events(self) -> list[tuple[str, str]]:
        return ev.parse_result(self.result)

    def detail(self) -> tuple[str, ...]:
        """The values under DETAIL_HEADERS."""
        return (self.when, self.user, "" if self.lead_id is None else str(self.lead_id),
                self.phone_number, self.outbound_cid, self.call_channel, self.server_ip,
                str(self.transfer), self.result)

    def lead_detail(self) -> tuple[str, ...]:
        """The values under LEAD_HEADERS."""
        return self.when, self.phone_number, self.user, self.result


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    user: str | None = None
    phone: str | None = None
    archive: bool = False

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a report's header."""
        return [("Date Range", f"{self.start} to {self.end}"), ("User", self.user or "all"),
                ("Phone", self.phone or "all"),
                ("Table", db.ARCHIVE if self.archive else db.LOG)]


@dataclass
class Report:
    filters: Filters
    rows: list[Row] = field(default_factory=list)

    def count(self, word: str) -> int:
        """Rows whose result contains `word` (how VICIdial counts)."""
        return sum(word in row.result for row in self.rows)

    def summary(self) -> dict[str, int]:
        """TOTAL, then one count per SUMMARY word, in VICIdial's order."""
        return {"TOTAL": len(self.rows), **{word: self.count(word) for word in SUMMARY}}


def build(conn: pymysql.Connection, filters: Filters) -> Report:
    rows = db.log_rows(conn, filters.start, filters.end, user=filters.user, phone=filters.phone,
                       archive=filters.archive)
    return Report(filters, [Row.from_db(r) for r in rows])


def lead_history(conn: pymysql.Connection, lead_id: int, *, archive: bool = False) -> list[Row]:
    return [Row.from_db(r) for r in db.lead_rows(conn, lead_id, archive=archive)]

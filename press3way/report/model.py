"""What the reports show: the filtered log rows, the summary counts, the per-number figures.

The log's SQL lives in `db`; this module only reads agents' full names (`vicidial_users`),
which VICIdial's CSV download shows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime

import pymysql

from .. import database, tables
from .. import events as ev
from . import reads

TITLE = "3-Way Press Log Report"
# VICIdial's report counts the rows whose result contains each word; its CSV has these lines.
VICIDIAL_SUMMARY = (ev.ANSWERED, ev.ACCEPTED, ev.DECLINED, ev.TOO_SLOW, ev.DEFEATED,
                    ev.AGENT_GONE, ev.TRANSFER)
# Ours also counts the two endings VICIdial's summary leaves out.
SUMMARY = (ev.ANSWERED, ev.ACCEPTED, ev.DECLINED, ev.TOO_SLOW, ev.DEFEATED, ev.HUNGUP,
           ev.AGENT_GONE, ev.TIMEOUT, ev.TRANSFER)
# The funnel chart: the path to a transfer, and where calls leave it.
FUNNEL = (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.TRANSFER)
DROP_OFFS = (ev.DECLINED, ev.TOO_SLOW, ev.DEFEATED, ev.HUNGUP, ev.AGENT_GONE, ev.TIMEOUT)
# VICIdial's CSV shows this for a user that vicidial_users does not hold.
NAME_NOT_FOUND = "-- NOT FOUND --"
_NO_SUCH_TABLE = 1146


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
    agent_name: str = ""        # VICIdial's "User Agent": the full name, else the user id

    @classmethod
    def from_db(cls, row: dict, names: dict[str, str] | None = None) -> Row:
        text = {k: "" if row.get(k) is None else str(row[k])
                for k in ("call_3way_id", "phone_number", "outbound_cid", "user", "server_ip",
                          "call_channel", "result")}
        name = text["user"] if names is None else names.get(text["user"], NAME_NOT_FOUND)
        return cls(call_date=row["call_date"], lead_id=row["lead_id"],
                   archived=bool(row.get("archived")), agent_name=name, **text)

    @property
    def when(self) -> str:
        """Whole seconds, as VICIdial shows them (call_date may hold microseconds)."""
        return self.call_date.strftime(ev.TIME_FORMAT) if self.call_date else ""

    @property
    def lead(self) -> str:
        return "" if self.lead_id is None else str(self.lead_id)

    @property
    def successful(self) -> bool:
        return ev.is_successful(self.result)

    @property
    def transfer(self) -> int:
        return int(self.successful)

    @property
    def events(self) -> list[tuple[str, str]]:
        return ev.parse_result(self.result)

    def seconds_between(self, first: str, then: str) -> float | None:
        """Seconds from event `first` to event `then` in the result text; None if either is
        missing or its time unreadable."""
        times: dict[str, datetime] = {}
        for event, when in self.events:
            try:
                times.setdefault(event, datetime.strptime(when, ev.TIME_FORMAT))
            except ValueError:
                continue
        if first not in times or then not in times:
            return None
        return (times[then] - times[first]).total_seconds()


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
                ("Table", tables.ARCHIVE if self.archive else tables.LOG)]


@dataclass
class Report:
    filters: Filters
    rows: list[Row] = field(default_factory=list)
    generated: datetime = field(default_factory=datetime.now)

    def count(self, word: str) -> int:
        """Rows whose result contains `word` (how VICIdial counts)."""
        return sum(word in row.result for row in self.rows)

    def summary(self, words: tuple[str, ...] = SUMMARY) -> dict[str, int]:
        """TOTAL, then one count per word."""
        return {"TOTAL": len(self.rows), **{word: self.count(word) for word in words}}


@dataclass
class PhoneFigures:
    """One outside number's calls in the report's range."""
    phone: str
    calls: int = 0
    answered: int = 0
    accepted: int = 0
    transfers: int = 0
    too_slow: int = 0
    defeated: int = 0
    to_answer: list[float] = field(default_factory=list)    # Started -> Answered, seconds
    to_accept: list[float] = field(default_factory=list)    # Answered -> Accepted, seconds

    def add(self, row: Row) -> None:
        self.calls += 1
        self.answered += ev.ANSWERED in row.result
        self.accepted += ev.ACCEPTED in row.result
        self.transfers += row.successful
        self.too_slow += ev.TOO_SLOW in row.result
        self.defeated += ev.DEFEATED in row.result
        for spans, first, then in ((self.to_answer, ev.STARTED, ev.ANSWERED),
                                   (self.to_accept, ev.ANSWERED, ev.ACCEPTED)):
            seconds = row.seconds_between(first, then)
            if seconds is not None:
                spans.append(seconds)

    @property
    def answered_pct(self) -> float:
        return 100 * self.answered / self.calls if self.calls else 0.0

    @property
    def accepted_pct(self) -> float:
        return 100 * self.accepted / self.calls if self.calls else 0.0

    @property
    def median_to_answer(self) -> float | None:
        return statistics.median(self.to_answer) if self.to_answer else None

    @property
    def median_to_accept(self) -> float | None:
        return statistics.median(self.to_accept) if self.to_accept else None


def seconds_text(value: float | None) -> str:
    """A median for people: `2.5 s`, or `-` when there is none."""
    return "-" if value is None else f"{value:g} s"


def by_phone(report: Report) -> list[PhoneFigures]:
    """One entry per outside number, the most called first."""
    figures: dict[str, PhoneFigures] = {}
    for row in report.rows:
        figures.setdefault(row.phone_number, PhoneFigures(row.phone_number)).add(row)
    return sorted(figures.values(), key=lambda f: (-f.calls, f.phone))


def full_names(conn: pymysql.Connection, users: set[str]) -> dict[str, str] | None:
    """user -> full_name from vicidial_users; None when the table does not exist (a bare
    test schema), so the reports show user ids instead."""
    if not users:
        return {}
    wanted = sorted(users)
    try:
        rows = database.query(conn, "SELECT user, full_name FROM vicidial_users WHERE user IN ("
                              + ", ".join(["%s"] * len(wanted)) + ")", wanted)
    except database.DatabaseError as exc:
        if exc.code == _NO_SUCH_TABLE:
            return None
        raise
    return {r["user"]: r["full_name"] or "" for r in rows}


def build(conn: pymysql.Connection, filters: Filters) -> Report:
    rows = reads.log_rows(conn, filters.start, filters.end, user=filters.user,
                       phone=filters.phone, archive=filters.archive)
    names = full_names(conn, {str(r["user"]) for r in rows if r["user"] is not None})
    return Report(filters, [Row.from_db(r, names) for r in rows])


def lead_history(conn: pymysql.Connection, lead_id: int, *, archive: bool = False) -> list[Row]:
    return [Row.from_db(r) for r in reads.lead_rows(conn, lead_id, archive=archive)]

"""The 3-way calls in progress (`press3way live`), batch by batch, for the admin on duty.

A batch is one agent leg's outside calls (same `caller_code`); its age and its agent's
heartbeat come from the database's clock, as the scripts judge them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pymysql

from . import database, store, tables
from .report.text import grid, printable, wrap

HEADERS = ("Agent", "Lead", "Server", "Age", "Heartbeat")
SHRINK = ((2, 8), (0, 6))


@dataclass
class LiveBatch:
    caller_code: str
    user: str
    lead_id: int | None
    server_ip: str
    age_s: int | None                 # since its oldest outside call started
    heartbeat_s: int | None           # since the agent leg last beat; None: never
    calls: list[tuple[str, str]] = field(default_factory=list)    # (phone, status)

    @property
    def agent_gone(self) -> bool:
        """What the outside leg would decide (heartbeat older than HEARTBEAT_STALE_S)."""
        return self.heartbeat_s is None or self.heartbeat_s > store.HEARTBEAT_STALE_S


def batches(conn: pymysql.Connection) -> tuple[datetime, list[LiveBatch]]:
    """The database's time now, and every batch with a live row, oldest first."""
    now = database.query(conn, "SELECT NOW() AS now")[0]["now"]
    rows = database.query(conn, "SELECT caller_code, user, lead_id, server_ip, phone_number, "
                          "status, "
                          "TIMESTAMPDIFF(SECOND, call_date, %s) AS age_s, "
                          "TIMESTAMPDIFF(SECOND, agent_heartbeat, %s) AS heartbeat_s "
                          f"FROM {tables.LIVE} ORDER BY call_date, call_3way_id", (now, now))
    found: dict[str, LiveBatch] = {}
    for row in rows:
        batch = found.setdefault(row["caller_code"], LiveBatch(
            row["caller_code"], row["user"] or "", row["lead_id"], row["server_ip"] or "",
            row["age_s"], row["heartbeat_s"]))
        if row["heartbeat_s"] is not None and (batch.heartbeat_s is None
                                               or row["heartbeat_s"] < batch.heartbeat_s):
            batch.heartbeat_s = row["heartbeat_s"]
        batch.calls.append((row["phone_number"] or "", row["status"] or ""))
    return now, list(found.values())


def _seconds(value: int | None) -> str:
    return "-" if value is None else f"{value} s"


def frame(now: datetime, found: list[LiveBatch], colour: bool = False) -> str:
    """One screen: a headline, then one row per batch with its outside calls (number and
    status) under it; a batch whose agent leg stopped beating is marked GONE (red)."""
    calls = sum(len(b.calls) for b in found)
    head = (f"3-way calls in progress at {now:%Y-%m-%d %H:%M:%S}: {len(found)} batch(es), "
            f"{calls} outside call(s)")
    if not found:
        return head + "\n"
    rows = (((b.user, "" if b.lead_id is None else str(b.lead_id), b.server_ip,
              _seconds(b.age_s), _seconds(b.heartbeat_s) + (" GONE" if b.agent_gone else "")),
             not b.agent_gone,
             wrap((printable(f"{phone} {status}") for phone, status in b.calls), ", "))
            for b in found)
    return "\n".join([head, ""] + grid(HEADERS, rows, SHRINK, colour)) + "\n"

"""Keeping the feature healthy: end calls a crash left behind, move old log rows into the
archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator

from .. import callstate as cs
from .. import events as ev
from ..database import query
from ..store import Store
from ..tables import LIVE, LOG
from . import queries

MAX_CALL_HOURS = 6     # no 3-way call lasts this long: its row is left over, whatever its heartbeat


# --- cleanup ------------------------------------------------------------------------------
def cleanup(store: Store, stale_s: int, dry_run: bool, echo: Callable[[str], None]) -> int:
    """End the live rows of calls whose agent leg is gone, and of calls that ended while the
    log was locked (a backup), then delete them; how many.

    Each call's log gets what its live row's status proves is owed, in order, then its ending
    (`callstate.owed_events`); `append_event` refuses after an ending, so a call that had
    ended keeps its ending. Silent when there is nothing to do (it runs from cron every
    minute)."""
    rows = queries.calls_to_end(store.conn, stale_s, MAX_CALL_HOURS)
    for row in rows:
        before, event = cs.owed_events(row["status"], row["call_channel"] or "",
                                       ev.TIMEOUT if row["too_old"] else ev.AGENT_GONE)
        logged = False if dry_run else store.catch_up(row, before, event)
        echo(f"{row['call_3way_id']} (user {row['user']}, {row['status']}, {_why(row, stale_s)}): "
             + (f"logged {event}; " if logged else "")
             + ("would delete the live row" if dry_run else "deleted the live row"))
        if not dry_run:
            store.delete_live(row["call_3way_id"])
    if rows or dry_run:
        echo(f"{len(rows)} stale live row(s)" + (" found" if dry_run else " ended"))
    return len(rows)


def _why(row: dict, stale_s: int) -> str:
    if row["too_old"]:
        return f"older than {MAX_CALL_HOURS} h"
    if row["stale"]:
        return f"no agent heartbeat for {stale_s} s"
    return "ended while its log was locked"


# --- archive ------------------------------------------------------------------------------
@dataclass
class ArchivePlan:
    cutoff: datetime
    rows: int              # log rows to move
    in_progress: int       # old enough, but their call still has a live row: they stay


def archive_plan(store: Store, days: int) -> ArchivePlan:
    cutoff, rows = queries.archive_cutoff(store.conn, days)
    held = query(store.conn, f"SELECT COUNT(*) AS n FROM {LOG} l JOIN {LIVE} v "
                             "ON v.call_3way_id = l.call_3way_id WHERE l.call_date < %s",
                 (cutoff,))
    return ArchivePlan(cutoff, rows, held[0]["n"])


def archive(store: Store, plan: ArchivePlan, batch_size: int) -> Iterator[dict[str, int]]:
    """Move the plan's rows batch by batch; yields each batch's counts (in_log, copied,
    verified, deleted). A row leaves the log only once the archive holds an equal row."""
    after = None
    while (end := queries.archive_batch_end(store.conn, plan.cutoff, after,
                                            batch_size)) is not None:
        yield queries.archive_batch(store.conn, plan.cutoff, after, end)
        after = end

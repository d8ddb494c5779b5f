"""The backup cases' own parts: the lock as a backup takes it, the time it outlasted the call
(the rows aged instead of waiting), the `cleanup` cron runs, the batch's rows afterwards, and
the bound on an AGI run after its channel's hang-up."""

from __future__ import annotations

import dataclasses

from press3way import config, database
from press3way.admin import maintenance
from press3way.database import query
from press3way.store import Store
from press3way.tables import LIVE, LOG
from press3way_testing.sim import AGIRun, SimResult
from press3way_testing.site import Site

# How long the lock is held after the call's last AGI run ended (a backup's own time).
OUTLAST_S = 1.0
# How much later than the call the cleanup runs; the rows are aged by it instead of waiting.
# With the log alone locked the legs mark what they could not log, so the very next cron run
# ends it; with every table locked nothing can be marked: the first run once the heartbeat
# is --stale old (a minute after the call; a long dump's minutes).
CLEANUP_STALE_S = 60        # `press3way cleanup`'s default --stale
CLEANUP_AFTER_S = {("log", "seconds"): 0, ("log", "minutes"): 5 * 60,
                   ("all", "seconds"): CLEANUP_STALE_S + 1, ("all", "minutes"): 5 * 60}
# No AGI run outlives its channel's hang-up by more than this, whatever is locked.
ENDS_WITHIN_S = 5.0
_HANGUP_NOTES = ("AMI Hangup", "hung up (")


def lock_statement(conn, tables: str) -> str:
    """`log`: a READ lock on the log table; `all`: every table of the database, READ LOCAL
    as `mysqldump --lock-tables` takes them (MyISAM lets other sessions append then)."""
    if tables == "log":
        return f"LOCK TABLES {LOG} READ"
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        names = [next(iter(row.values())) for row in cur.fetchall()]
    return "LOCK TABLES " + ", ".join(f"`{name}` READ LOCAL" for name in names)


def age(site: Site, seconds: int) -> None:
    """The batch's live rows as they would be `seconds` later: no heartbeat since."""
    conn = site.connect()
    try:
        database.execute(conn, f"UPDATE {LIVE} SET agent_heartbeat = agent_heartbeat - "
                               "INTERVAL %s SECOND, call_date = call_date - INTERVAL %s SECOND "
                               "WHERE caller_code = %s", (seconds, seconds, site.caller_code))
    finally:
        conn.close()


def cleanup_once(admin_conf: str) -> list[str]:
    """One `press3way cleanup` (as cron runs it: the default --stale); the lines it printed."""
    lines: list[str] = []
    conn = database.connect(config.load(admin_conf))
    try:
        maintenance.cleanup(Store(conn), CLEANUP_STALE_S, False, lines.append)
    finally:
        database.close_quietly(conn)
    return lines


def cleanup_during_lock(admin_conf: str) -> list[str]:
    """A cron run while the backup holds its locks: it may find nothing to do or give up with
    a database error (a lock wait); anything else is a violation."""
    try:
        cleanup_once(admin_conf)
    except database.DatabaseError:
        pass
    except Exception as exc:    # noqa: BLE001 - reported as a violation
        return [f"cleanup during the lock failed otherwise than by a lock wait: {exc!r}"]
    return []


def reread(site: Site, result: SimResult) -> SimResult:
    """`result` with the batch's log rows and live-row count as they are now."""
    conn = site.connect()
    try:
        rows = query(conn, f"SELECT * FROM {LOG} WHERE caller_code = %s ORDER BY call_3way_id",
                     (site.caller_code,))
        live = query(conn, f"SELECT COUNT(*) AS n FROM {LIVE} WHERE caller_code = %s",
                     (site.caller_code,))[0]["n"]
    finally:
        conn.close()
    return dataclasses.replace(result, log_rows=rows, live_rows=live)


def outlived_channels(timeline: list[tuple[float, str, str]], runs: list[AGIRun]) -> list[str]:
    """An AGI run that ended more than ENDS_WITHIN_S after its channel was hung up."""
    hung_up: dict[str, float] = {}
    for t, who, text in sorted(timeline, key=lambda e: e[0]):
        if who not in hung_up and text.startswith(_HANGUP_NOTES):
            hung_up[who] = t
    return [f"{run.label} {run.args} ended {run.ended - hung_up[run.label]:.1f} s after its "
            f"channel was hung up (bound {ENDS_WITHIN_S:.0f} s)"
            for run in runs if run.label in hung_up
            and run.ended - hung_up[run.label] > ENDS_WITHIN_S]

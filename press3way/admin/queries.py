"""The administrator's statements on the feature tables: who is busy, what a crash left behind,
and the archive (the call path's own statements are in `press3way.store`)."""

from __future__ import annotations

from datetime import datetime

import pymysql

from .. import callstate as cs
from ..database import execute, query
from ..store import TERMINAL_RE
from ..tables import ARCHIVE, LIVE, LOG, feature_table


def live_count_of_user(conn: pymysql.Connection, user: str) -> int:
    return query(conn, f"SELECT COUNT(*) AS n FROM {LIVE} WHERE user = %s", (user,))[0]["n"]


def calls_to_end(conn: pymysql.Connection, stale_s: int, max_age_h: int) -> list[dict]:
    """Live rows to end: their agent leg stopped beating (a row without a heartbeat, written
    by an older agent leg, is judged by its start), older than `max_age_h`, or finished while
    their log row was locked (no ending yet: it is owed)."""
    return query(
        conn,
        f"SELECT v.call_3way_id, v.caller_code, v.user, v.status, v.call_channel, "
        f"v.session_id_3way, v.call_date, "
        f"(COALESCE(v.call_date, 0) < NOW() - INTERVAL %s HOUR) AS too_old, "
        f"(COALESCE(v.agent_heartbeat, v.call_date, 0) < NOW() - INTERVAL %s SECOND) AS stale "
        f"FROM {LIVE} v LEFT JOIN {LOG} g ON g.call_3way_id = v.call_3way_id "
        "WHERE COALESCE(v.agent_heartbeat, v.call_date, 0) < NOW() - INTERVAL %s SECOND "
        "OR COALESCE(v.call_date, 0) < NOW() - INTERVAL %s HOUR "
        f"OR (v.status IN ({', '.join(['%s'] * len(cs.FINISHED))}) AND g.result NOT REGEXP %s) "
        "ORDER BY v.call_date, v.call_3way_id",
        (max_age_h, stale_s, stale_s, max_age_h, *cs.FINISHED, TERMINAL_RE))


def archive_cutoff(conn: pymysql.Connection, days: int) -> tuple[datetime, int]:
    """(cutoff time, log rows older than it): fixed once so every batch agrees."""
    cutoff = query(conn, "SELECT NOW() - INTERVAL %s DAY AS t", (days,))[0]["t"]
    where, params = _after(cutoff, None)
    count = query(conn, f"SELECT COUNT(*) AS n FROM {LOG} l WHERE {where}", params)
    return cutoff, count[0]["n"]


def archive_batch_end(conn: pymysql.Connection, cutoff: datetime, after: tuple | None,
                      size: int) -> tuple | None:
    """The (call_date, call_3way_id) key ending the next batch of at most ~`size` rows."""
    where, params = _after(cutoff, after)
    rows = query(conn, f"SELECT call_date, call_3way_id FROM {LOG} l WHERE {where} "
                       "ORDER BY call_date, call_3way_id LIMIT %s", params + [size])
    return (rows[-1]["call_date"], rows[-1]["call_3way_id"]) if rows else None


def archive_batch(conn: pymysql.Connection, cutoff: datetime, after: tuple | None,
                  end: tuple) -> dict[str, int]:
    """Copy one batch into the archive, then delete from the log only the rows the archive
    verifiably holds (every column equal). Counts: in_log, copied, verified, deleted."""
    where, params = _after(cutoff, after)
    where += " AND (l.call_date < %s OR (l.call_date = %s AND l.call_3way_id <= %s))"
    params += [end[0], end[0], end[1]]
    in_archive = set(table_columns(conn, ARCHIVE))
    columns = [c for c in table_columns(conn, LOG) if c in in_archive]
    names = ", ".join(columns)
    same = " AND ".join(f"a.{c} <=> l.{c}" for c in columns)
    counts = {"in_log": query(conn, f"SELECT COUNT(*) AS n FROM {LOG} l WHERE {where}",
                              params)[0]["n"]}
    counts["copied"] = execute(
        conn, f"INSERT IGNORE INTO {ARCHIVE} ({names}) SELECT {names} FROM {LOG} l "
              f"WHERE {where}", params)
    counts["verified"] = query(conn, f"SELECT COUNT(*) AS n FROM {LOG} l JOIN {ARCHIVE} a "
                                     f"ON {same} WHERE {where}", params)[0]["n"]
    counts["deleted"] = execute(conn, f"DELETE l FROM {LOG} l JOIN {ARCHIVE} a ON {same} "
                                      f"WHERE {where}", params)
    return counts


def _after(cutoff: datetime, after: tuple | None) -> tuple[str, list]:
    """Log rows older than the cutoff and past the (call_date, call_3way_id) key `after`, of
    calls that are over (a call with a live row still gets events appended to its log row)."""
    where = (f"l.call_date < %s AND NOT EXISTS (SELECT 1 FROM {LIVE} v "
             "WHERE v.call_3way_id = l.call_3way_id)")
    params: list = [cutoff]
    if after is not None:
        where += " AND (l.call_date > %s OR (l.call_date = %s AND l.call_3way_id > %s))"
        params += [after[0], after[0], after[1]]
    return where, params


def table_columns(conn: pymysql.Connection, table: str) -> list[str]:
    rows = query(conn, "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                 (feature_table(table),))
    return [r["c"] for r in rows]

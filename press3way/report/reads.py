"""The report's reads (`press3way report`, `press3way lead`): log and archive rows, newest first."""

from __future__ import annotations

from datetime import date
from typing import Any

import pymysql

from ..database import query
from ..tables import ARCHIVE, LOG

_REPORT_COLUMNS = ("call_date, call_3way_id, lead_id, phone_number, outbound_cid, user, "
                   "server_ip, call_channel, result")


def log_rows(conn: pymysql.Connection, start: date, end: date, *, user: str | None = None,
             phone: str | None = None, archive: bool = False) -> list[dict]:
    """Log (or archive) rows from `start` through the whole of `end`'s day, newest first
    (to its last microsecond: rows written by older versions carry microseconds)."""
    sql = (f"SELECT {_REPORT_COLUMNS} FROM {ARCHIVE if archive else LOG} "
           "WHERE call_date >= %s AND call_date <= CONCAT(%s, ' 23:59:59.999999')")
    params: list[Any] = [start, end.isoformat()]
    for column, value in (("user", user), ("phone_number", phone)):
        if value is not None:
            sql += f" AND {column} = %s"
            params.append(value)
    return query(conn, sql + " ORDER BY call_date DESC, call_3way_id DESC", params)


def lead_rows(conn: pymysql.Connection, lead_id: int, *, archive: bool = False) -> list[dict]:
    """One lead's calls, newest first; with `archive` the archived ones too (`archived` = 1)."""
    tables = ((LOG, 0), (ARCHIVE, 1)) if archive else ((LOG, 0),)
    sql = " UNION ALL ".join(f"SELECT {_REPORT_COLUMNS}, {flag} AS archived FROM {table} "
                             "WHERE lead_id = %s" for table, flag in tables)
    return query(conn, sql + " ORDER BY call_date DESC, call_3way_id DESC",
                 [lead_id] * len(tables))

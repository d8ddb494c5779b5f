"""The feature tables as the database has them (information_schema), and the ALTER statements
that bring them to what schema.sql declares (`migrate`)."""

from __future__ import annotations

from dataclasses import dataclass

import pymysql

from ..database import query
from ..tables import feature_table
from .queries import table_columns


@dataclass
class TableState:
    """A feature table as the database has it."""
    engine: str
    columns: list[str]
    indexes: dict[str, tuple[tuple[str, ...], bool]]    # name -> (columns, unique)


def table_state(conn: pymysql.Connection, table: str) -> TableState | None:
    """Engine, columns and indexes from information_schema; None when the table is missing."""
    rows = query(conn, "SELECT ENGINE FROM information_schema.TABLES WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (feature_table(table),))
    if not rows:
        return None
    indexes: dict[str, tuple[tuple[str, ...], bool]] = {}
    for r in query(conn, "SELECT INDEX_NAME AS name, COLUMN_NAME AS c, NON_UNIQUE AS nu "
                         "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                         "AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX", (table,)):
        columns, _ = indexes.get(r["name"], ((), False))
        indexes[r["name"]] = (columns + (r["c"],), not r["nu"])
    return TableState(rows[0]["ENGINE"] or "", table_columns(conn, table), indexes)


def add_column_sql(table: str, definition: str) -> str:
    return f"ALTER TABLE {feature_table(table)} ADD COLUMN {definition}"


def add_index_sql(table: str, name: str, columns: tuple[str, ...], unique: bool) -> str:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return f"ALTER TABLE {feature_table(table)} ADD {kind} {name} ({', '.join(columns)})"


def replace_index_sql(table: str, name: str, columns: tuple[str, ...], unique: bool) -> str:
    """One statement, so the table is never without the key (and widening a unique key
    cannot make rows collide: no row is lost)."""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return (f"ALTER TABLE {feature_table(table)} DROP INDEX {name}, "
            f"ADD {kind} {name} ({', '.join(columns)})")

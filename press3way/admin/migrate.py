"""Bring the four feature tables to what schema.sql declares, on a new database or on one an
older install made (VICIdial's reference schema: MyISAM, without call_channel,
agent_heartbeat, call_transfer, and an archive key that kept one row per multi-call batch).

Only additions: missing tables, columns and indexes; an index whose name we own but whose
columns differ is replaced in one statement. Engines and existing rows are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pymysql

from .. import database
from . import schema, tables


@dataclass
class Step:
    what: str        # for the administrator
    sql: str


@dataclass
class TablePlan:
    table: str
    engine: str | None                     # None: the table does not exist yet
    steps: list[Step] = field(default_factory=list)


def plan(conn: pymysql.Connection) -> list[TablePlan]:
    """What each table needs, in an order that works (a table made LIKE another comes after
    that one's changes)."""
    plans = []
    for spec in schema.tables().values():
        state = tables.table_state(conn, spec.name)
        if state is None:
            plans.append(TablePlan(spec.name, None, [Step("create", s) for s in spec.statements]))
            continue
        table = TablePlan(spec.name, state.engine)
        for name, definition in spec.columns.items():
            if name not in state.columns:
                table.steps.append(Step(f"add column {definition}",
                                        tables.add_column_sql(spec.name, definition)))
        for index in spec.indexes:
            if (index.columns, index.unique) in state.indexes.values():
                continue
            kind = "unique key" if index.unique else "index"
            if index.name in state.indexes:
                had = ", ".join(state.indexes[index.name][0])
                table.steps.append(Step(
                    f"{kind} {index.name}: ({had}) -> ({', '.join(index.columns)})",
                    tables.replace_index_sql(spec.name, index.name, index.columns, index.unique)))
            else:
                table.steps.append(Step(f"add {kind} {index.name} ({', '.join(index.columns)})",
                                        tables.add_index_sql(spec.name, index.name, index.columns,
                                                         index.unique)))
        plans.append(table)
    return plans


def describe(plans: list[TablePlan], would: str = "") -> list[str]:
    """What applying the plan does to each table, for the administrator."""
    lines = []
    for table in plans:
        if table.engine is None:
            lines.append(f"  {table.table}: {would}create it as schema.sql declares it")
            continue
        lines.append(f"  {table.table}: exists, {table.engine}; engine left as it is"
                     + ("" if table.steps else "; up to date"))
        lines += [f"    {would}{step.what}" for step in table.steps]
    return lines


def apply(conn: pymysql.Connection, plans: list[TablePlan]) -> None:
    for table in plans:
        for step in table.steps:
            database.execute(conn, step.sql)

"""What schema.sql declares, table by table: the columns and indexes install and check expect.

schema.sql stays the one source of truth; this reads its CREATE statements (one column or index
per line, as the file is written) instead of repeating them in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..database import schema_statements

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*)\)\s*ENGINE=\w+", re.S | re.I)
_LIKE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) LIKE (\w+)", re.I)
_UNIQUE = re.compile(r"CREATE UNIQUE INDEX IF NOT EXISTS (\w+) ON (\w+)\s*\(([^)]*)\)", re.I)
_INDEX = re.compile(r"^(unique\s+)?(?:index|key)\s*(\w*)\s*\(([^)]*)\)$", re.I)
_PRIMARY = re.compile(r"^(\w+)\s.*\bPRIMARY KEY\b", re.I)


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass
class Table:
    name: str
    statements: list[str]                        # what creates it (CREATE TABLE, CREATE INDEX)
    columns: dict[str, str] = field(default_factory=dict)   # name -> definition
    indexes: list[Index] = field(default_factory=list)


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def tables() -> dict[str, Table]:
    """The feature tables in schema.sql order (a table made LIKE another comes after it)."""
    out: dict[str, Table] = {}
    for statement in schema_statements():
        if m := _CREATE.match(statement):
            table = out[m.group(1)] = Table(m.group(1), [statement])
            for line in (l.strip().rstrip(",") for l in m.group(2).splitlines()):
                index = _INDEX.match(line)
                if index:
                    cols = _columns(index.group(3))
                    table.indexes.append(Index(index.group(2) or cols[0], cols,
                                               bool(index.group(1))))
                elif line:
                    name = line.split()[0]
                    table.columns[name] = line
                    if _PRIMARY.match(line):
                        table.indexes.append(Index("PRIMARY", (name,), True))
        elif m := _LIKE.match(statement):
            model = out[m.group(2)]
            out[m.group(1)] = Table(m.group(1), [statement], dict(model.columns),
                                    list(model.indexes))
        elif m := _UNIQUE.match(statement):
            out[m.group(2)].statements.append(statement)
            out[m.group(2)].indexes.append(Index(m.group(1), _columns(m.group(3)), True))
    return out

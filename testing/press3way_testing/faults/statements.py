"""SQL statements as the fault sweep names them: the text with its literals replaced (one
statement whatever its values), the event or status word it carries, and a short slug for
test ids (`pytest tests/faults -k 'drop_after and reserved'`)."""

from __future__ import annotations

import hashlib
import re

from press3way import callstate as cs
from press3way import events as ev

_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_SPACE = re.compile(r"\s+")
# The words a statement's literals may carry that tell its occurrences apart: an event
# (`append_event` is one statement for all of them) or a status (`Store.move`).
_STATUSES = (cs.S_NEW, cs.S_ANSWERED, cs.S_ACCEPTED, cs.S_RESERVED, cs.S_TRANSFER, cs.S_DECLINED,
             cs.S_TOOSLOW, cs.S_DEFEATED, cs.S_HUNGUP, cs.S_AGENTGONE, "PROCESSING")
HINT_WORDS = frozenset(ev.ALL + _STATUSES)
_SHORT_TABLES = {"vicidial_3way_press_live": "live", "vicidial_3way_press_log": "log",
                 "vicidial_3way_press_multi": "multi", "vicidial_live_agents": "live_agents",
                 "vicidial_conferences": "conferences", "vicidial_confbridges": "confbridges",
                 "vicidial_manager": "manager", "information_schema.TABLES": "tables"}


def normalise(sql: str) -> str:
    """The statement with every string and number literal replaced by `?`."""
    text = _STRING.sub("?", sql)
    return _SPACE.sub(" ", _NUMBER.sub("?", text)).strip()


def hint(sql: str) -> str:
    """The first event or status word among the statement's string literals, or ''."""
    for literal in _STRING.findall(sql):
        word = literal[1:-1]
        if word in HINT_WORDS:
            return word
    return ""


def slug(normalised: str) -> str:
    """`UPDATE live SET status, session_id_3way BY call_3way_id` as `update-live-status-
    session_id_3way-by-call_3way_id` (plus a short hash so two statements never share one)."""
    text = normalised
    for table, short in _SHORT_TABLES.items():
        text = text.replace(table, short)
    words = text.split()
    verb = words[0].lower() if words else "empty"
    table = _main_table(words)
    set_columns = re.findall(r"(\w+) = \?", text.split(" WHERE ")[0]) if " SET " in text else []
    where = text.split(" WHERE ", 1)[1] if " WHERE " in text else ""
    keys = re.findall(r"(\w+) (?:=|<>|IN|<|LIKE)", where)
    parts = [verb, table] + set_columns[:3]
    if keys:
        parts += ["by"] + list(dict.fromkeys(keys))[:2]
    digest = hashlib.sha1(normalised.encode()).hexdigest()[:4]
    parts = [re.sub(r"\W+", "_", p).strip("_") for p in parts]
    return "-".join(p for p in parts if p) + "-" + digest


def _main_table(words: list[str]) -> str:
    for keyword in ("INTO", "FROM", "UPDATE"):
        if keyword in words:
            i = words.index(keyword) + 1
            if i < len(words):
                return words[i].strip("(,`")
    return words[1].lower() if len(words) > 1 else ""

"""Our dialplan block inside someone else's dialplan text: insert, find, remove, and refuse
to shadow what the administrator already defined. Pure functions on text.

The block sits between marker comments, so installing twice changes nothing and uninstalling
gives back the exact text that was there before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

BEGIN = "; BEGIN press3way"
END = "; END press3way"
BEGIN_LINE = BEGIN + " (written by `press3way install`; `press3way uninstall` removes it)"

_CONTEXT = re.compile(r"^\[([^\]]+)\]")
_EXTEN = re.compile(r"^(exten|same)\s*=>?\s*(.*)$", re.IGNORECASE)
_LABEL = re.compile(r"\(.*\)$")


class DialplanError(Exception):
    """The target text cannot take our block (a conflict, or broken markers)."""


def source_text() -> str:
    """The dialplan we ship (package data; the repository's extensions_custom.conf)."""
    path = os.path.join(os.path.dirname(__file__), "data", "extensions_custom.conf")
    with open(path, encoding="utf-8") as f:
        return f.read()


def block(source: str) -> str:
    """The marked block for a dialplan source; a source that carries our markers gives its
    own block's body."""
    found = find(source)
    body = source[found[0]:found[1]].split("\n", 1)[1].rsplit(END, 1)[0] if found else source
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{BEGIN_LINE}\n{body}{END}\n"


def find(text: str) -> tuple[int, int] | None:
    """(start, end) of our block, from the BEGIN line's first character to past the END line."""
    start = _line_start(text, BEGIN)
    if start is None:
        return None
    end_line = _line_start(text, END, start)
    if end_line is None:
        raise DialplanError(f"'{BEGIN}' has no matching '{END}' line: fix the markers by hand")
    newline = text.find("\n", end_line)
    return start, len(text) if newline < 0 else newline + 1


def _line_start(text: str, marker: str, after: int = 0) -> int | None:
    m = re.compile(r"^" + re.escape(marker) + r"\b", re.MULTILINE).search(text, after)
    return m.start() if m else None


def insert(text: str, our_block: str) -> str:
    """The text with our block: replaced in place when present, else appended after one line
    break of its own (so `remove` can take back exactly what was added)."""
    conflicts = conflicts_with(text, our_block)
    if conflicts:
        raise DialplanError("the dialplan already defines what press3way needs:\n  "
                            + "\n  ".join(conflicts)
                            + "\nremove or rename those lines (an older 3-way press-1 setup?), "
                              "then install again")
    found = find(text)
    if found:
        return text[:found[0]] + our_block + text[found[1]:]
    return text + "\n" + our_block


def remove(text: str) -> str:
    """The text without our block and the line break `insert` put before it."""
    found = find(text)
    if not found:
        return text
    start = found[0] - 1 if found[0] > 0 and text[found[0] - 1] == "\n" else found[0]
    return text[:start] + text[found[1]:]


def installed(text: str, our_block: str) -> bool:
    found = find(text)
    return bool(found) and text[found[0]:found[1]] == our_block


@dataclass(frozen=True)
class Entry:
    context: str | None     # None: before any [context] header
    exten: str
    priority: str
    line_no: int
    line: str
    app: str                # what the line runs, e.g. `AGI(agi-3way_press_outside.agi,answered)`


def entries(text: str) -> list[Entry]:
    """Every `exten =>`/`same =>` line with its context and its priority as a number:
    `n` counts on from the previous line of that extension."""
    out: list[Entry] = []
    context: str | None = None
    last: dict[tuple[str | None, str], int] = {}
    exten = ""
    for no, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()
        header = _CONTEXT.match(line)
        if header:
            context = header.group(1).strip()
            continue
        m = _EXTEN.match(line)
        if not m:
            continue
        fields = [f.strip() for f in m.group(2).split(",")]
        if m.group(1).lower() == "exten":
            exten, fields = fields[0], fields[1:]
        if not exten or not fields:
            continue
        priority = _LABEL.sub("", fields[0]).strip()
        if priority.isdigit():
            last[(context, exten)] = int(priority)
        elif priority.startswith("n"):
            step = int(priority[2:]) if priority[1:2] == "+" and priority[2:].isdigit() else 1
            last[(context, exten)] = last.get((context, exten), 0) + step
            priority = str(last[(context, exten)])
        out.append(Entry(context, exten, priority, no, raw.strip(), ",".join(fields[1:]).strip()))
    return out


def open_context(text: str) -> str | None:
    """The context lines appended to this text land in."""
    headers = [m.group(1).strip() for m in (_CONTEXT.match(l.strip()) for l in text.splitlines())
               if m]
    return headers[-1] if headers else None


def conflicts_with(text: str, our_block: str) -> list[str]:
    """Our (context, extension, priority) triples the text outside our block already defines.

    Our lines before any context header join the context open at the end of the text."""
    found = find(text)
    outside = text[:found[0]] + text[found[1]:] if found else text
    tail = open_context(outside)
    theirs = {(e.context, e.exten, e.priority): e for e in entries(outside)}
    messages = []
    for ours in entries(our_block):
        key = (ours.context if ours.context is not None else tail, ours.exten, ours.priority)
        if key in theirs:
            e = theirs[key]
            where = f"[{key[0]}]" if key[0] is not None else "(no context)"
            messages.append(f"line {e.line_no}: {where} exten {key[1]} priority {key[2]}: "
                            f"{e.line}")
    return messages

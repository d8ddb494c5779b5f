"""Our dialplan as the simulator runs it: contexts, extension patterns, priorities, apps.

Reads the same `exten => EXTEN,PRIORITY,App(args)` text Asterisk loads (parsed by the
installer's `press3way.admin.block.entries`; `_` patterns with X Z N [..] . !), so the simulator
plays exactly what gets installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from press3way.admin.block import entries

_APP = re.compile(r"^(\w+)(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    priority: int
    app: str
    args: str


class Dialplan:
    def __init__(self, text: str, outer_context: str = "default"):
        """`outer_context` holds the lines before the first [context] header."""
        self.steps: dict[tuple[str, str], dict[int, Step]] = {}
        for entry in entries(text):
            context = entry.context if entry.context is not None else outer_context
            app = _APP.match(entry.app)
            name, args = (app.group(1), app.group(2) or "") if app else (entry.app, "")
            step = Step(context, entry.exten, int(entry.priority), name, args)
            self.steps.setdefault((context, entry.exten), {})[step.priority] = step

    def find(self, context: str, exten: str) -> str | None:
        """The extension entry that `exten` dials in `context`: exact first, then patterns."""
        if (context, exten) in self.steps:
            return exten
        patterns = sorted((e for c, e in self.steps if c == context and e.startswith("_")),
                          key=len, reverse=True)
        return next((p for p in patterns if matches(p, exten)), None)

    def step(self, context: str, entry: str, priority: int) -> Step | None:
        return self.steps.get((context, entry), {}).get(priority)

    def can_match_more(self, context: str, digits: str) -> bool:
        """Could more digits after `digits` still dial an extension of `context`? (Asterisk
        then waits the digit timeout for them before deciding.)"""
        return any(matches_more(exten, digits) for c, exten in self.steps if c == context)


def _elements(pattern: str) -> list[str]:
    """A pattern's positions as regex character classes; '.' and '!' stay themselves."""
    out, body, i = [], pattern[1:], 0
    while i < len(body):
        ch = body[i]
        if ch == "[":
            end = body.index("]", i)
            out.append("[" + body[i + 1:end] + "]")
            i = end
        else:
            out.append({"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}.get(ch, ch if ch in ".!"
                                                                        else re.escape(ch)))
        i += 1
    return out


def matches(pattern: str, exten: str) -> bool:
    """Asterisk extension pattern match: X=0-9, Z=1-9, N=2-9, [..] a set, . one or more,
    ! zero or more."""
    regex = "".join({".": ".+", "!": ".*"}.get(e, e) for e in _elements(pattern))
    return re.fullmatch(regex, exten) is not None


def matches_more(exten: str, digits: str) -> bool:
    """Is `digits` a proper beginning of something `exten` (literal or pattern) matches?"""
    if not exten.startswith("_"):
        return exten.startswith(digits) and len(exten) > len(digits)
    elements = _elements(exten)
    for n, digit in enumerate(digits):
        if n >= len(elements):
            return False
        if elements[n] in (".", "!"):
            return True
        if not re.fullmatch(elements[n], digit):
            return False
    return len(elements) > len(digits)

"""Our dialplan as the simulator runs it: contexts, extension patterns, priorities, apps.

Reads the same `exten => EXTEN,PRIORITY,App(args)` text Asterisk loads (`n` priorities,
`_` patterns with X Z N [..] . !), so the simulator plays exactly what gets installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^\s*exten\s*=>\s*([^,]+),\s*([^,]+),\s*(.*)$", re.I)
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
        context = outer_context
        last: dict[tuple[str, str], int] = {}
        for raw in text.splitlines():
            line = raw.split(";", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                context = line[1:-1].strip()
                continue
            match = _LINE.match(line)
            if not match:
                continue
            exten, prio_text, app_text = (g.strip() for g in match.groups())
            key = (context, exten)
            priority = last.get(key, 0) + 1 if prio_text == "n" else int(prio_text)
            last[key] = priority
            app = _APP.match(app_text)
            name, args = (app.group(1), app.group(2) or "") if app else (app_text, "")
            self.steps.setdefault(key, {})[priority] = Step(context, exten, priority, name, args)

    def contexts(self) -> set[str]:
        return {context for context, _ in self.steps}

    def find(self, context: str, exten: str) -> str | None:
        """The extension entry that `exten` dials in `context`: exact first, then patterns."""
        if (context, exten) in self.steps:
            return exten
        patterns = sorted((e for c, e in self.steps if c == context and e.startswith("_")),
                          key=len, reverse=True)
        return next((p for p in patterns if matches(p, exten)), None)

    def step(self, context: str, entry: str, priority: int) -> Step | None:
        return self.steps.get((context, entry), {}).get(priority)


def matches(pattern: str, exten: str) -> bool:
    """Asterisk extension pattern match: X=0-9, Z=1-9, N=2-9, [..] a set, . one or more, ! zero or more."""
    regex = ""
    body = pattern[1:]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "X":
            regex += "[0-9]"
        elif ch == "Z":
            regex += "[1-9]"
        elif ch == "N":
            regex += "[2-9]"
        elif ch == "[":
            end = body.index("]", i)
            regex += "[" + body[i + 1:end] + "]"
            i = end
        elif ch == ".":
            regex += ".+"
        elif ch == "!":
            regex += ".*"
        else:
            regex += re.escape(ch)
        i += 1
    return re.fullmatch(regex, exten) is not None

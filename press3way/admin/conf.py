"""The dialplan as Asterisk loads it: extensions.conf and every file it `#include`s, each line
in the context it lands in (contexts of the same name merge), `include =>` between contexts,
and which extension a number dialled in a context reaches.

What this models of Asterisk's config reader: an `#include`d file starts in the context open
where it is included, and the including file goes on in its own context afterwards; a relative
include is relative to Asterisk's configuration directory; `#tryinclude` may be missing;
`;` starts a comment unless escaped; `exten => ...,n` counts on from the extension's previous
priority; `same =>` continues the previous extension.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

HEADER = re.compile(r"^\[([^\]]+)\]")
_DIRECTIVE = re.compile(r"^#\s*(include|tryinclude)\s+(.+)$", re.IGNORECASE)
_ASSIGN = re.compile(r"^(exten|same|include)\s*=>?\s*(.*)$", re.IGNORECASE)
_LABEL = re.compile(r"\(.*\)$")
MAX_INCLUDE_DEPTH = 10          # Asterisk's own limit


@dataclass(frozen=True)
class Line:
    """One `exten`/`same` line (kind "exten") or `include =>` line (kind "include")."""
    path: str
    line_no: int
    context: str | None           # None: before any [context] header (Asterisk refuses those)
    kind: str
    exten: str = ""               # for "include": the included context
    priority: str = ""
    app: str = ""                 # what it runs: `AGI(agi-3way_press_outside.agi,answered)`
    text: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line_no}"


@dataclass
class Loaded:
    """Everything one load of the dialplan saw."""
    lines: list[Line] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)   # every file read, in order
    missing: list[str] = field(default_factory=list)      # `#include`d but not there

    def extensions(self, context: str) -> list[Line]:
        return [l for l in self.lines if l.kind == "exten" and l.context == context]

    def includes(self, context: str) -> list[str]:
        return [l.exten for l in self.lines if l.kind == "include" and l.context == context]


def strip_comment(raw: str) -> str:
    return re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()


def parse(text: str) -> Loaded:
    """The lines of one text on its own (no #include followed)."""
    out = Loaded()
    _parse(text, "<text>", None, out, None, {}, 0)
    return out


def load(main: str, replaced: Mapping[str, str] | None = None) -> Loaded:
    """extensions.conf and everything it includes. `replaced` maps a path to the text to read
    instead of the file's (the dialplan as it will be once a change is made)."""
    out = Loaded()
    replaced = {os.path.abspath(k): v for k, v in (replaced or {}).items()}
    text = _read(main, replaced)
    if text is None:
        out.missing.append(main)
        return out
    _parse(text, main, None, out, os.path.dirname(os.path.abspath(main)), replaced, 0)
    return out


def _read(path: str, replaced: Mapping[str, str]) -> str | None:
    if os.path.abspath(path) in replaced:
        return replaced[os.path.abspath(path)]
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def _parse(text: str, path: str, context: str | None, out: Loaded, conf_dir: str | None,
           replaced: Mapping[str, str], depth: int) -> None:
    out.texts[path] = text
    last: dict[tuple[str | None, str], int] = {}
    exten = ""
    for no, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw)
        if header := HEADER.match(line):
            context, exten = header.group(1).strip(), ""
            continue
        if directive := _DIRECTIVE.match(line):
            if conf_dir is not None and depth < MAX_INCLUDE_DEPTH:
                _include(directive, context, out, conf_dir, replaced, depth)
            continue
        m = _ASSIGN.match(line)
        if not m:
            continue
        kind, value = m.group(1).lower(), m.group(2).strip()
        if kind == "include":
            name = re.split(r"[,|]", value, maxsplit=1)[0].strip()
            out.lines.append(Line(path, no, context, "include", name, text=raw.strip()))
            continue
        fields = [f.strip() for f in value.split(",")]
        if kind == "exten":
            exten, fields = fields[0].split("/", 1)[0], fields[1:]
        if not exten or not fields:
            continue
        priority = _LABEL.sub("", fields[0]).strip()
        key = (context, exten)
        if priority.isdigit():
            last[key] = int(priority)
        elif priority.startswith("n"):
            step = int(priority[2:]) if priority[1:2] == "+" and priority[2:].isdigit() else 1
            last[key] = last.get(key, 0) + step
            priority = str(last[key])
        out.lines.append(Line(path, no, context, "exten", exten, priority,
                              ",".join(fields[1:]).strip(), raw.strip()))


def _include(directive: re.Match, context: str | None, out: Loaded, conf_dir: str,
             replaced: Mapping[str, str], depth: int) -> None:
    name = directive.group(2).strip().strip('"')
    pattern = name if os.path.isabs(name) else os.path.join(conf_dir, name)
    paths = sorted(glob.glob(pattern)) if any(c in name for c in "*?[") else [pattern]
    found = False
    for path in paths:
        text = _read(path, replaced)
        if text is not None:
            found = True
            _parse(text, path, context, out, conf_dir, replaced, depth + 1)
    if not found and directive.group(1).lower() == "include":
        out.missing.append(pattern)


# --- which extension a dialled number reaches -----------------------------------------
def pattern_regex(exten: str) -> re.Pattern:
    """Asterisk's extension matching: `_` patterns with X Z N [..] . !; `-` is ignored."""
    if not exten.startswith("_"):
        return re.compile(re.escape(exten.replace("-", "")))
    out, body, i = "", exten[1:], 0
    while i < len(body):
        ch = body[i]
        if ch.upper() in "XZN":
            out += {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}[ch.upper()]
        elif ch == "[" and "]" in body[i:]:
            end = body.index("]", i)
            out += "[" + body[i + 1:end].replace("\\", "\\\\") + "]"
            i = end
        elif ch == ".":
            out += ".+"
        elif ch == "!":
            out += ".*"
        elif ch != "-":
            out += re.escape(ch)
        i += 1
    return re.compile(out)


def matches(exten: str, number: str) -> bool:
    try:
        return pattern_regex(exten).fullmatch(number) is not None
    except re.error:
        return False


def _best(candidates: list[Line]) -> Line:
    """Asterisk prefers an exact extension, then the most specific pattern (fewest wildcards,
    then the longest); ties go to the first loaded."""
    def rank(line: Line) -> tuple:
        if not line.exten.startswith("_"):
            return (0, 0, 0)
        wild = sum(line.exten.count(c) for c in ".!")
        return (1, wild, -len(line.exten))
    return min(candidates, key=rank)


def reach(dialplan: Loaded, context: str, number: str) -> tuple[Line, list[str]] | None:
    """The first-priority line `number` dialled in `context` runs, and the contexts it was
    found through (the context itself first, then its includes, depth first, in order)."""
    return _reach(dialplan, context, number, [])


def _reach(dialplan: Loaded, context: str, number: str, path: list[str]):
    if context in path:
        return None
    path = path + [context]
    own = [l for l in dialplan.extensions(context)
           if l.priority == "1" and matches(l.exten, number)]
    if own:
        return _best(own), path
    for included in dialplan.includes(context):
        found = _reach(dialplan, included, number, path)
        if found:
            return found
    return None


"""Our dialplan block inside someone else's dialplan text: build, insert, find, remove, refuse
to shadow what the administrator already defined, and recognise the reference's block (the
Perl version's lines from VICIdial's document). Pure functions on text.

The block sits between marker comments, so installing twice changes nothing and uninstalling
gives back the exact text that was there before. It opens every context it writes into: the
agent's `_49907.` loop goes into a context of ours that `[default]` includes (the trunk loop
comes back there) and so does each server's `ext_context` (VICIdial's manager originates the
agent's 3-way call there), so the block never adds lines to whatever context the text around
it left open.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from . import conf

BEGIN = "; BEGIN press3way"
END = "; END press3way"
BEGIN_LINE = BEGIN + " (written by `press3way install`; `press3way uninstall` removes it)"
ENTRY_CONTEXT = "press3way-agent-dial"      # where the agent's 49907 dial and its loop land
DIAL_CONTEXT = "default"                    # where VICIdial originates the agent's 3-way call
OUTSIDE_CONTEXT = "xfer_press_dialplan"
SAMPLE_DIAL = "49907917275551212"           # prefix 9, phone code 1, number 7275551212
SAMPLE_LOOP = "499" + SAMPLE_DIAL           # the same call back from ${TRUNKloop}


class DialplanError(Exception):
    """The target text cannot take our block (a conflict, or broken markers)."""


def source_text() -> str:
    """The dialplan we ship (package data; the repository's extensions_custom.conf)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                        "extensions_custom.conf")
    with open(path, encoding="utf-8") as f:
        return f.read()


def block(source: str, dial_contexts: Sequence[str] = (DIAL_CONTEXT,)) -> str:
    """The marked block for a dialplan source: its lines before the first context header go
    into our entry context, which `[default]` and every other context VICIdial dials the
    agent's 3-way call in (`servers.ext_context`) include. A source that carries our markers
    gives its own block back."""
    found = find(source)
    if found:
        body = source[found[0]:found[1]].split("\n", 1)[1].rsplit(END, 1)[0]
        return f"{BEGIN_LINE}\n{body}{END}\n"
    if source and not source.endswith("\n"):
        source += "\n"
    includes = "".join(f"[{context}]\ninclude => {ENTRY_CONTEXT}\n\n"
                       for context in with_default(dial_contexts))
    return (f"{BEGIN_LINE}\n"
            "; the agent leg: VICIdial originates it in servers.ext_context, the loop comes "
            f"back in [{DIAL_CONTEXT}]\n"
            f"{includes}[{ENTRY_CONTEXT}]\n{source}{END}\n")


def with_default(dial_contexts: Iterable[str]) -> list[str]:
    """[default] (where the trunk loop comes back), then the others, each once."""
    return list(dict.fromkeys((DIAL_CONTEXT, *dial_contexts)))


def ours(dial_contexts: Sequence[str] = (DIAL_CONTEXT,)) -> str:
    return block(source_text(), dial_contexts)


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
        reference = find_reference(text)
        if reference:
            first = text.count("\n", 0, reference[0]) + 1
            last = text.count("\n", 0, reference[1] - 1) + 1
            raise DialplanError(f"lines {first}-{last} are the reference's (Perl) 3-way press-1 "
                                "block, which defines the extensions ours does: run `press3way "
                                "install --replace-reference` to replace it with ours (the text "
                                "as it is now is kept in a backup)")
        raise DialplanError("the dialplan already defines what press3way needs: "
                            + "; ".join(conflicts) + "; remove or rename those lines (an "
                            "older 3-way press-1 setup?), then install again")
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


def entries(text: str) -> list[conf.Line]:
    """Every `exten =>`/`same =>` line of a text with its context and numbered priority."""
    return [line for line in conf.parse(text).lines if line.kind == "exten"]


def triples(lines: list[conf.Line]) -> dict[tuple, conf.Line]:
    """(context, extension, priority) of each extension line."""
    return {(l.context, l.exten, l.priority): l for l in lines if l.kind == "exten"}


def conflicts_with(text: str, our_block: str) -> list[str]:
    """Our (context, extension, priority) triples the text outside our block already defines."""
    found = find(text)
    outside = text[:found[0]] + text[found[1]:] if found else text
    return conflicts(triples(entries(outside)), our_block)


def conflicts(theirs: dict[tuple, conf.Line], our_block: str,
              show_path: bool = False) -> list[str]:
    """A line for each of our (context, extension, priority) triples `theirs` also has."""
    messages = []
    for key in triples(entries(our_block)):
        if key in theirs:
            e = theirs[key]
            where = f"[{key[0]}]" if key[0] is not None else "(no context)"
            place = e.where if show_path else f"line {e.line_no}"
            messages.append(f"{place}: {where} exten {key[1]} priority {key[2]}: {e.text}")
    return messages


# --- the reference's block ------------------------------------------------------------
# The shape of the block VICIdial's document has administrators paste (the Perl version):
# each extension line as `extension:application`, and its one context header. Arguments
# (timeouts, prompts) are not compared: sites edit them.
_REFERENCE_SHAPE = (
    "_49907.:Dial", "_49907.:Hangup", "_49949907.:Goto", "_49949907.:Hangup",
    f"[{OUTSIDE_CONTEXT}]",
    "s:Answer", "s:NoOp", "s:NoOp", "s:AGI", "s:Playback", "s:Background", "s:Background",
    "s:Background", "s:WaitExten", "s:AGI", "s:Hangup",
    "1:NoOp", "1:NoOp", "1:AGI", "1:Hangup",
    "t:Playback", "t:Hangup", "i:Playback", "i:Hangup",
    "_49907.:Answer", "_49907.:NoOp", "_49907.:Playback", "_49907.:AGI", "_49907.:Hangup")
_REFERENCE_HEADING = "of outside-agent transfer"
_EXTEN = re.compile(r"^(exten|same)\s*=>?\s*(.*)$", re.IGNORECASE)


def _shape(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, shape token) of each line that is a header or an extension line."""
    out, exten = [], ""
    for i, raw in enumerate(lines):
        line = conf.strip_comment(raw)
        if header := conf.HEADER.match(line):
            out.append((i, f"[{header.group(1).strip()}]"))
            exten = ""
        elif m := _EXTEN.match(line):
            fields = [f.strip() for f in m.group(2).split(",")]
            if m.group(1).lower() == "exten":
                exten, fields = fields[0], fields[1:]
            app = re.match(r"\w*", ",".join(fields[1:]).strip()).group(0) if fields else ""
            out.append((i, f"{exten}:{app}"))
    return out


def find_reference(text: str) -> tuple[int, int] | None:
    """(start, end) of the reference's block in the text: its lines in its order (comments and
    blank lines between them allowed), with the document's heading comment right above it."""
    lines = text.splitlines(keepends=True)
    tokens = _shape(lines)
    size = len(_REFERENCE_SHAPE)
    for k in range(len(tokens) - size + 1):
        if tuple(t for _, t in tokens[k:k + size]) != _REFERENCE_SHAPE:
            continue
        first, last = tokens[k][0], tokens[k + size - 1][0]
        while first > 0 and _REFERENCE_HEADING in lines[first - 1] \
                and lines[first - 1].strip().startswith(";"):
            first -= 1
        start = sum(len(l) for l in lines[:first])
        return start, start + sum(len(l) for l in lines[first:last + 1])
    return None


def replace_reference(text: str, our_block: str) -> str:
    """The text with the reference's block replaced by ours where it was, after a line break
    of its own as `insert` does (so `remove` takes back exactly ours); if ours is there
    already, the reference's block just goes."""
    found = find_reference(text)
    if not found:
        return text
    rest = text[:found[0]] + text[found[1]:]
    return rest if find(rest) else text[:found[0]] + "\n" + our_block + text[found[1]:]

"""Where our dialplan block lands in the dialplan Asterisk loads, and whether the agent's 49907
dial from `default` reaches it: one result per item, OK or the exact fix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from . import block, conf
from .results import Result

MAIN = "extensions.conf"
MISSING_INCLUDE = "dialplan file #included from"


@dataclass
class Placement:
    """Our block in one loaded file: its path and first and last line numbers."""
    path: str
    first: int
    last: int
    current: bool                  # exactly the block this version installs

    def holds(self, line: conf.Line) -> bool:
        return line.path == self.path and self.first <= line.line_no <= self.last


def placements(dialplan: conf.Loaded, ours: str) -> list[Placement]:
    out = []
    for path, text in dialplan.texts.items():
        try:
            found = block.find(text)
        except block.DialplanError:
            continue
        if found:
            first = text.count("\n", 0, found[0]) + 1
            last = text.count("\n", 0, found[1] - 1) + 1
            out.append(Placement(path, first, last, text[found[0]:found[1]] == ours))
    return out


def judge(asterisk_dir: str, not_loaded_fix: str, outdated_fix: str, ours: str,
          dialplan: conf.Loaded | None = None,
          dial_contexts: Sequence[str] = (block.DIAL_CONTEXT,)) -> list[Result]:
    """The results for the dialplan under `asterisk_dir` (or `dialplan`, already loaded); the
    fixes are the target's: what to do when no loaded file has the block, or an old one.
    `ours` is the block the target holds (per-call or FastAGI): a loaded file with the other
    mode's block has not caught up yet. The agent's dial is followed from each of
    `dial_contexts` (the servers' ext_context, where VICIdial originates it)."""
    main = os.path.join(asterisk_dir, MAIN)
    dialplan = dialplan or conf.load(main)
    if main in dialplan.missing:
        return [Result("dialplan as Asterisk loads it", False,
                       f"{main} not found: give --asterisk-dir, Asterisk's configuration "
                       "directory")]
    results = [Result(f"{MISSING_INCLUDE} {main}", False,
                      f"{path} is missing: create it or remove its #include line")
               for path in dialplan.missing]
    found = placements(dialplan, ours)
    if not found:
        return results + [Result("block loaded by Asterisk", False, not_loaded_fix)]
    where = ", ".join(f"{p.path}:{p.first}-{p.last}" for p in found)
    if len(found) > 1:
        results.append(Result("block loaded by Asterisk", False,
                              f"loaded more than once ({where}): remove all but one"))
    elif not found[0].current:
        results.append(Result("block loaded by Asterisk", False,
                              f"{where} holds another version: {outdated_fix}"))
    else:
        results.append(Result("block loaded by Asterisk", True, where))
    contexts = block.with_default(dial_contexts)
    return results + _lands(dialplan, found, ours, contexts) + _routes(dialplan, found, contexts)


def _lands(dialplan: conf.Loaded, found: list[Placement], ours: str,
           dial_contexts: list[str]) -> list[Result]:
    """Which contexts the block's lines are in, and that nobody else defines the same ones."""
    mine = [l for l in dialplan.lines if any(p.holds(l) for p in found)]
    contexts = ", ".join(f"[{c}]" for c in dict.fromkeys(l.context for l in mine
                                                           if l.kind == "exten"))
    stray = [l for l in mine if l.context is None]
    including = ", ".join(f"[{c}]" for c in dial_contexts)
    verb = "includes" if len(dial_contexts) == 1 else "include"
    results = [Result("block's contexts", not stray,
                      f"{contexts}; {including} {verb} {block.ENTRY_CONTEXT}"
                      if not stray else
                      f"{stray[0].where} is outside any context: the block was edited, "
                      "run `press3way install` again")]
    theirs = block.triples([l for l in dialplan.lines if not any(p.holds(l) for p in found)])
    clashes = block.conflicts(theirs, ours, show_path=True)
    results.append(Result("no other lines in the block's extensions", not clashes,
                          "" if not clashes else
                          "; ".join(clashes) + ": Asterisk keeps only the first of each, remove "
                                               "or rename the others (an older 3-way setup?)"))
    return results


def _routes(dialplan: conf.Loaded, found: list[Placement],
            dial_contexts: list[str]) -> list[Result]:
    """Follow the calls: the agent's dial from each context VICIdial originates it in, its
    trunk loop back into `default` (the loop trunk's context), the outside call's `s` in
    xfer_press_dialplan."""
    checks = tuple(
        (f"agent's dial {block.SAMPLE_DIAL} from [{context}]", context, block.SAMPLE_DIAL,
         block.ENTRY_CONTEXT) for context in dial_contexts) + (
        (f"trunk loop {block.SAMPLE_LOOP} back into [{block.DIAL_CONTEXT}]", block.DIAL_CONTEXT,
         block.SAMPLE_LOOP, block.ENTRY_CONTEXT),
        (f"agent leg {block.SAMPLE_DIAL} in [{block.OUTSIDE_CONTEXT}]", block.OUTSIDE_CONTEXT,
         block.SAMPLE_DIAL, block.OUTSIDE_CONTEXT),
        (f"outside call s in [{block.OUTSIDE_CONTEXT}]", block.OUTSIDE_CONTEXT, "s",
         block.OUTSIDE_CONTEXT))
    results = []
    for item, context, number, expected in checks:
        reached = conf.reach(dialplan, context, number)
        if reached is None:
            results.append(Result(item, False, f"reaches no extension: [{context}] must "
                                               f"include {expected} (run `press3way install`)"))
            continue
        line, path = reached
        via = " -> ".join(f"[{c}]" for c in path)
        if line.context == expected and any(p.holds(line) for p in found):
            results.append(Result(item, True, f"{via} exten {line.exten} ({line.where})"))
        else:
            results.append(Result(item, False,
                                  f"reaches {via} exten {line.exten} at {line.where} first: "
                                  "remove or rename that line, or make it not match"))
    return results

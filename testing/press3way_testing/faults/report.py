"""The sweep's figures: one summary line for the test run, and the violations grouped by class
(the invariant broken, with ids, numbers and times taken out) with the cases that broke it."""

from __future__ import annotations

import re
from collections import defaultdict

from press3way_testing.faults.cases import MODES, distinct_statements
from press3way_testing.faults.proxy import ACTIONS
from press3way_testing.faults.runner import Outcome
from press3way_testing.faults.statements import slug

_VARIABLE = re.compile(r"T[0-9A-Z]{8}[A-J]\d{10}|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\b\d+(\.\d+)?\b"
                       r"|Local/[^ ,']+|\([^()]*\)")
# Violations whose text names the statement after their class (one class for all of them).
_CLASS_ENDS = ("(no read timeout)",)


def summary_line(outcomes: list[Outcome]) -> str:
    """`fault sweep: per-call: N fault runs (...) over S distinct statements, V invariant
    violations in R runs; FastAGI: M fault runs ...` (a mode with no run is left out)."""
    parts = [f"{mode}: {_figures([o for o in outcomes if o.case.mode == mode])}"
             for mode in MODES if any(o.case.mode == mode for o in outcomes)]
    return "fault sweep: " + "; ".join(parts)


def _figures(outcomes: list[Outcome]) -> str:
    runs = len(outcomes)
    unfired = sum(1 for o in outcomes if o.case.kind in ACTIONS and o.fired is None)
    violations = sum(len(o.violations) for o in outcomes)
    failing = sum(1 for o in outcomes if o.violations)
    kinds = defaultdict(int)
    for o in outcomes:
        kinds[o.case.kind] += 1
    split = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return (f"{runs} fault runs ({split}) over "
            f"{distinct_statements([o.case for o in outcomes])} distinct statements, "
            f"{violations} invariant violations in {failing} runs"
            + (f", {unfired} faults never fired" if unfired else ""))


def violation_class(text: str) -> str:
    """The violation without what changes from run to run."""
    for end in _CLASS_ENDS:
        if end in text:
            text = text[:text.index(end) + len(end)]
    return _VARIABLE.sub("#", text)[:160]


def _where(case) -> str:
    """`multi:update-live-status-...-34b4/DEFEATED`, `single:command-2`, `single:accepted`."""
    parts = [p for p in (case.at, slug(case.statement) if case.statement else "") if p]
    return f"{case.scenario}:{' '.join(parts)}" + (f"/{case.hint}" if case.hint else "")


def details(outcomes: list[Outcome]) -> str:
    classes: dict[tuple[str, str], list[tuple[Outcome, str]]] = defaultdict(list)
    for o in outcomes:
        for v in o.violations:
            classes[(o.case.kind, violation_class(v))].append((o, v))
    lines = [summary_line(outcomes), ""]
    for (kind, cls), hits in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"[{kind}] {cls}   ({len(hits)} runs)")
        engines = sorted({f"{o.case.engine} {o.case.mode}" for o, _ in hits})
        lines.append(f"    engines: {', '.join(engines)}")
        where = sorted({_where(o.case) for o, _ in hits})
        lines.append(f"    at: {', '.join(where)}")
        for o, v in hits[:6]:
            fired = f"  <- {o.fired.sql[:160]}" if o.fired else ""
            lines.append(f"    {o.case.id}: {v[:240]}{fired}")
        lines.append("")
    lines.append("All runs:")
    lines += [f"  {o.case.id}  {o.seconds:.1f}s  {len(o.violations)} violations"
              + ("" if o.fired or o.case.kind not in ACTIONS else "  (fault never fired)")
              for o in outcomes]
    return "\n".join(lines) + "\n"

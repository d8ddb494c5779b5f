"""What every whole call must leave behind, whatever fault hit it
(docs/behaviour.md: "Events", "Call states", "The agent leg", "The outside leg", "Winner election").

`check` returns one line per broken invariant (an empty list: the call was sound). It reads
the simulator's result (the log rows, where each channel ended, the timeline, the AGI runs),
the database (live rows, conferences) and the AGI log files of the run.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass

from press3way import events as ev
from press3way.database import query
from press3way.tables import LIVE
from press3way_testing.sim import SimResult

# Events that, when present, come in this order (docs/behaviour.md, "Events").
ORDER = (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED, ev.TRANSFER)
# What a Transfer must have been preceded by.
BEFORE_TRANSFER = (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED)
_CONFERENCE = re.compile(r"in conference (\d+)")
CONFERENCE_TABLES = ("vicidial_conferences", "vicidial_confbridges")


@dataclass(frozen=True)
class Relaxed:
    """Invariants a run cannot keep by design: while another connection holds the feature
    tables locked nothing can be written, so a call hung up then may end unlogged (the
    `press3way cleanup` cron ends it later); it must still end, and never wrongly."""
    unlogged_ends: bool = False


def check(result: SimResult, conn, logs_dir: str, caller_code: str,
          relaxed: Relaxed = Relaxed()) -> list[str]:
    found: list[str] = []
    found += log_rows(result, relaxed)
    found += leftovers(conn, caller_code, relaxed)
    found += channels(result)
    found += agi_runs(result, logs_dir)
    return found


def log_rows(result: SimResult, relaxed: Relaxed) -> list[str]:
    """One row per call, exactly one terminal event, no event twice, the order of section 2,
    call_transfer = 'Y' exactly with Transfer."""
    found = []
    rows_per_call: dict[str, int] = {}
    for row in result.log_rows:
        rows_per_call[row["call_3way_id"]] = rows_per_call.get(row["call_3way_id"], 0) + 1
    for call_id, n in rows_per_call.items():
        if n > 1:
            found.append(f"one call, {n} log rows: {call_id}")
    for row in result.log_rows:
        who = f"{row['phone_number']} ({row['result']})"
        events = [e for e, _ in ev.parse_result(row["result"])]
        if not events or events[0] != ev.STARTED:
            found.append(f"log row does not start with Started: {who}")
        twice = sorted({e for e in events if events.count(e) > 1})
        if twice:
            found.append(f"event appended twice ({', '.join(twice)}): {who}")
        ends = [e for e in events if e in ev.TERMINAL]
        if len(ends) > 1 or (not ends and not relaxed.unlogged_ends):
            found.append(f"{len(ends)} terminal events, expected exactly 1: {who}")
        if ends and events[-1] not in ev.TERMINAL:
            found.append(f"event after the terminal event: {who}")
        positions = [events.index(e) for e in ORDER if e in events]
        if positions != sorted(positions):
            found.append(f"events out of order (Started < Answered < Accepted < Reserved < "
                         f"Transfer): {who}")
        if ev.TRANSFER in events:
            missing = [e for e in BEFORE_TRANSFER if e not in events]
            if missing:
                found.append(f"Transfer without {', '.join(missing)}: {who}")
        if (row["call_transfer"] == "Y") != (ev.TRANSFER in events):
            found.append(f"call_transfer={row['call_transfer']!r} but Transfer "
                         f"{'present' if ev.TRANSFER in events else 'absent'}: {who}")
    return found


def leftovers(conn, caller_code: str, relaxed: Relaxed) -> list[str]:
    """No live row and no conference still reserved (Local/8300..., leave_3way '0')."""
    found = []
    if not relaxed.unlogged_ends:
        live = query(conn, f"SELECT call_3way_id, status FROM {LIVE} WHERE caller_code = %s",
                     (caller_code,))
        if live:
            found.append("live rows left: " + ", ".join(f"{r['call_3way_id']} {r['status']}"
                                                          for r in live))
    for table in CONFERENCE_TABLES:
        reserved = query(conn, f"SELECT conf_exten, extension FROM {table} WHERE extension "
                               "LIKE %s AND leave_3way = '0'", ("Local/8300%",))
        if reserved:
            found.append(f"conference left reserved in {table}: " +
                         ", ".join(f"{r['conf_exten']} {r['extension']}" for r in reserved))
    return found


def channels(result: SimResult) -> list[str]:
    """Where the channels ended agrees with itself and with the log: nobody sent into a
    conference nobody else joins, no party bridged while the agent leg heard buzz, a call is
    logged Transfer exactly when its channel ended in the conference."""
    found = []
    ends = result.calls
    for label, end in ends.items():
        if not end:
            found.append(f"channel {label} never ended")
    agent_conf = _conference(ends.get("agent", ""))
    joined = {label: _conference(end) for label, end in ends.items() if label != "agent"}
    in_conf = {label: conf for label, conf in joined.items() if conf}
    agent_buzz = any(who == "agent" and "STREAM FILE buzz" in text
                     for _, who, text in result.timeline)
    if agent_conf and agent_conf not in in_conf.values():
        found.append(f"agent leg sent into conference {agent_conf}, which no outside party joins")
    if agent_conf and agent_buzz:
        found.append(f"agent leg heard buzz, then went into conference {agent_conf}")
    for label, conf in in_conf.items():
        if conf != agent_conf:
            found.append(f"{label} sent into conference {conf}, but the agent leg "
                         f"{'is in ' + agent_conf if agent_conf else 'never joined it'}")
        if agent_buzz:
            found.append(f"{label} bridged into conference {conf} while the agent leg heard buzz")
    if len(in_conf) > 1:
        found.append(f"more than one party bridged: {sorted(in_conf)}")
    by_phone = {row["phone_number"]: row for row in result.log_rows}
    for label, conf in joined.items():
        row = by_phone.get(label)
        transfer = row is not None and ev.TRANSFER in (row["result"] or "")
        if bool(conf) != transfer:
            found.append(f"{label} ended {ends[label]!r} but its log says "
                         f"{row['result'] if row else 'nothing'}")
    return found


def agi_runs(result: SimResult, logs_dir: str) -> list[str]:
    """Every AGI run ended by itself (exit 0 or 1), and every failing one left a log line
    that says something (never a bare `ERROR: `).

    Killed by the SIGHUP of its own channel's hang-up is an ending too: it happens when the
    signal lands before the script installs its handler or after Python's shutdown has put
    the default one back (nothing is left to do then); the rows and channels show any harm.
    """
    found = []
    lines = _agi_log_lines(logs_dir)
    errors = [line for line in lines if "|ERROR: " in line]
    empty = [line for line in errors if not line.split("|ERROR: ", 1)[1].strip()]
    if empty:
        found.append(f"{len(empty)} empty AGI log lines, e.g. {empty[0]!r}")
    for run in result.agi_runs:
        if run.exit_code not in (0, 1, -signal.SIGHUP):
            found.append(f"{run.label} {run.args}: exit code {run.exit_code}")
        elif run.exit_code == 1:
            script = run.args.split(",", 1)[0]
            if not any(f"|{script}|" in line and line.split("|ERROR: ", 1)[1].strip()
                       for line in errors):
                found.append(f"{run.label} {run.args} failed without an AGI log line saying why")
    return found


def _conference(end: str) -> str:
    m = _CONFERENCE.search(end or "")
    return m.group(1) if m else ""


def _agi_log_lines(logs_dir: str) -> list[str]:
    lines: list[str] = []
    for name in sorted(os.listdir(logs_dir)):
        if name.startswith("agiout."):
            with open(os.path.join(logs_dir, name), encoding="utf-8", errors="replace") as f:
                lines += f.read().splitlines()
    return lines

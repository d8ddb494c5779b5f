"""The call path's statements on the feature tables (the live row, the log row, the
multi-call list), all parameterised, through one connection. Which status may follow which,
and the winner's election, are in `callstate`."""

from __future__ import annotations

from . import callstate as cs
from . import events as ev
from .callstate import Election
from .database import execute, query, schema_statements
from .lean_dataclass import lean_dataclass
from .tables import LIVE, LOG, MULTI

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Any, Iterable, Sequence

    import pymysql

    from .database import Check

# The outside leg calls the agent leg gone when its heartbeat is older than this.
HEARTBEAT_STALE_S = 9
# The user's multi-call list is dialled only this fresh (the agent API arms it just before).
MULTI_MAX_AGE_S = 300
_NOW_TEXT = "DATE_FORMAT(NOW(), '%%Y-%%m-%%d %%H:%%i:%%s')"
TERMINAL_RE = "|".join(f"{e}:" for e in ev.TERMINAL)
# Log columns written with an event (`append_event(also=...)`): identifiers come from here only.
_LOGGED_WITH_EVENTS = {c: c for c in ("call_transfer", "session_id_3way", "call_channel")}


@lean_dataclass
class Call:
    """One outside call: the columns the agent leg writes when it starts it."""
    caller_code: str
    call_3way_id: str
    lead_id: int
    phone_number: str
    dialstring: str
    outbound_cid: str
    user: str
    session_id: str
    server_ip: str



def _appending(events: Sequence[str]) -> tuple[str, list[str]]:
    """SQL for `result` with each event appended (`|Event: now`) unless already there."""
    text, params = "result", []
    for event in events:
        text = f"CONCAT({text}, IF(LOCATE(%s, result) = 0, CONCAT(%s, %s, ': ', {_NOW_TEXT}), ''))"
        params += [f"{event}:", ev.SEPARATOR, event]
    return text, params


class Store(Election):
    """The feature tables seen through one connection."""

    def __init__(self, conn: pymysql.Connection):
        self.conn = conn
        self._engine: str | None = None
        self._in_transaction = False    # or inside a named lock: a lost connection is raised

    def _run(self, sql: str, params: Iterable[Any] = (), check: Check | None = None) -> int:
        return execute(self.conn, sql, params, check=check, in_transaction=self._in_transaction)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        return query(self.conn, sql, params, in_transaction=self._in_transaction)

    def create_tables(self, engine: str = "InnoDB") -> None:
        for statement in schema_statements(engine):
            self._run(statement)

    # --- starting calls (agent leg) -------------------------------------------------
    def start_call(self, call: Call) -> None:
        """Insert the live row (NEW, heartbeat now) and the log row (`Started: ...`). Only
        this agent leg writes this call id, so a plain INSERT is safe; after a lost reply
        the row is looked for before a rerun, so there is never a second one. (Not `INSERT
        ... SELECT ... WHERE NOT EXISTS`: on InnoDB its read takes gap locks, and agent legs
        starting in the same instant, their ids adjacent in the index, deadlocked.)
        call_date in whole seconds: VICIdial's report selects `<= 'day 23:59:59'`."""
        values = (call.caller_code, call.call_3way_id, call.lead_id, call.phone_number,
                  call.dialstring, call.outbound_cid, call.user, call.session_id, call.server_ip)
        columns = ("call_date, caller_code, call_3way_id, lead_id, phone_number, dialstring, "
                   "outbound_cid, user, session_id, server_ip")
        placeholders = ", ".join(["%s"] * len(values))
        self._insert_once(LIVE, call.call_3way_id,
                          f"({columns}, status, agent_heartbeat) VALUES (NOW(), "
                          f"{placeholders}, %s, NOW())", values + (cs.S_NEW,))
        self._insert_once(LOG, call.call_3way_id,
                          f"({columns}, result) VALUES (NOW(), {placeholders}, "
                          f"CONCAT(%s, ': ', {_NOW_TEXT}))", values + (ev.STARTED,))

    def _insert_once(self, table: str, call_id: str, rest: str, params: tuple) -> None:
        """INSERT INTO `table` `rest`; after a lost reply, rerun only if `call_id` has no row."""
        self._run(f"INSERT INTO {table} {rest}", params,
                  check=lambda: self._rows(f"SELECT 1 FROM {table} WHERE call_3way_id = %s",
                                           (call_id,)))

    # --- events and statuses --------------------------------------------------------
    def append_event(self, call_id: str, event: str, *, before: Iterable[str] = (),
                     also: dict[str, str] | None = None) -> bool:
        """Append `|Event: now` unless the call already has this event or has ended; True
        when the call now has the event.

        `before` are events that must precede it: each is appended first unless present, in
        the same statement, so the log's order holds whichever leg writes first. The guard
        lives in the UPDATE itself, so two legs racing to end one call leave exactly one
        terminal event; rerunning it changes nothing.
        """
        text, params = _appending((*before, event))
        for column, value in (also or {}).items():    # the event's own columns, same step
            text += f", {_LOGGED_WITH_EVENTS[column]} = %s"
            params.append(value)
        return self._run(
            f"UPDATE {LOG} SET result = {text} "
            "WHERE call_3way_id = %s AND LOCATE(%s, result) = 0 AND result NOT REGEXP %s",
            params + [call_id, f"{event}:", TERMINAL_RE],
            check=lambda: self.has_event(call_id, event)) > 0

    def log_defeated(self, call_ids: Sequence[str]) -> None:
        """`Defeated` for these calls (the winner's batch mates), each unless it has ended
        otherwise: one guarded statement, which a rerun leaves as it is."""
        if not call_ids:
            return
        text, params = _appending((ev.DEFEATED,))
        self._run(f"UPDATE {LOG} SET result = {text} WHERE call_3way_id IN "
                  f"({', '.join(['%s'] * len(call_ids))}) "
                  "AND LOCATE(%s, result) = 0 AND result NOT REGEXP %s",
                  params + [*call_ids, f"{ev.DEFEATED}:", TERMINAL_RE])

    def has_event(self, call_id: str, event: str) -> bool:
        rows = self._rows(f"SELECT LOCATE(%s, result) > 0 AS has FROM {LOG} "
                          "WHERE call_3way_id = %s", (f"{event}:", call_id))
        return bool(rows and rows[0]["has"])

    def move(self, call_id: str, name: str) -> bool:
        """Make one of `callstate.MOVES` on a live row: its status, only from the statuses the
        move starts from; True when the row now has it."""
        move = cs.MOVES[name]
        return self._run(f"UPDATE {LIVE} SET status = %s WHERE call_3way_id = %s "
                         f"AND status IN ({', '.join(['%s'] * len(move.from_))})",
                         (move.to, call_id, *move.from_),
                         check=lambda: self.status(call_id) == move.to) > 0

    def status(self, call_id: str) -> str | None:
        rows = self._rows(f"SELECT status FROM {LIVE} WHERE call_3way_id = %s", (call_id,))
        return rows[0]["status"] if rows else None

    def end_call(self, call_id: str, move: str, event: str) -> bool:
        """Finish an unfinished call: the status `move` writes, and its terminal event if it
        has none yet. True when this event is the call's terminal one."""
        self.move(call_id, move)
        return self.append_event(call_id, event)

    def answered(self, call_id: str, channel: str) -> bool:
        """The party answered on `channel`, in one statement on both tables: the live row
        ANSWERED (unless already further on) and the log's `Answered` with the channel,
        only while the agent leg's heartbeat is fresh. A rerun changes nothing. False when
        nothing changed: no such call, the agent leg gone, or this was done already."""
        text, params = _appending((ev.ANSWERED,))
        return self._run(
            f"UPDATE {LIVE} l JOIN {LOG} g ON g.call_3way_id = l.call_3way_id "
            "SET l.call_channel = %s, l.status = IF(l.status = %s, %s, l.status), "
            f"g.call_channel = %s, g.result = IF(g.result REGEXP %s, g.result, {text}) "
            "WHERE l.call_3way_id = %s AND l.agent_heartbeat >= NOW() - INTERVAL %s SECOND",
            [channel, cs.S_NEW, cs.S_ANSWERED, channel, TERMINAL_RE, *params, call_id,
             HEARTBEAT_STALE_S]) > 0

    def mark_transfer(self, call_id: str, conf_exten: str) -> bool:
        """`Transfer`, call_transfer='Y' and the conference in one statement (after Accepted
        and Reserved); False when the call had already ended otherwise (the agent leg gave
        up on it)."""
        return self.append_event(call_id, ev.TRANSFER, before=(ev.ACCEPTED, ev.RESERVED),
                                 also={"call_transfer": "Y", "session_id_3way": conf_exten})

    def reserve(self, call_id: str, conf_exten: str) -> bool:
        """The agent leg hands the winner its conference: True when the row now holds it."""
        move = cs.MOVES["reserve"]
        done = self._run(f"UPDATE {LIVE} SET status = %s, session_id_3way = %s "
                         "WHERE call_3way_id = %s AND status = %s",
                         (move.to, conf_exten, call_id, *move.from_),
                         check=lambda: self._holds(call_id, conf_exten)
                         or self.has_event(call_id, ev.TRANSFER)) > 0
        return done

    def log_reserved(self, call_id: str, conf_exten: str) -> None:
        """The reservation in the log (after the hand-over: nothing slow stands between the
        reservation and the transfer; the winner's Transfer brings Reserved if it is first)."""
        self.append_event(call_id, ev.RESERVED, before=(ev.ACCEPTED,),
                          also={"session_id_3way": conf_exten})

    def hand_over(self, call_id: str) -> bool:
        """The agent leg is on its way into the reserved conference: the winner may follow."""
        return self.move(call_id, "hand_over")

    def _holds(self, call_id: str, conf_exten: str) -> bool:
        """The live row holds this conference (a winner that already took it may have
        removed its row: see `reserve`)."""
        rows = self._rows(f"SELECT status, session_id_3way FROM {LIVE} WHERE call_3way_id = %s",
                          (call_id,))
        return bool(rows) and rows[0]["status"] in (cs.S_RESERVED, cs.S_TRANSFER) \
            and rows[0]["session_id_3way"] == conf_exten

    # --- reading live rows ----------------------------------------------------------
    def live_call(self, call_id: str) -> dict | None:
        """The live row plus `agent_gone`: its heartbeat is stale (judged by the DB clock)."""
        rows = self._rows(
            f"SELECT *, (agent_heartbeat IS NULL OR agent_heartbeat < NOW() - INTERVAL %s SECOND)"
            f" AS agent_gone FROM {LIVE} WHERE call_3way_id = %s LIMIT 1",
            (HEARTBEAT_STALE_S, call_id))
        return rows[0] if rows else None

    def batch(self, caller_code: str) -> list[dict]:
        return self._rows(f"SELECT call_3way_id, status, session_id_3way, call_channel "
                          f"FROM {LIVE} WHERE caller_code = %s ORDER BY call_date, call_3way_id",
                          (caller_code,))

    def touch_heartbeat(self, caller_code: str) -> None:
        self._run(f"UPDATE {LIVE} SET agent_heartbeat = NOW() WHERE caller_code = %s",
                  (caller_code,))

    def delete_live(self, call_id: str) -> int:
        return self._delete_logged("l.call_3way_id = %s", (call_id,))

    def delete_calls(self, call_ids: Sequence[str]) -> int:
        if not call_ids:
            return 0
        return self._delete_logged(f"l.call_3way_id IN ({', '.join(['%s'] * len(call_ids))})",
                                   call_ids)

    def delete_batch(self, caller_code: str) -> int:
        return self._delete_logged("l.caller_code = %s", (caller_code,))

    def _delete_logged(self, where: str, params: Sequence[str]) -> int:
        """Delete the live rows `where` (alias l) whose log row has its ending, or that have
        no log row (never placed); how many stay. A row whose log still owes it (a backup
        held the log locked) stays: `press3way cleanup` writes what is owed, then removes it.

        Read first, then delete by id: a DELETE joined to the log reads it with InnoDB's
        shared next-key locks, which held up the log INSERTs of agent legs starting at the
        same moment past their 1 s lock wait. An ending, once there, never goes away."""
        rows = self._rows(
            f"SELECT l.call_3way_id, (g.call_3way_id IS NULL OR g.result REGEXP %s) AS ended "
            f"FROM {LIVE} l LEFT JOIN {LOG} g ON g.call_3way_id = l.call_3way_id WHERE {where}",
            (TERMINAL_RE, *params))
        ended = [r["call_3way_id"] for r in rows if r["ended"]]
        if ended:
            self._run(f"DELETE FROM {LIVE} WHERE call_3way_id IN "
                      f"({', '.join(['%s'] * len(ended))})", ended)
        return len(rows) - len(ended)

    def leave_call(self, call_id: str) -> None:
        """`leave_batch` for one call: a winner that went in with its Transfer unlogged."""
        self._run(f"UPDATE {LIVE} SET agent_heartbeat = NOW() - INTERVAL 1 DAY "
                  "WHERE call_3way_id = %s", (call_id,))

    def leave_batch(self, caller_code: str) -> None:
        """The agent leg is gone, leaving rows its log still owes: their heartbeat is put a
        day back, so the outside legs see it gone and the next `press3way cleanup` ends them
        (not a minute later, when the heartbeat would have gone stale by itself)."""
        self._run(f"UPDATE {LIVE} SET agent_heartbeat = NOW() - INTERVAL 1 DAY "
                  f"WHERE caller_code = %s AND status NOT IN ({', '.join(['%s'] * len(cs.WON))})",
                  (caller_code, *cs.WON))     # a winner still on its way keeps its heartbeat

    def catch_up(self, row: dict, before: Sequence[str], ending: str) -> bool:
        """Write what a call's log owes (`callstate.owed_events` of its live `row`), in
        order, in one guarded statement: nothing after an ending it already has. True when
        the ending is new."""
        also = {"call_channel": row["call_channel"]} if row["call_channel"] else {}
        if ending == ev.TRANSFER:
            also.update(call_transfer="Y", session_id_3way=row["session_id_3way"] or "")
        return self.append_event(row["call_3way_id"], ending, before=before, also=also)

    # --- multi-call list -------------------------------------------------------------
    def arm_multi(self, user: str, phones: list[str]) -> None:
        """What VICIdial's agent API does with multi_dial_phones: the user's next 3-way call
        dials these numbers (status NEW)."""
        self._run(f"REPLACE INTO {MULTI} (user, call_date, phone_numbers, phone_numbers_ct, "
                  "status) VALUES (%s, NOW(), %s, %s, 'NEW')",
                  (user, ",".join(phones), len(phones)))

    def claim_multi(self, user: str) -> tuple[list[str] | None, str]:
        """Take the user's NEW multi-call list (NEW -> PROCESSING): (its numbers, or None,
        and why not). A list older than MULTI_MAX_AGE_S is marked EXPIRED, not dialled."""
        rows = self._rows(f"SELECT phone_numbers, call_date, "
                          f"(call_date < NOW() - INTERVAL %s SECOND) AS expired FROM {MULTI} "
                          "WHERE user = %s AND status = 'NEW'", (MULTI_MAX_AGE_S, user))
        if not rows:
            return None, ""
        armed = rows[0]["call_date"]
        status = "EXPIRED" if rows[0]["expired"] else "PROCESSING"
        claimed = self._run(
            f"UPDATE {MULTI} SET status = %s WHERE user = %s AND status = 'NEW' "
            "AND call_date <=> %s", (status, user, armed),
            check=lambda: self._rows(f"SELECT 1 FROM {MULTI} WHERE user = %s AND status = %s "
                                     "AND call_date <=> %s", (user, status, armed)))
        if not claimed:
            return None, "the list changed while it was being taken"
        if status == "EXPIRED":
            return None, f"the list armed at {armed} is older than {MULTI_MAX_AGE_S} s: expired"
        return [p.strip() for p in (rows[0]["phone_numbers"] or "").split(",") if p.strip()], ""

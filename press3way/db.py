"""Database connections and every statement on the four feature tables, all parameterised."""

from __future__ import annotations

import os

import pymysql
import pymysql.cursors

from . import events as ev
from .telephony import hangup
from .record import record

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from datetime import datetime
    from typing import Any, Callable, Iterable, Sequence

    from .config import Config

    Check = Callable[[], Any]

LIVE = "vicidial_3way_press_live"
LOG = "vicidial_3way_press_log"
ARCHIVE = "vicidial_3way_press_log_archive"
MULTI = "vicidial_3way_press_multi"
FEATURE_TABLES = (LIVE, LOG, ARCHIVE, MULTI)

# The outside leg calls the agent leg gone when its heartbeat is older than this.
HEARTBEAT_STALE_S = 9
_NOW_TEXT = "DATE_FORMAT(NOW(), '%%Y-%%m-%%d %%H:%%i:%%s')"
_TERMINAL_RE = "|".join(f"{e}:" for e in ev.TERMINAL)
# Log columns written with an event (`append_event(also=...)`): identifiers come from here only.
_LOGGED_WITH_EVENTS = {c: c for c in ("call_transfer", "session_id_3way", "call_channel")}


class DatabaseError(Exception):
    """The database is unreachable or refused a statement."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


# InnoDB may pick any statement as a deadlock victim; it is rolled back and can simply rerun.
# A lock wait timeout is not retried: the lock's holder (a backup, say) will not be gone soon.
_DEADLOCK = 1213
_ATTEMPTS = 3
# The connection is gone (server restarted, KILL, network, our read timeout).
_CONNECTION_LOST = (0, 1927, 2006, 2013, 2055, 4031)
# Every statement is bounded: the server gives up a lock wait first (so a statement we stopped
# waiting for can never apply later), then the client stops reading.
LOCK_WAIT_S = 1
READ_TIMEOUT_S = 4
# The user's multi-call list is dialled only this fresh (the agent API arms it just before).
MULTI_MAX_AGE_S = 300


def _error(exc: BaseException) -> DatabaseError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    message = str(exc.args[-1]) if exc.args else ""
    return DatabaseError(message or f"{type(exc).__name__} (error {code})", code)


def connect(cfg: Config, *, database: str | None = None, timeout: float = 2) -> pymysql.Connection:
    """One autocommit connection; transactions are opened explicitly where needed."""
    try:
        with hangup.interruptible():
            return pymysql.connect(
                host=cfg.db_host, port=cfg.db_port, user=cfg.db_user, password=cfg.db_pass,
                database=database if database is not None else cfg.db_name,
                autocommit=True, connect_timeout=timeout, charset="utf8mb4",
                read_timeout=READ_TIMEOUT_S, write_timeout=READ_TIMEOUT_S,
                init_command=f"SET SESSION lock_wait_timeout = {LOCK_WAIT_S}, "
                             f"innodb_lock_wait_timeout = {LOCK_WAIT_S}",
                # PyMySQL >= 1.2 tries TLS by default and loads the system CA store for it:
                # 30+ ms on every call's start. VICIdial's DB is local; VARDB_ssl => 1 asks
                # for TLS again.
                ssl_disabled=not cfg.db_ssl,
                cursorclass=pymysql.cursors.DictCursor)
    except pymysql.Error as exc:
        raise DatabaseError(f"cannot connect to {cfg.db_user}@{cfg.db_host}:{cfg.db_port}/"
                            f"{database or cfg.db_name}: {exc.args[-1]}") from None


def close_quietly(conn: pymysql.Connection) -> None:
    """Close with a goodbye (COM_QUIT) if the connection still works; a broken one just goes."""
    try:
        conn.close()            # writes one packet, reads nothing: it cannot hang
    except (pymysql.Error, OSError):
        pass


def sql_file_statements(name: str) -> list[str]:
    """The statements of one of the package's .sql files (schema.sql, vicidial_tables.sql)."""
    path = os.path.join(os.path.dirname(__file__), "data", name)
    with open(path, encoding="utf-8") as f:
        text = "\n".join(line for line in f if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def schema_statements(engine: str = "InnoDB") -> list[str]:
    """The statements of schema.sql, optionally for another engine (VICIdial uses MyISAM)."""
    return [s.replace("ENGINE=InnoDB", f"ENGINE={engine}")
            for s in sql_file_statements("schema.sql")]


@record
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


class ConnectionLost(DatabaseError):
    """The connection died inside a transaction or a named lock: the caller reads back."""



def execute(conn: pymysql.Connection, sql: str, params: Iterable[Any] = (), *,
            check: Check | None = None, in_transaction: bool = False) -> int:
    """Run one parameterised write; the number of rows it touched.

    A write is never rerun blind. When the connection is lost, the statement may or may not
    have been applied: with `check` (a read that returns a true value when the write's effect
    is there) that value is returned, and only a write found not applied runs again; without
    it the write must be idempotent (a second run changes nothing the first did).
    """
    return _run(conn, sql, tuple(params), lambda cur: cur.rowcount, check, True, in_transaction)


def query(conn: pymysql.Connection, sql: str, params: Iterable[Any] = (), *,
          in_transaction: bool = False) -> list[dict]:
    """Run one parameterised SELECT; its rows as dicts."""
    return _run(conn, sql, tuple(params), lambda cur: list(cur.fetchall()), None, False,
                in_transaction)


def _run(conn: pymysql.Connection, sql: str, params: tuple, read: Callable, check: Check | None,
         write: bool, in_transaction: bool) -> Any:
    reconnected = False
    for attempt in range(_ATTEMPTS):
        try:
            with hangup.interruptible(), conn.cursor() as cur:
                cur.execute(sql, params)
                return read(cur)
        except hangup.Hangup:
            if conn.open:               # mid-statement: the protocol state is unknown
                conn.close()
            raise
        except pymysql.Error as exc:
            error = _error(exc)
            lost = isinstance(exc, (pymysql.OperationalError, pymysql.InterfaceError)) \
                and error.code in _CONNECTION_LOST
            if lost and in_transaction:
                raise ConnectionLost(error.args[0], error.code) from exc
            if lost and not reconnected:
                reconnected = True
                _reconnect(conn, exc)
                if write and check is not None:
                    applied = check()
                    if applied:
                        return int(applied) if isinstance(applied, (bool, int)) else 1
                continue
            if in_transaction or error.code != _DEADLOCK or attempt == _ATTEMPTS - 1:
                raise error from exc
    raise DatabaseError(f"gave up after {_ATTEMPTS} attempts: {sql[:60]}")


def _reconnect(conn: pymysql.Connection, cause: BaseException) -> None:
    try:
        with hangup.interruptible():
            conn.ping(reconnect=True)
    except pymysql.Error as again:
        raise _error(again) from cause


def _appending(events: Sequence[str]) -> tuple[str, list[str]]:
    """SQL for `result` with each event appended (`|Event: now`) unless already there."""
    text, params = "result", []
    for event in events:
        text = f"CONCAT({text}, IF(LOCATE(%s, result) = 0, CONCAT(%s, %s, ': ', {_NOW_TEXT}), ''))"
        params += [f"{event}:", ev.SEPARATOR, event]
    return text, params


class Store:
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
                          f"{placeholders}, %s, NOW())", values + (ev.S_NEW,))
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
            params + [call_id, f"{event}:", _TERMINAL_RE],
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
                  params + [*call_ids, f"{ev.DEFEATED}:", _TERMINAL_RE])

    def has_event(self, call_id: str, event: str) -> bool:
        rows = self._rows(f"SELECT LOCATE(%s, result) > 0 AS has FROM {LOG} "
                          "WHERE call_3way_id = %s", (f"{event}:", call_id))
        return bool(rows and rows[0]["has"])

    def set_status(self, call_id: str, status: str, only_from: Iterable[str] | None = None) -> bool:
        """Set a live row's status, optionally only when it is in one of `only_from`; True
        when the row now has it."""
        sql = f"UPDATE {LIVE} SET status = %s WHERE call_3way_id = %s"
        params: list[Any] = [status, call_id]
        if only_from is not None:
            states = tuple(only_from)
            sql += f" AND status IN ({', '.join(['%s'] * len(states))})"
            params += states
        return self._run(sql, params, check=lambda: self.status(call_id) == status) > 0

    def status(self, call_id: str) -> str | None:
        rows = self._rows(f"SELECT status FROM {LIVE} WHERE call_3way_id = %s", (call_id,))
        return rows[0]["status"] if rows else None

    def end_call(self, call_id: str, status: str, event: str,
                 only_from: Iterable[str] = ev.OPEN + (ev.S_ACCEPTED,)) -> bool:
        """Finish an unfinished call: its status, and its terminal event if it has none yet.
        True when this event is the call's terminal one."""
        self.set_status(call_id, status, only_from)
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
            [channel, ev.S_NEW, ev.S_ANSWERED, channel, _TERMINAL_RE, *params, call_id,
             HEARTBEAT_STALE_S]) > 0

    def mark_transfer(self, call_id: str, conf_exten: str) -> bool:
        """`Transfer`, call_transfer='Y' and the conference in one statement (after Accepted
        and Reserved); False when the call had already ended otherwise (the agent leg gave
        up on it)."""
        return self.append_event(call_id, ev.TRANSFER, before=(ev.ACCEPTED, ev.RESERVED),
                                 also={"call_transfer": "Y", "session_id_3way": conf_exten})

    def reserve(self, call_id: str, conf_exten: str) -> bool:
        """The agent leg hands the winner its conference: True when the row now holds it."""
        done = self._run(f"UPDATE {LIVE} SET status = %s, session_id_3way = %s "
                         "WHERE call_3way_id = %s AND status = %s",
                         (ev.S_RESERVED, conf_exten, call_id, ev.S_ACCEPTED),
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
        return self.set_status(call_id, ev.S_TRANSFER, only_from=(ev.S_RESERVED,))

    def _holds(self, call_id: str, conf_exten: str) -> bool:
        """The live row holds this conference (a winner that already took it may have
        removed its row: see `reserve`)."""
        rows = self._rows(f"SELECT status, session_id_3way FROM {LIVE} WHERE call_3way_id = %s",
                          (call_id,))
        return bool(rows) and rows[0]["status"] in (ev.S_RESERVED, ev.S_TRANSFER) \
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

    def delete_live(self, call_id: str) -> None:
        self._run(f"DELETE FROM {LIVE} WHERE call_3way_id = %s", (call_id,))

    def delete_calls(self, call_ids: Sequence[str]) -> None:
        if call_ids:
            self._run(f"DELETE FROM {LIVE} WHERE call_3way_id IN "
                      f"({', '.join(['%s'] * len(call_ids))})", call_ids)

    def delete_batch(self, caller_code: str) -> None:
        self._run(f"DELETE FROM {LIVE} WHERE caller_code = %s", (caller_code,))

    # --- winner election (SPEC section 7) ----------------------------------------------
    def engine(self) -> str:
        if self._engine is None:
            rows = self._rows("SELECT ENGINE FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (LIVE,))
            if not rows:
                raise DatabaseError(f"table {LIVE} does not exist")
            self._engine = (rows[0]["ENGINE"] or "").upper()
        return self._engine

    def elect(self, call_id: str, caller_code: str) -> bool:
        """Make this call the batch's one winner if nobody has won yet; True if it did.

        InnoDB: row locks on the batch (SELECT ... FOR UPDATE in a transaction).
        MyISAM (VICIdial's default): FOR UPDATE locks nothing, so a named lock per batch.
        The connection lost mid-way (even the COMMIT's acknowledgement): reconnect and read
        back whether this call won; only an election found not to have happened runs again.
        """
        read_back = False
        for attempt in range(_ATTEMPTS):
            try:
                won = self._elect_once(call_id, caller_code)
                break
            except ConnectionLost:
                _reconnect(self.conn, ConnectionLost("lost during the election"))
            except DatabaseError as exc:
                if exc.code != _DEADLOCK or attempt == _ATTEMPTS - 1:
                    raise
            status = self.status(call_id)
            if status not in ev.OPEN:
                won, read_back = status in ev.WON, True
                break
        else:
            raise DatabaseError("the election did not complete")
        if won and read_back:   # the step that may not have run before the connection was lost
            self._defeat_others(call_id, caller_code)
        if won:
            self.append_event(call_id, ev.ACCEPTED)
        return won

    def _elect_once(self, call_id: str, caller_code: str) -> bool:
        if self.engine() == "INNODB":
            return self._transaction(lambda: self._decide(call_id, caller_code, " FOR UPDATE"))
        lock = f"press3way:{caller_code}"
        self._in_transaction = True     # a reconnect would silently drop the named lock
        try:
            if not self._rows("SELECT GET_LOCK(%s, %s) AS got", (lock, LOCK_WAIT_S))[0]["got"]:
                raise DatabaseError(f"could not take the election lock {lock} "
                                    f"within {LOCK_WAIT_S} s")
            try:
                return self._decide(call_id, caller_code, "")
            finally:
                self._run("DO RELEASE_LOCK(%s)", (lock,))
        finally:
            self._in_transaction = False

    def _transaction(self, step: Callable[[], Any]) -> Any:
        self._in_transaction = True
        try:
            self._run("START TRANSACTION")
            try:
                result = step()
                self._run("COMMIT")
                return result
            except BaseException:
                try:                    # never let the rollback's error hide the first one
                    self._run("ROLLBACK")
                except DatabaseError:
                    pass
                raise
        finally:
            self._in_transaction = False

    def _decide(self, call_id: str, caller_code: str, lock_clause: str) -> bool:
        rows = self._rows(f"SELECT call_3way_id, status FROM {LIVE} WHERE caller_code = %s"
                          + lock_clause, (caller_code,))
        mine = [r for r in rows if r["call_3way_id"] == call_id]
        if not mine or mine[0]["status"] not in ev.OPEN:
            return False
        if any(r["status"] in ev.WON for r in rows):
            return False
        if lock_clause:     # InnoDB: these rows are locked, so one statement does both
            return self._run(f"UPDATE {LIVE} SET status = IF(call_3way_id = %s, %s, %s) "
                             "WHERE caller_code = %s AND status IN (%s, %s)",
                             (call_id, ev.S_ACCEPTED, ev.S_DEFEATED, caller_code) + ev.OPEN) > 0
        # MyISAM: the named lock keeps out other elections only; this call's row may have
        # ended meanwhile, so it is taken first, and only then are the others defeated
        if not self._run(f"UPDATE {LIVE} SET status = %s WHERE call_3way_id = %s "
                         "AND status IN (%s, %s)", (ev.S_ACCEPTED, call_id) + ev.OPEN):
            return False
        self._defeat_others(call_id, caller_code)
        return True

    def _defeat_others(self, call_id: str, caller_code: str) -> None:
        self._run(f"UPDATE {LIVE} SET status = %s WHERE caller_code = %s AND call_3way_id <> %s "
                  f"AND status IN (%s, %s)", (ev.S_DEFEATED, caller_code, call_id) + ev.OPEN)

    def reopen_defeated(self, caller_code: str) -> None:
        """The winner gave its win back before any reservation: the calls it defeated (not
        yet logged or cut) may press again."""
        self._run(f"UPDATE {LIVE} SET status = IF(call_channel <> '', %s, %s) "
                  "WHERE caller_code = %s AND status = %s",
                  (ev.S_ANSWERED, ev.S_NEW, caller_code, ev.S_DEFEATED))

    # --- multi-call list -------------------------------------------------------------
    def arm_multi(self, user: str, phones: list[str]) -> None:
        """What VICIdial's agent API does with multi_dial_phones: the user's next 3-way call
        dials these numbers (status NEW)."""
        self._run(f"REPLACE INTO {MULTI} (user, call_date, phone_numbers, phone_numbers_ct, status) "
                  "VALUES (%s, NOW(), %s, %s, 'NEW')", (user, ",".join(phones), len(phones)))

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

    # --- administration: who is busy, cleanup, archive -----------------------------------
    def live_count_of_user(self, user: str) -> int:
        return self._rows(f"SELECT COUNT(*) AS n FROM {LIVE} WHERE user = %s", (user,))[0]["n"]

    def stale_calls(self, stale_s: int, max_age_h: int) -> list[dict]:
        """Live rows whose agent leg stopped beating (a row without a heartbeat, written by an
        older agent leg, is judged by its start) or that are older than `max_age_h`."""
        return self._rows(
            f"SELECT call_3way_id, caller_code, user, status, call_date, "
            f"(COALESCE(call_date, 0) < NOW() - INTERVAL %s HOUR) AS too_old FROM {LIVE} "
            "WHERE COALESCE(agent_heartbeat, call_date, 0) < NOW() - INTERVAL %s SECOND "
            "OR COALESCE(call_date, 0) < NOW() - INTERVAL %s HOUR ORDER BY call_date",
            (max_age_h, stale_s, max_age_h))

    def archive_cutoff(self, days: int) -> tuple[datetime, int]:
        """(cutoff time, log rows older than it): fixed once so every batch agrees."""
        cutoff = self._rows("SELECT NOW() - INTERVAL %s DAY AS t", (days,))[0]["t"]
        where, params = _after(cutoff, None)
        count = self._rows(f"SELECT COUNT(*) AS n FROM {LOG} l WHERE {where}", params)
        return cutoff, count[0]["n"]

    def archive_batch_end(self, cutoff: datetime, after: tuple | None, size: int) -> tuple | None:
        """The (call_date, call_3way_id) key ending the next batch of at most ~`size` rows."""
        where, params = _after(cutoff, after)
        rows = self._rows(f"SELECT call_date, call_3way_id FROM {LOG} l WHERE {where} "
                          "ORDER BY call_date, call_3way_id LIMIT %s", params + [size])
        return (rows[-1]["call_date"], rows[-1]["call_3way_id"]) if rows else None

    def archive_batch(self, cutoff: datetime, after: tuple | None, end: tuple) -> dict[str, int]:
        """Copy one batch into the archive, then delete from the log only the rows the archive
        verifiably holds (every column equal). Counts: in_log, copied, verified, deleted."""
        where, params = _after(cutoff, after)
        where += " AND (l.call_date < %s OR (l.call_date = %s AND l.call_3way_id <= %s))"
        params += [end[0], end[0], end[1]]
        in_archive = set(table_columns(self.conn, ARCHIVE))
        columns = [c for c in table_columns(self.conn, LOG) if c in in_archive]
        names = ", ".join(columns)
        same = " AND ".join(f"a.{c} <=> l.{c}" for c in columns)
        counts = {"in_log": self._rows(f"SELECT COUNT(*) AS n FROM {LOG} l WHERE {where}",
                                       params)[0]["n"]}
        counts["copied"] = self._run(
            f"INSERT IGNORE INTO {ARCHIVE} ({names}) SELECT {names} FROM {LOG} l WHERE {where}",
            params)
        counts["verified"] = self._rows(f"SELECT COUNT(*) AS n FROM {LOG} l JOIN {ARCHIVE} a "
                                        f"ON {same} WHERE {where}", params)[0]["n"]
        counts["deleted"] = self._run(f"DELETE l FROM {LOG} l JOIN {ARCHIVE} a ON {same} "
                                      f"WHERE {where}", params)
        return counts


def _after(cutoff: datetime, after: tuple | None) -> tuple[str, list]:
    """Log rows older than the cutoff and past the (call_date, call_3way_id) key `after`, of
    calls that are over (a call with a live row still gets events appended to its log row)."""
    where = (f"l.call_date < %s AND NOT EXISTS (SELECT 1 FROM {LIVE} v "
             "WHERE v.call_3way_id = l.call_3way_id)")
    params = [cutoff]
    if after is not None:
        where += " AND (l.call_date > %s OR (l.call_date = %s AND l.call_3way_id > %s))"
        params += [after[0], after[0], after[1]]
    return where, params


def feature_table(table: str) -> str:
    """Identifiers are never taken from input: only our four tables pass."""
    if table not in FEATURE_TABLES:
        raise ValueError(f"not a press3way table: {table!r}")
    return table


def table_columns(conn: pymysql.Connection, table: str) -> list[str]:
    rows = query(conn, "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                 (feature_table(table),))
    return [r["c"] for r in rows]

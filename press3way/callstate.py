"""The call's state machine: the live row's statuses, which move may take a row from which
status and who makes it, and the winner's election (docs/behaviour.md, "Winner election").

Every status change on the call path is one of `MOVES`, written by `Store.move` as one
guarded UPDATE (`... AND status IN (<from>)`): a leg that lost a race changes nothing, and a
rerun after a lost connection changes nothing either. The election is the one move that reads
the batch first, so it holds the batch's row locks (InnoDB) or a named lock (MyISAM).
"""

from __future__ import annotations

from . import events as ev
from .database import _ATTEMPTS, _DEADLOCK, LOCK_WAIT_S, ConnectionLost, DatabaseError, _reconnect
from .lean_dataclass import lean_dataclass
from .tables import LIVE

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Any, Callable

# Live-row statuses (the words VICIdial's own Perl version writes).
S_NEW = "NEW"
S_ANSWERED = "ANSWERED"
S_ACCEPTED = "ACCEPTED"
S_RESERVED = "RESERVED"
S_TRANSFER = "TRANSFER"
S_DECLINED = "DECLINED"
S_TOOSLOW = "TOOSLOW"
S_DEFEATED = "DEFEATED"
S_HUNGUP = "HUNGUP"
S_AGENTGONE = "AGENTGONE"

# A call in one of these can still press 1 and win.
OPEN = (S_NEW, S_ANSWERED)
# This call holds (or held) its batch's win; its row is its own to remove.
WON = (S_ACCEPTED, S_RESERVED, S_TRANSFER)
# The outside call is over; the agent leg removes these rows.
FINISHED = (S_DECLINED, S_TOOSLOW, S_HUNGUP, S_AGENTGONE)

# A live row stays until its log row has an ending. When a leg could not write the log (a
# backup holds it locked), `press3way cleanup` writes what the row's status proves: the
# events before the ending, in the log's order, then the ending itself.
ENDINGS = {S_DECLINED: ev.DECLINED, S_TOOSLOW: ev.TOO_SLOW, S_HUNGUP: ev.HUNGUP,
           S_AGENTGONE: ev.AGENT_GONE, S_DEFEATED: ev.DEFEATED,
           # handed over and never hung up (that makes it HUNGUP): the winner went in
           S_TRANSFER: ev.TRANSFER}
_PROVEN_BY = ((ev.ANSWERED, (S_ANSWERED, S_DECLINED, S_TOOSLOW) + WON),   # stages after answer
              (ev.ACCEPTED, WON),
              (ev.RESERVED, (S_RESERVED, S_TRANSFER)))


def owed_events(status: str, call_channel: str, unfinished: str) -> tuple[tuple, str]:
    """(the events a call's status proves, its ending): the ending its status stands for, or
    `unfinished` (Agent Gone, Timeout) for a call that had not ended. A call with a channel
    was answered, whatever its status."""
    before = tuple(event for event, statuses in _PROVEN_BY
                   if status in statuses or (event == ev.ANSWERED and call_channel))
    return before, ENDINGS.get(status, unfinished)


class LogBehind(DatabaseError):
    """The live row moved on (the call goes on) but the log could not be written: the
    log owes the event, which a later one of the call's or `press3way cleanup` brings."""


@lean_dataclass(frozen=True)
class Move:
    """One status change: the status it writes, the statuses it may start from, who makes it."""
    to: str
    from_: tuple
    by: str


# name: the move. The statuses a row can leave are exactly the `from_` lists below; NEW is
# written by the agent leg's INSERT, ANSWERED by the answered stage's joined UPDATE
# (`Store.answered`), ACCEPTED and DEFEATED by the election.
MOVES = {
    "decline": Move(S_DECLINED, OPEN, "outside leg, stage declined"),
    "give_back": Move(S_DECLINED, (S_ACCEPTED,), "outside leg, stage declined: a winner that "
                      "fails before any reservation (its batch-mates are reopened)"),
    "reopen": Move(S_ANSWERED, (S_DEFEATED,), "outside leg, after give_back (NEW if the call "
                   "was never answered)"),
    "too_slow": Move(S_TOOSLOW, OPEN + (S_DEFEATED,), "outside leg, stage accepted, "
                     "election lost"),
    "hang_up": Move(S_HUNGUP, OPEN, "outside leg, stage hungup, before any press"),
    "hang_up_winner": Move(S_HUNGUP, (S_ACCEPTED, S_RESERVED), "outside leg, the winner hung "
                          "up before the agent leg went into the conference"),
    "hang_up_handed_over": Move(S_HUNGUP, (S_TRANSFER,), "outside leg, the winner hung up "
                                "after the agent leg went into the conference"),
    "not_placed": Move(S_HUNGUP, OPEN + (S_ACCEPTED,), "agent leg, the originate failed"),
    "agent_gone": Move(S_AGENTGONE, OPEN + (S_ACCEPTED,), "outside leg, the agent leg's "
                       "heartbeat is stale or its row gone"),
    "stop_waiting": Move(S_AGENTGONE, (S_ACCEPTED,), "outside leg, winner: no reservation "
                         "in time"),
    "stop_waiting_reserved": Move(S_AGENTGONE, (S_ACCEPTED, S_RESERVED), "outside leg, "
                                  "winner: reserved but not handed over within the grace"),
    "reserve": Move(S_RESERVED, (S_ACCEPTED,), "agent leg, a conference reserved "
                    "(with session_id_3way)"),
    "hand_over": Move(S_TRANSFER, (S_RESERVED,), "agent leg, on its way into the conference"),
}


class Election:
    """The winner's election, for `Store` (exactly one ACCEPTED per batch, ever)."""

    conn: Any
    _engine: str | None
    _in_transaction: bool
    _rows: Callable[..., list]
    _run: Callable[..., int]
    status: Callable[[str], str | None]
    append_event: Callable[..., bool]

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
            if status not in OPEN:
                won, read_back = status in WON, True
                break
        else:
            raise DatabaseError("the election did not complete")
        if won and read_back:   # the step that may not have run before the connection was lost
            self._defeat_others(call_id, caller_code)
        if won:
            try:
                self.append_event(call_id, ev.ACCEPTED)
            except DatabaseError as exc:     # the win stands: the agent leg acts on it now
                raise LogBehind(f"won, but Accepted is not logged: {exc}", exc.code) from exc
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
        if not mine or mine[0]["status"] not in OPEN:
            return False
        if any(r["status"] in WON for r in rows):
            return False
        if lock_clause:     # InnoDB: these rows are locked, so one statement does both
            return self._run(f"UPDATE {LIVE} SET status = IF(call_3way_id = %s, %s, %s) "
                             "WHERE caller_code = %s AND status IN (%s, %s)",
                             (call_id, S_ACCEPTED, S_DEFEATED, caller_code) + OPEN) > 0
        # MyISAM: the named lock keeps out other elections only; this call's row may have
        # ended meanwhile, so it is taken first, and only then are the others defeated
        if not self._run(f"UPDATE {LIVE} SET status = %s WHERE call_3way_id = %s "
                         "AND status IN (%s, %s)", (S_ACCEPTED, call_id) + OPEN):
            return False
        self._defeat_others(call_id, caller_code)
        return True

    def _defeat_others(self, call_id: str, caller_code: str) -> None:
        self._run(f"UPDATE {LIVE} SET status = %s WHERE caller_code = %s AND call_3way_id <> %s "
                  f"AND status IN (%s, %s)", (S_DEFEATED, caller_code, call_id) + OPEN)

    def reopen_defeated(self, caller_code: str) -> None:
        """The winner gave its win back before any reservation: the calls it defeated (not
        yet logged or cut) may press again."""
        self._run(f"UPDATE {LIVE} SET status = IF(call_channel <> '', %s, %s) "
                  "WHERE caller_code = %s AND status = %s",
                  (S_ANSWERED, S_NEW, caller_code, S_DEFEATED))

"""A multi-call list by hand (`press3way multi`): arm, show, cancel.

What VICIdial's agent API does with `multi_dial_phones`: the user's next 3-way call rings
these numbers at once and the first to press 1 wins. A list is only for an agent who is
logged in (the API sends it with that agent's transfer), and it goes stale: the agent leg
does not dial a list older than MULTI_MAX_AGE_S.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymysql

from . import database, dialstrings
from .admin.queries import live_count_of_user
from .store import MULTI_MAX_AGE_S, Store
from .tables import MULTI

# How old a NEW list may be and still be dialled (the agent leg's rule).
MAX_AGE_S = MULTI_MAX_AGE_S
NEW, PROCESSING, CANCELLED = "NEW", "PROCESSING", "CANCELLED"
EXPIRED = "EXPIRED"        # set by the agent leg when it finds a NEW list too old to dial
_NO_SUCH_TABLE = 1146


class MultiError(Exception):
    """The request was refused; the message names every reason."""


@dataclass(frozen=True)
class MultiList:
    """A user's row of vicidial_3way_press_multi, aged by the database's clock."""
    user: str
    phones: list[str]
    status: str
    age_s: int | None

    @property
    def expired(self) -> bool:
        return self.status == EXPIRED or (
            self.status == NEW and (self.age_s is None or self.age_s > MAX_AGE_S))

    @property
    def armed(self) -> bool:
        """The user's next 3-way call would dial it."""
        return self.status == NEW and not self.expired

    def state(self) -> str:
        """What becomes of the list, in words."""
        if self.armed:
            return f"the next 3-way call dials them (expires in {MAX_AGE_S - (self.age_s or 0)} s)"
        if self.expired:
            return f"expired (older than {MAX_AGE_S} s), no call will dial it"
        if self.status == PROCESSING:
            return "a 3-way call took it"
        if self.status == CANCELLED:
            return "cancelled"
        return "no call will dial it"

    def describe(self) -> str:
        age = "at an unknown time" if self.age_s is None else f"{self.age_s} s ago"
        return (f"user {self.user}: {len(self.phones)} number(s) {', '.join(self.phones)}, "
                f"written {age}, status {self.status or '(empty)'}: {self.state()}")


def current(conn: pymysql.Connection, user: str) -> MultiList | None:
    rows = database.query(conn, f"SELECT user, phone_numbers, status, "
                          f"TIMESTAMPDIFF(SECOND, call_date, NOW()) AS age_s FROM {MULTI} "
                          "WHERE user = %s", (user,))
    if not rows:
        return None
    row = rows[0]
    phones = [p.strip() for p in (row["phone_numbers"] or "").split(",") if p.strip()]
    return MultiList(row["user"], phones, row["status"] or "", row["age_s"])


def _check_user(conn: pymysql.Connection, user: str) -> None:
    """Only a logged-in agent (a vicidial_live_agents row) can be given a list: VICIdial's
    API sends one with that agent's transfer, and a list for nobody would just expire."""
    if not 1 <= len(user) <= 20:
        raise MultiError(f"bad user {user[:40]!r}: 1 to 20 characters")
    if database.query(conn, "SELECT 1 FROM vicidial_live_agents WHERE user = %s LIMIT 1", (user,)):
        return
    try:
        known = database.query(conn, "SELECT 1 FROM vicidial_users WHERE user = %s LIMIT 1",
                               (user,))
    except database.DatabaseError as exc:
        if exc.code != _NO_SUCH_TABLE:
            raise
        known = []
    if known:
        raise MultiError(f"user {user} is not logged in as an agent (no vicidial_live_agents "
                         "row): a list is dialled by the agent's next 3-way call")
    raise MultiError(f"unknown user {user!r}: not logged in as an agent, and not in "
                     "vicidial_users")


def arm(store: Store, user: str, phones_text: str, *, replace: bool = False
        ) -> tuple[list[str], MultiList | None]:
    """The user's next 3-way call dials these numbers at once. Returns the numbers and the
    list this one replaced (None when there was none)."""
    _check_user(store.conn, user)
    try:
        phones = dialstrings.phone_list(phones_text)
    except ValueError as exc:
        raise MultiError(str(exc)) from None
    busy = live_count_of_user(store.conn, user)
    if busy:
        raise MultiError(f"user {user} still has {busy} unfinished 3-way call(s); "
                         "try again when they are over")
    before = current(store.conn, user)
    if before and before.armed and not replace:
        raise MultiError(f"user {user} already has an armed list ({', '.join(before.phones)}, "
                         f"written {before.age_s} s ago): add --replace to replace it, or "
                         "--cancel it")
    store.arm_multi(user, phones)
    return phones, before


def cancel(conn: pymysql.Connection, user: str) -> MultiList:
    """Withdraw the user's armed list; the cancelled list. A list a call already took, or an
    expired one, is refused: there is nothing to withdraw."""
    before = current(conn, user)
    if before is None or not before.armed:
        raise MultiError(f"user {user} has no armed list to cancel"
                         + (f" (its list: {before.state()})" if before else ""))
    done = database.execute(conn, f"UPDATE {MULTI} SET status = %s WHERE user = %s AND status = %s",
                      (CANCELLED, user, NEW))
    if not done:
        raise MultiError(f"user {user}'s list was taken by a 3-way call just now")
    return before

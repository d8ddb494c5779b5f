"""Load shedding (docs/behaviour.md, "Overload"): at most so many batches of one server wait
for a winner at once; a new one beyond that is refused at its start, before anyone is called
(buzz, and the AGI log says the server is overloaded), rather than started and decided
wrongly because every wait of every call runs out on a starved machine.

A batch holds one of the server's named locks (`GET_LOCK`, never waiting) for its life: the
count is race-free however many agent legs start in the same instant, and a process that
dies gives its lock back with its connection.
"""

from __future__ import annotations

import os

from ..database import DatabaseError, query
from ..telephony import hangup

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    import pymysql

# Per-call mode on 2 cores decided 0-9 of 50 simultaneous 5-number batches, and 10 of 10 with
# this limit (bench/bench_asterisk_load.py). `VARpress3way_max_batches` in astguiclient.conf
# sets it in both modes (0: no limit).
PER_CALL_MAX_BATCHES = 10
# Through the FastAGI server a batch holds up to two of the pool's connections for its whole
# life (its agent leg's, and its winner's while it waits for the room); the rest must serve
# every other stage. In a burst of 50 batches on a pool of 100 the winners' `accepted` runs
# found all 100 busy (126 runs), and 2 batches ended with their pressers logged Declined.
FASTAGI_POOL_SHARE = 2 / 5


def fastagi_max_batches(pool_limit: int) -> int:
    """The FastAGI server's batches at once: 2/5 of its pool (40 of the default 100)."""
    return max(1, int(pool_limit * FASTAGI_POOL_SHARE))


class Overloaded(Exception):
    """Every batch slot of the server is taken."""


def take_slot(conn: pymysql.Connection, server_ip: str, limit: int) -> str:
    """A free slot's lock name, held on `conn` until `give_back` (or the connection ends);
    '' without a limit. Slots are tried from one picked at random, so agent legs starting
    together rarely try the same ones."""
    if limit <= 0:
        return ""
    first = int.from_bytes(os.urandom(2), "big")
    for n in range(limit):
        name = f"press3way:batch:{server_ip}:{(first + n) % limit}"
        if query(conn, "SELECT GET_LOCK(%s, 0) AS slot", (name,))[0]["slot"]:
            return name
    raise Overloaded(f"server overloaded: {limit} batches already in progress on {server_ip} "
                     "(VARpress3way_max_batches, or 2/5 of the FastAGI server's database "
                     "connections); refused before calling anyone")


def give_back(conn: pymysql.Connection, name: str) -> None:
    """The batch is over, however it ended (a hang-up included)."""
    if not name:
        return
    hangup.expect()
    try:
        query(conn, "SELECT RELEASE_LOCK(%s) AS freed", (name,))     # not the election's own
    except DatabaseError:       # a lost connection took the lock with it
        pass

"""Database connections kept between the FastAGI server's calls.

A connection serves one call at a time: it is taken from the idle list (pinged first, and
replaced when dead) and given back when the call ends. After a reload the pool holds the new
config: idle connections of the old one are closed at once, busy ones when their call ends.

The pool never holds more than `limit` connections, busy and idle together, and never more
than half of what the database allows (`max_connections`, read with the first one): VICIdial's
own programs need the rest. A call that finds every connection busy waits at most
`WAIT_S`, then fails as with a database down (the caller hears buzz or goes to `i`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import pymysql
from pymysql.constants import SERVER_STATUS

from .. import database
from ..config import Config

WAIT_S = 2.0
DATABASE_SHARE = 2          # at most 1/2 of the database's max_connections


class Pool:
    def __init__(self, cfg: Config, limit: int):
        self._config = cfg
        self.limit = limit
        self._open = 0                  # connections made and not closed, busy or idle
        self._sized = False             # the limit checked against max_connections
        self._idle: list[pymysql.Connection] = []
        self._lock = threading.Condition()

    @property
    def config(self) -> Config:
        """The config new calls run with."""
        return self._config

    @contextlib.contextmanager
    def connection(self, cfg: Config) -> Iterator[pymysql.Connection]:
        """A connection for one call with `cfg` (the config the call started with)."""
        deadline = time.monotonic() + WAIT_S
        conn = None
        while conn is None:
            conn = self._take_idle(cfg) or self._new(cfg, deadline)
        try:
            yield conn
        finally:
            self._give_back(cfg, conn)

    def _new(self, cfg: Config, deadline: float) -> pymysql.Connection | None:
        """A new connection once there is room for one, None when an idle one came back
        meanwhile; DatabaseError at `deadline`."""
        with self._lock:
            while self._open >= self.limit:
                if cfg is self._config and self._idle:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise database.DatabaseError(f"all {self.limit} database connections of "
                                                 "the FastAGI server are busy")
                self._lock.wait(left)
            self._open += 1
        try:
            conn = database.connect(cfg)
            self._size_to(conn)
            return conn
        except BaseException:
            self._closed()
            raise

    def _size_to(self, conn: pymysql.Connection) -> None:
        """Lower the limit to our share of the database's max_connections (once)."""
        if self._sized:
            return
        rows = database.query(conn, "SELECT @@max_connections AS allowed")
        with self._lock:
            self.limit = max(1, min(self.limit, int(rows[0]["allowed"]) // DATABASE_SHARE))
            self._sized = True

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1
            self._lock.notify_all()

    def refresh(self, cfg: Config) -> int:
        """Serve new calls with `cfg`; the number of idle connections closed."""
        with self._lock:
            self._config, stale, self._idle = cfg, self._idle, []
        for conn in stale:
            self._close(conn)
        return len(stale)

    def close(self) -> None:
        self.refresh(self._config)

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _take_idle(self, cfg: Config) -> pymysql.Connection | None:
        while True:
            with self._lock:
                if cfg is not self._config or not self._idle:
                    return None
                conn = self._idle.pop()
            try:
                conn.ping(reconnect=False)
                return conn
            except pymysql.Error:       # killed, timed out (wait_timeout), server restarted
                self._close(conn)

    def _give_back(self, cfg: Config, conn: pymysql.Connection) -> None:
        if conn.open and _in_transaction(conn):     # a ROLLBACK that failed, connection alive
            try:
                conn.rollback()
            except pymysql.Error:
                pass
        if conn.open and not _in_transaction(conn):
            with self._lock:
                if cfg is self._config and len(self._idle) < self.limit:
                    self._idle.append(conn)
                    self._lock.notify_all()
                    return
        self._close(conn)

    def _close(self, conn: pymysql.Connection) -> None:
        try:
            conn.close()
        except pymysql.Error:
            pass                        # already gone
        self._closed()


def _in_transaction(conn: pymysql.Connection) -> bool:
    """What the server said in its last reply (no round trip): a transaction is open."""
    return bool(conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


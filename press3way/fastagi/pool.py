"""Database connections kept between the FastAGI server's calls.

A connection serves one call at a time: it is taken from the idle list (pinged first, and
replaced when dead) and given back when the call ends. After a reload the pool holds the new
config: idle connections of the old one are closed at once, busy ones when their call ends.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import pymysql
from pymysql.constants import SERVER_STATUS

from .. import database
from ..config import Config


class Pool:
    def __init__(self, cfg: Config, max_idle: int):
        self._config = cfg
        self._max_idle = max_idle
        self._idle: list[pymysql.Connection] = []
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        """The config new calls run with."""
        return self._config

    @contextlib.contextmanager
    def connection(self, cfg: Config) -> Iterator[pymysql.Connection]:
        """A connection for one call with `cfg` (the config the call started with)."""
        conn = self._take_idle(cfg) or database.connect(cfg)
        try:
            yield conn
        finally:
            self._give_back(cfg, conn)

    def refresh(self, cfg: Config) -> int:
        """Serve new calls with `cfg`; the number of idle connections closed."""
        with self._lock:
            self._config, stale, self._idle = cfg, self._idle, []
        for conn in stale:
            _close(conn)
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
                _close(conn)

    def _give_back(self, cfg: Config, conn: pymysql.Connection) -> None:
        if conn.open and _in_transaction(conn):     # a ROLLBACK that failed, connection alive
            try:
                conn.rollback()
            except pymysql.Error:
                pass
        if conn.open and not _in_transaction(conn):
            with self._lock:
                if cfg is self._config and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    return
        _close(conn)


def _in_transaction(conn: pymysql.Connection) -> bool:
    """What the server said in its last reply (no round trip): a transaction is open."""
    return bool(conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


def _close(conn: pymysql.Connection) -> None:
    try:
        conn.close()
    except pymysql.Error:
        pass                            # already gone

"""The connection layer: connecting, running one parameterised statement, and what happens
when the connection is lost or the server refuses (docs/behaviour.md, "Lost connections")."""

from __future__ import annotations

import os

import pymysql
import pymysql.cursors

from .telephony import hangup

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    import ssl
    from typing import Any, Callable, Iterable

    from .config import Config

    Check = Callable[[], Any]


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


_LOCK_WAIT_TIMEOUT = 1205


def _error(exc: BaseException) -> DatabaseError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    message = str(exc.args[-1]) if exc.args else ""
    if code == _LOCK_WAIT_TIMEOUT:      # what the AGI log says when a backup holds the tables
        message = (f"a lock held longer than {LOCK_WAIT_S} s (a backup's LOCK TABLES, or a "
                   f"row another call holds): {message}")
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
                # for TLS again, verified.
                ssl_disabled=not cfg.db_ssl, ssl=_verified_tls(cfg) if cfg.db_ssl else None,
                cursorclass=pymysql.cursors.DictCursor)
    except pymysql.Error as exc:
        raise DatabaseError(f"cannot connect to {cfg.db_user}@{cfg.db_host}:{cfg.db_port}/"
                            f"{database or cfg.db_name}: {exc.args[-1]}") from None


def _verified_tls(cfg: Config) -> ssl.SSLContext:
    """TLS that is required (never plain text when the server offers none: PyMySQL's
    `ssl_disabled=False` alone falls back to it) and verified: the server's certificate
    against the system's CA bundle or VARDB_ssl_ca, and its name against VARDB_server."""
    import ssl  # the stand-in startup.py gives the call path: loaded only now

    try:
        return ssl.create_default_context(cafile=cfg.db_ssl_ca)
    except (OSError, ValueError) as exc:     # ssl.SSLError is an OSError
        raise DatabaseError(f"cannot use VARDB_ssl_ca {cfg.db_ssl_ca}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None


def close_quietly(conn: pymysql.Connection) -> None:
    """Close with a goodbye (COM_QUIT) if the connection still works; a broken one just goes."""
    try:
        conn.close()            # writes one packet, reads nothing: it cannot hang
    except (pymysql.Error, OSError):
        pass


def sql_file_statements(name: str) -> list[str]:
    """The statements of one of the package's .sql files (schema.sql)."""
    path = os.path.join(os.path.dirname(__file__), "data", name)
    with open(path, encoding="utf-8") as f:
        text = "\n".join(line for line in f if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def schema_statements(engine: str = "InnoDB") -> list[str]:
    """The statements of schema.sql, optionally for another engine (VICIdial uses MyISAM)."""
    return [s.replace("ENGINE=InnoDB", f"ENGINE={engine}")
            for s in sql_file_statements("schema.sql")]


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

"""A MySQL-protocol TCP proxy on loopback that loses, or stalls, one chosen statement.

Sits between the AGI scripts and MariaDB (their astguiclient.conf's `VARDB_port` points at it).
It reads the packets both ways (3-byte length, sequence id, payload): a client packet with
sequence 0 starting with COM_QUERY (0x03) is a statement (PyMySQL sends nothing else, TLS off);
the server's first packet after it says the statement was applied. The test arms one `Fault`
at a time; every statement is recorded in a trace with its connection and times.

Everything is bounded: connections, trace length, stalls (they end when the proxy closes), and
every thread stops on `close()`.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from press3way_testing.faults.statements import hint, normalise

COM_QUERY = 0x03
DROP_BEFORE = "drop_before"     # the client's connection closes before the statement is sent
DROP_AFTER = "drop_after"       # applied by the server, the reply never reaches the client
STALL = "stall"                 # held for `stall_s`, never sent, then the connection closes
ACTIONS = (DROP_BEFORE, DROP_AFTER, STALL)


@dataclass(frozen=True)
class Fault:
    """The `occurrence`-th statement with this normalised text and hint gets `action`."""
    statement: str
    action: str
    occurrence: int = 1
    hint: str = ""
    stall_s: float = 3.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r} (expected {ACTIONS})")


@dataclass
class Statement:
    """One statement as it went through the proxy."""
    connection: int             # 1 for the first client connection opened since `reset()`;
                                # one opened before it (a FastAGI server's pooled one) <= 0
    sent_at: float              # time.monotonic() when it arrived from the client
    sql: str
    normalised: str
    hint: str
    occurrence: int             # nth of its (normalised, hint) since `reset()`
    applied_at: float | None = None     # the server's first reply packet arrived
    fault: str = ""             # the action taken on it, if any
    gave_up_after: float | None = None  # stalled: the client closed its connection this soon

    @property
    def key(self) -> tuple[str, str]:
        return self.normalised, self.hint


@dataclass
class _Link:
    """One client connection and its upstream connection."""
    serial: int
    client: socket.socket
    server: socket.socket
    pending: Statement | None = None
    drop_on_reply: bool = False
    closed: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, max_connections: int = 256,
                 max_trace: int = 100_000, connect_timeout: float = 5.0):
        self.upstream = (upstream_host, upstream_port)
        self.max_connections, self.max_trace = max_connections, max_trace
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._links: dict[int, _Link] = {}
        self._threads: list[threading.Thread] = []
        self._accepter: threading.Thread | None = None
        self._serial = 0                # every link's own, never reused (pooled links outlive runs)
        self._base = 0                  # links opened since `reset()` are numbered from 1
        self._counts: dict[tuple[str, str], int] = {}
        self._trace: list[Statement] = []
        self.trace_overflow = 0
        self._fault: Fault | None = None
        self._hook: Callable[[Statement], None] | None = None
        self.fired: Statement | None = None
        self.refused_connections = 0

    # --- life -------------------------------------------------------------------------
    def __enter__(self) -> FaultProxy:
        self._accepter = threading.Thread(target=self._accept, name="faultproxy-accept",
                                          daemon=True)
        self._accepter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every connection, and wait (bounded) for every thread."""
        self._closing.set()
        self.drop_all()
        if self._accepter is not None:
            self._accepter.join(timeout=2)
        self._listener.close()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=2)

    # --- the test's side (thread-safe) ------------------------------------------------------
    def reset(self, fault: Fault | None = None,
              on_statement: Callable[[Statement], None] | None = None) -> None:
        """Start a new run: empty trace and counts, this fault armed (None: no fault), and
        `on_statement` called with each statement before it is forwarded."""
        with self._lock:
            self._base = self._serial
            self._counts.clear()
            self._trace = []
            self.trace_overflow = 0
            self._fault, self._hook, self.fired = fault, on_statement, None

    def trace(self) -> list[Statement]:
        with self._lock:
            return list(self._trace)

    def drop_all(self) -> None:
        """Cut every open connection (a run is over, or stuck)."""
        with self._lock:
            links = list(self._links.values())
        for link in links:
            link.close()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    # --- plumbing ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._open(client)

    def _open(self, client: socket.socket) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            full = len(self._links) >= self.max_connections
            self.refused_connections += full
        if full:
            client.close()
            return
        try:
            server = socket.create_connection(self.upstream, timeout=self.connect_timeout)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._serial += 1
            link = _Link(self._serial, client, server)
            self._links[id(link)] = link
            threads = [threading.Thread(target=self._pump, args=(link, up), daemon=True,
                                        name=f"faultproxy-{link.serial}-{'up' if up else 'down'}")
                       for up in (True, False)]
            self._threads += threads
        for thread in threads:
            thread.start()

    def _pump(self, link: _Link, upstream: bool) -> None:
        try:
            while not link.closed.is_set():
                packet = _read_packet(link.client if upstream else link.server)
                if packet is None:
                    break
                forward = self._to_server if upstream else self._to_client
                if not forward(link, packet):
                    break
        except OSError:
            pass
        finally:
            link.close()
            with self._lock:
                self._links.pop(id(link), None)

    def _to_server(self, link: _Link, packet: bytes) -> bool:
        """Forward one client packet unless a fault says otherwise; False ends the link."""
        if packet[3] == 0 and len(packet) > 4 and packet[4] == COM_QUERY:
            statement, action, stall_s, hook = self._record(link, packet[5:])
            if hook is not None:
                hook(statement)
            if action == DROP_BEFORE:
                return False
            if action == STALL:
                statement.gave_up_after = _wait_for_close(link, stall_s)
                return False
            link.drop_on_reply = action == DROP_AFTER
            link.pending = statement
        link.server.sendall(packet)
        return True

    def _to_client(self, link: _Link, packet: bytes) -> bool:
        statement, link.pending = link.pending, None
        if statement is not None:
            statement.applied_at = time.monotonic()
            if link.drop_on_reply:
                return False
        link.client.sendall(packet)
        return True

    def _record(self, link: _Link, payload: bytes):
        sql = payload.decode("utf-8", "replace")
        text = normalise(sql)
        word = hint(sql)
        with self._lock:
            key = (text, word)
            self._counts[key] = self._counts.get(key, 0) + 1
            statement = Statement(link.serial - self._base, time.monotonic(), sql, text, word,
                                  self._counts[key])
            if len(self._trace) < self.max_trace:
                self._trace.append(statement)
            else:
                self.trace_overflow += 1
            fault, action = self._fault, None
            if (fault is not None and self.fired is None
                    and statement.key == (fault.statement, fault.hint)
                    and statement.occurrence == fault.occurrence):
                action, statement.fault, self.fired = fault.action, fault.action, statement
            return statement, action, fault.stall_s if fault else 0.0, self._hook


def _wait_for_close(link: _Link, seconds: float) -> float | None:
    """Hold a stalled statement until the client gives up (closes its connection: how long
    that took) or `seconds` pass (None), or the proxy closes."""
    start = time.monotonic()
    while not link.closed.is_set():
        left = start + seconds - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([link.client], [], [], min(left, 0.1))
        if readable:
            try:
                data = link.client.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data:
                return round(time.monotonic() - start, 3)
            time.sleep(min(left, 0.1))     # a pipelined packet: keep holding it
    return None


def _read_packet(sock: socket.socket) -> bytes | None:
    """One whole packet (header included), or None at the end of the stream."""
    header = _read_exactly(sock, 4)
    if header is None:
        return None
    body = _read_exactly(sock, int.from_bytes(header[:3], "little"))
    return None if body is None else header + body


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data

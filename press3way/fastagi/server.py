"""The FastAGI server: accept on 127.0.0.1, one thread per call up to a cap, SIGHUP reloads
the config (calls in progress keep theirs), SIGTERM stops accepting and lets calls finish.

The main thread accepts connections, cuts at once every peer that is not Asterisk's user
(`peers`: before it gets a thread, a call slot, a byte of ours or a database connection), and
handles signals (through a wake-up socket, so a signal never runs code in the middle of a
call's bookkeeping).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import signal
import socket
import threading
import time

from .. import config
from ..agilog import AgiLog
from ..legs import admission, runner
from . import (
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_DB_CONNECTIONS,
    DEFAULT_PORT,
    DEFAULT_STOP_TIMEOUT_S,
    calls,
    peers,
    request,
    vicidial_port_error,
)
from .pool import Pool

LOG_NAME = "press3way-fastagi"


class StartError(Exception):
    """The server cannot start (a one-line reason)."""


class Server:
    def __init__(self, config_path: str, *, port: int = DEFAULT_PORT,
                 max_calls: int = DEFAULT_MAX_CALLS,
                 max_db_connections: int = DEFAULT_MAX_DB_CONNECTIONS,
                 stop_timeout: float = DEFAULT_STOP_TIMEOUT_S, peer_users: tuple[str, ...] = (),
                 reply_timeout: float = request.REPLY_TIMEOUT_S):
        """Reads the config (`config.ConfigError`) and binds the port (`StartError`)."""
        refused = vicidial_port_error(port)
        if refused:
            raise StartError(refused)
        self.config_path = config_path
        self.max_calls = max_calls
        self.stop_timeout = stop_timeout
        self.reply_timeout = reply_timeout
        try:
            self.peer_uids = peers.accepted_uids(peer_users)
        except peers.PeerError as exc:
            raise StartError(str(exc)) from None
        self.log = AgiLog(LOG_NAME)
        self.pool = Pool(config.load(config_path), limit=min(max_db_connections, max_calls))
        self._serving = runner.Serving(lambda: self.pool.config, self.pool.connection,
                                       lambda: admission.fastagi_max_batches(self.pool.limit))
        self._refusing = calls.refusing(max_calls, lambda: self.pool.config)
        self._listener = _bind(port, backlog=max(128, max_calls))
        self.port: int = self._listener.getsockname()[1]
        self._check_peer_lookup()
        self._lock = threading.Condition()
        self._running = {"calls": 0, "refused": 0}    # threads running a call or a refusal

    def _check_peer_lookup(self) -> None:
        """Ask the kernel who owns our own socket: where it cannot tell (no sock_diag), every
        call would be refused as a peer already gone."""
        try:
            if peers.listener_uid("127.0.0.1", self.port) is not None:
                return
            why = "it does not know our own listening socket"
        except OSError as exc:
            why = f"sock_diag over netlink: {exc.strerror or exc}"
        self._listener.close()
        raise StartError(f"the kernel cannot say who a peer is ({why}); every call would be "
                         "refused")

    # --- the main loop ---------------------------------------------------------------
    def serve(self) -> None:
        """Accept calls until SIGTERM or SIGINT, then wait for the calls in progress."""
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno())
        handled = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, _note_signal) for sig in handled}
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        self.log(f"listening on 127.0.0.1:{self.port}, at most {self.max_calls} calls and "
                 f"{self.pool.limit} database connections, for "
                 f"{', '.join(peers.name_of(uid) for uid in sorted(self.peer_uids))}; "
                 f"config {self.config_path}")
        try:
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._listener:
                        self._accept()
                    elif self._signals(wake_read):
                        return self._stop()
        finally:
            selector.close()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            wake_read.close()
            wake_write.close()
            self._listener.close()
            self.pool.close()

    def _signals(self, wake: socket.socket) -> bool:
        """Handle the signals that arrived; True when one asks to stop."""
        try:
            received = wake.recv(64)
        except BlockingIOError:
            return False
        stop = False
        for number in received:
            if number == signal.SIGHUP:
                self.reload()
            else:
                stop = True
        return stop

    # --- calls -----------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError as exc:          # out of descriptors, say: keep serving the others
            self.log.error(f"accept failed: {exc}")
            return
        if not self._accepted(sock):
            return
        with self._lock:
            kind = "calls" if self._running["calls"] < self.max_calls else "refused"
            if self._running[kind] >= self.max_calls:   # a flood: Asterisk just sees EOF
                self.log.error("refused a call without answering it: too many refusals")
                sock.close()
                return
            self._running[kind] += 1
        if kind == "refused":
            self.log.error(f"refused a call: {self.max_calls} calls in progress, the limit "
                           "(--max-calls)")
        serving = self._serving if kind == "calls" else self._refusing
        threading.Thread(target=self._run_call, args=(sock, serving, kind), daemon=True).start()

    def _accepted(self, sock: socket.socket) -> bool:
        """Whether the peer is Asterisk's user; any other is cut without a byte."""
        try:
            uid = peers.peer_uid(sock)
        except OSError:                 # gone already (getpeername)
            uid = None
        if uid in self.peer_uids:
            return True
        _cut(sock)
        who = "a peer already gone" if uid is None else peers.name_of(uid)
        self.log.error(f"refused a connection from {who}: not Asterisk's user (--peer-user)")
        return False

    def _run_call(self, sock: socket.socket, serving: runner.Serving, kind: str) -> None:
        report_end = None
        try:
            report_end = calls.serve(sock, serving, self.log, self.reply_timeout)
        except Exception as exc:        # noqa: BLE001 - one call's bug never stops the server
            self.log.error(f"call ended by {type(exc).__name__}: {exc}")
        finally:
            _cut(sock)                  # EOF for Asterisk even if something still holds the
            with self._lock:            # socket's files
                self._running[kind] -= 1
                self._lock.notify_all()
        if report_end is not None:
            report_end()

    @property
    def calls_in_progress(self) -> int:
        with self._lock:
            return self._running["calls"]

    # --- reload and stop ---------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the config; new calls use it and fresh connections. A bad config is
        logged and the old one kept."""
        try:
            cfg = config.load(self.config_path)
        except config.ConfigError as exc:
            self.log.error(f"reload refused, keeping the running config: {exc}")
            return
        closed = self.pool.refresh(cfg)
        self.log(f"reloaded {self.config_path}: {closed} idle connections closed, "
                 f"{self.calls_in_progress} calls in progress keep theirs")

    def _stop(self) -> None:
        self._listener.close()
        deadline = time.monotonic() + self.stop_timeout
        with self._lock:
            self.log(f"stopping: no new calls, waiting for {self._running['calls']} in "
                     f"progress (at most {self.stop_timeout:g} s)")
            while self._running["calls"] and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            left = self._running["calls"]
        if left:
            self.log.error(f"stopped with {left} calls cut short (their live rows are left "
                           "to `press3way cleanup`)")
        else:
            self.log("stopped: every call finished")


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _bind(port: int, backlog: int) -> socket.socket:
    """The listening socket; when the port is taken, who holds it (our server, answering the
    probe, or another program and its user)."""
    try:
        return socket.create_server(("127.0.0.1", port), backlog=backlog)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise StartError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    raise StartError(f"127.0.0.1:{port} is in use: {holder(port)}")


def holder(port: int) -> str:
    """Who listens on 127.0.0.1:`port`, in words."""
    ours, why = request.probe(port)
    uid = peers.listener_uid("127.0.0.1", port)
    owner = "an unknown user" if uid is None else peers.name_of(uid)
    if ours:
        return f"another press3way fastagi serves it (run by {owner})"
    return f"a program of {owner} that is not press3way's server listens there ({why})"


def _note_signal(signum: int, frame: object) -> None:
    """The wake-up socket carries the signal to the main loop; nothing to do here."""

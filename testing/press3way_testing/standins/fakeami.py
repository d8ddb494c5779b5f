"""An Asterisk Manager Interface server on loopback: one Asterisk server's manager, real wire
format.

Banner, Login (with its `Events` mask), Events, Ping, Originate (queued, then an
`OriginateResponse` event), Hangup, Redirect, ControlPlayback, Logoff. As on a real Asterisk,
every event of the server goes to every logged-in session whose event mask takes its class
(`call`: Newchannel, Newstate, Hangup, OriginateResponse; `dtmf`: DTMFBegin/DTMFEnd; `agi`:
AGIExecStart/AGIExecEnd), not only to the session whose action caused it. What the actions do
to channels is up to the callbacks (the simulator plays the calls); by default every call
answers at once and every channel exists.
"""

from __future__ import annotations

import functools
import itertools
import queue
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from press3way_testing.standins.channel import new_uniqueid

BANNER = "Asterisk Call Manager/5.0.2"
ALL_CLASSES = frozenset({"system", "call", "log", "verbose", "command", "agent", "user", "config",
                         "dtmf", "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc",
                         "test", "security", "message"})
CONTROLS = ("stop", "forward", "reverse", "pause", "restart")
Pairs = list[tuple[str, str]]


def event_mask(text: str | None) -> frozenset[str]:
    """A Login `Events:` value as the classes it takes (absent, `on`, `all`: every class)."""
    value = (text or "on").strip().lower()
    if value in ("on", "yes", "all", "true", "1"):
        return ALL_CLASSES
    if value in ("off", "no", "false", "0", ""):
        return frozenset()
    return frozenset(c.strip() for c in value.split(",")) & ALL_CLASSES


@dataclass
class Originate:
    """One Originate action as received, and the way to answer it later."""
    fields: dict[str, str]
    variables: dict[str, str]
    action_id: str
    _publish: Callable[[str, str, Pairs], None] = field(repr=False)

    @functools.cached_property
    def uniqueid(self) -> str:
        """The new channel's uniqueid: the ChannelId asked for, else one Asterisk makes."""
        return self.fields.get("ChannelId") or new_uniqueid()

    @functools.cached_property
    def other_uniqueid(self) -> str:
        """The Local channel's other half: OtherChannelId, by default ChannelId + `;2`."""
        if self.fields.get("OtherChannelId"):
            return self.fields["OtherChannelId"]
        return self.uniqueid + ";2" if self.fields.get("ChannelId") else new_uniqueid()

    def respond(self, success: bool, channel: str = "", reason: str = "4") -> None:
        """Publish the OriginateResponse event (reason 4 answered, 3 no answer, 5 busy,
        8 congestion, 1 hung up) to every session that takes call events."""
        self._publish("OriginateResponse", "call", [
            ("ActionID", self.action_id), ("Response", "Success" if success else "Failure"),
            ("Channel", channel or self.fields.get("Channel", "")),
            ("Context", self.fields.get("Context", "")), ("Exten", self.fields.get("Exten", "")),
            ("Application", ""), ("Data", ""), ("Reason", reason), ("Uniqueid", self.uniqueid),
            ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")])


class _Session:
    """One manager connection. What it is sent waits in its own queue, written by its own
    thread, as Asterisk queues per session: a session that reads slowly holds up nobody else."""

    def __init__(self, sock: socket.socket):
        self.sock, self.alive = sock, True
        self.events: frozenset[str] = frozenset()
        self.logged_in = False
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def send(self, pairs: Pairs) -> None:
        self._queue.put(("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode())

    def _write(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.alive:
                try:
                    self.sock.sendall(data)
                except OSError:
                    self.alive = False

    def close(self) -> None:
        """Write what is queued (a Logoff's Goodbye), then close."""
        self._queue.put(None)
        self._writer.join(timeout=5)
        self.alive = False
        try:
            self.sock.close()
        except OSError:
            pass


class FakeAMI:
    def __init__(self, users: dict[str, str] | None = None,
                 on_originate: Callable[[Originate], None] | None = None,
                 on_hangup: Callable[[str], bool] | None = None,
                 on_redirect: Callable[[str, str, str, int], bool] | None = None,
                 on_control_playback: Callable[[str, str], bool] | None = None,
                 close_on_action: str | None = None, banner_delay: float = 0.0):
        """Callbacks take the `Channel` header (a name or a uniqueid) and say whether such a
        channel exists: `on_hangup(channel)`, `on_redirect(channel, context, exten, priority)`,
        `on_control_playback(channel, control)`."""
        self.users = users if users is not None else {"cron": "1234"}
        self.on_originate = on_originate or self._answer_at_once
        self.on_hangup = on_hangup or (lambda channel: True)
        self.on_redirect = on_redirect or (lambda channel, context, exten, priority: True)
        self.on_control_playback = on_control_playback or (lambda channel, control: True)
        self.close_on_action = close_on_action      # drop the connection when this arrives
        self.banner_delay = banner_delay            # a starved manager greets this late
        self.actions: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._counter = itertools.count(1)
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request, self.rfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            request_queue_size = 256      # many agent legs log in at once under load
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.host, self.port = self._server.server_address
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeAMI:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def publish(self, event: str, event_class: str, pairs: Pairs) -> None:
        """Send an event of `event_class` to every logged-in session that takes that class."""
        message = [("Event", event), ("Privilege", f"{event_class},all")] + pairs
        with self._lock:
            sessions = [s for s in self._sessions if s.logged_in and event_class in s.events]
        for session in sessions:
            session.send(message)

    def _answer_at_once(self, originate: Originate) -> None:
        originate.respond(True, f"{originate.fields.get('Channel', 'Local/x')}-"
                                f"{next(self._counter):08x};1")

    # --- one connection -------------------------------------------------------------------
    def _serve(self, sock: socket.socket, rfile) -> None:
        time.sleep(self.banner_delay)
        sock.sendall((BANNER + "\r\n").encode())
        session = _Session(sock)
        with self._lock:
            self._sessions.append(session)
        try:
            while session.alive:
                message, variables = self._read(rfile)
                if message is None:
                    break
                with self._lock:
                    self.actions.append(message)
                action = message.get("Action", "").lower()
                if self.close_on_action and action == self.close_on_action.lower():
                    break
                reply = self._act(session, action, message, variables)
                if reply:
                    session.send(reply)
                if action == "logoff":
                    break
        finally:
            with self._lock:
                self._sessions.remove(session)
            session.close()

    def _act(self, session: _Session, action: str, message: dict[str, str],
             variables: dict[str, str]) -> Pairs:
        """The reply to one action (what Asterisk's manager answers)."""
        action_id = [("ActionID", message["ActionID"])] if "ActionID" in message else []

        def ok(text: str = "") -> Pairs:
            return [("Response", "Success")] + action_id + ([("Message", text)] if text else [])

        def error(text: str) -> Pairs:
            return [("Response", "Error")] + action_id + [("Message", text)]

        if action == "login":
            if self.users.get(message.get("Username", "")) != message.get("Secret"):
                return error("Authentication failed")
            session.send(ok("Authentication accepted"))
            session.events, session.logged_in = event_mask(message.get("Events")), True
            return [("Event", "FullyBooted"), ("Privilege", "system,all"),
                    ("Status", "Fully Booted")] if "system" in session.events else []
        if action == "logoff":
            return [("Response", "Goodbye")] + action_id + [("Message", "Thanks for all the fish.")]
        if not session.logged_in:
            return error("Missing action in request" if not action else "Permission denied")
        if action == "ping":
            return ok("Pong")
        if action == "events":
            session.events = event_mask(message.get("EventMask"))
            return [("Response", "Success")] + action_id + [("Events", "On" if session.events
                                                             else "Off")]
        channel = message.get("Channel", "")
        if action == "originate":
            if not channel:
                return error("Channel not specified")
            session.send(ok("Originate successfully queued"))
            self.on_originate(Originate(message, variables, message.get("ActionID", ""),
                                        self.publish))
            return []
        if action in ("hangup", "redirect", "controlplayback") and not channel:
            return error("No channel specified" if action != "controlplayback"
                         else "Channel name not specified")
        if action == "hangup":
            return ok("Channel Hungup") if self.on_hangup(channel) else error("No such channel")
        if action == "redirect":
            exten, context = message.get("Exten", ""), message.get("Context", "")
            priority = message.get("Priority", "1")
            if not (exten and context) or not priority.isdigit():
                return error("Redirect failed, context, exten and priority required")
            if not self.on_redirect(channel, context, exten, int(priority)):
                return error("Channel does not exist: " + channel)
            extra = message.get("ExtraChannel", "")
            if extra and not self.on_redirect(extra, message.get("ExtraContext", context),
                                              message.get("ExtraExten", exten),
                                              int(message.get("ExtraPriority", priority))):
                return error("Channel does not exist: " + extra)
            return ok("Dual Redirect successful" if extra else "Redirect successful")
        if action == "controlplayback":
            control = message.get("Control", "").lower()
            if not control:
                return error("Control not specified")
            if control not in CONTROLS:
                return error("Unknown control type")
            return ok() if self.on_control_playback(channel, control) \
                else error("No such channel")
        return error("Invalid/unknown command")

    @staticmethod
    def _read(rfile) -> tuple[dict[str, str] | None, dict[str, str]]:
        message: dict[str, str] = {}
        variables: dict[str, str] = {}
        while True:
            raw = rfile.readline()
            if not raw:
                return None, variables
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if message:
                    return message, variables
                continue
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key.lower() == "variable":
                name, _, val = value.partition("=")
                variables[name] = val
            message[key] = value


def channel_matches(target: str, names: tuple[str, ...], uniqueids: tuple[str, ...] = ()) -> bool:
    """How AMI finds a channel: by name or by uniqueid; Hangup also takes `/regex/` on names."""
    if len(target) > 2 and target.startswith("/") and target.endswith("/"):
        pattern = re.compile(target[1:-1])
        return any(pattern.search(n) for n in names if n)
    return target in names or target in uniqueids

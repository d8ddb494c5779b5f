"""An Asterisk Manager Interface server on loopback that speaks the real wire format.

Banner, Login, Originate (queued, then an `OriginateResponse` event when the call is answered
or fails), Hangup, Redirect, Logoff. What an originate *does* is up to `on_originate` (the
simulator turns it into an outside call); by default every call answers at once.
"""

from __future__ import annotations

import itertools
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Callable

BANNER = "Asterisk Call Manager/5.0.2"


@dataclass
class Originate:
    """One Originate action as received, and the way to answer it later."""
    fields: dict[str, str]
    variables: dict[str, str]
    action_id: str
    _send: Callable[[list[tuple[str, str]]], None] = field(repr=False)

    def respond(self, success: bool, channel: str = "", reason: str = "4") -> None:
        """Send the OriginateResponse event (reason 4 answered, 3 no answer, 5 busy, 8 congestion)."""
        self._send([("Event", "OriginateResponse"), ("Privilege", "call,all"),
                    ("ActionID", self.action_id), ("Response", "Success" if success else "Failure"),
                    ("Channel", channel or self.fields.get("Channel", "")),
                    ("Context", self.fields.get("Context", "")),
                    ("Exten", self.fields.get("Exten", "")), ("Reason", reason),
                    ("Uniqueid", self.fields.get("ChannelId", "<null>")),
                    ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")])


class FakeAMI:
    def __init__(self, users: dict[str, str] | None = None,
                 on_originate: Callable[[Originate], None] | None = None,
                 on_hangup: Callable[[str], bool] | None = None,
                 close_on_action: str | None = None):
        self.users = users if users is not None else {"cron": "1234"}
        self.on_originate = on_originate or self._answer_at_once
        self.on_hangup = on_hangup or (lambda channel: True)
        self.close_on_action = close_on_action      # drop the connection when this arrives
        self.actions: list[dict[str, str]] = []
        self._lock = threading.Lock()
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

    def _answer_at_once(self, originate: Originate) -> None:
        originate.respond(True, f"{originate.fields.get('Channel', 'Local/x')}-"
                                f"{next(self._counter):08x};1")

    # --- one connection -------------------------------------------------------------------
    def _serve(self, sock: socket.socket, rfile) -> None:
        write_lock = threading.Lock()
        alive = [True]

        def send(pairs: list[tuple[str, str]]) -> None:
            data = ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()
            with write_lock:
                if alive[0]:
                    try:
                        sock.sendall(data)
                    except OSError:
                        alive[0] = False

        sock.sendall((BANNER + "\r\n").encode())
        logged_in = False
        while True:
            message, variables = self._read(rfile)
            if message is None:
                break
            with self._lock:
                self.actions.append(message)
            action = message.get("Action", "").lower()
            reply = [("ActionID", message.get("ActionID", ""))] if "ActionID" in message else []
            if self.close_on_action and action == self.close_on_action.lower():
                break
            if action == "login":
                if self.users.get(message.get("Username", "")) == message.get("Secret"):
                    logged_in = True
                    send([("Response", "Success")] + reply + [("Message", "Authentication accepted")])
                    send([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")])
                else:
                    send([("Response", "Error")] + reply + [("Message", "Authentication failed")])
            elif action == "logoff":
                send([("Response", "Goodbye")] + reply + [("Message", "Thanks for all the fish.")])
                break
            elif not logged_in:
                send([("Response", "Error")] + reply + [("Message", "Missing action in request")])
            elif action == "originate":
                send([("Response", "Success")] + reply + [("Message", "Originate successfully queued")])
                self.on_originate(Originate(message, variables, message.get("ActionID", ""), send))
            elif action == "hangup":
                target = message.get("Channel", "")
                if self.on_hangup(target):
                    send([("Response", "Success")] + reply + [("Message", "Channel Hungup")])
                else:
                    send([("Response", "Error")] + reply + [("Message", "No such channel")])
            elif action in ("redirect", "ping"):
                send([("Response", "Success")] + reply + [("Message", "Redirect successful"
                                                           if action == "redirect" else "Pong")])
            else:
                send([("Response", "Error")] + reply + [("Message", "Invalid/unknown command")])
        with write_lock:
            alive[0] = False
        try:
            sock.close()
        except OSError:
            pass

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


def channel_matches(target: str, *names: str) -> bool:
    """AMI's Hangup takes a channel name, a uniqueid/ChannelId, or `/regex/`."""
    if len(target) > 2 and target.startswith("/") and target.endswith("/"):
        pattern = re.compile(target[1:-1])
        return any(pattern.search(n) for n in names if n)
    return target in names

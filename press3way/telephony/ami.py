"""A small Asterisk Manager Interface client: login, Originate (async, tracked), Hangup,
ControlPlayback, Logoff. One socket, a timeout on every read, errors as `AMIError`.

Not pyst2's manager: it builds ActionIDs from host name + counter (they collide between the
per-call processes sharing one Asterisk), starts threads, and its close() can hang.
"""

from __future__ import annotations

import socket
import time
import uuid

from ..lean_dataclass import lean_dataclass
from . import hangup

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Callable

Message = dict[str, str]


class AMIError(Exception):
    """AMI unreachable, login refused, an error reply, or the socket closed."""


class NotSent(hangup.Hangup):
    """The leg was hung up before the Originate went out: nothing was placed."""


@lean_dataclass
class OriginateResult:
    success: bool
    channel: str
    reason: str          # Asterisk's reason code: 4 answered, 3 no answer, 5 busy, 8 congestion...


REASONS = {"0": "failed", "1": "hung up", "3": "no answer", "4": "answered", "5": "busy",
           "8": "congestion"}


# How long the banner and the login's reply may take: a starved machine's manager answers
# late, and a batch refused then ends every one of its calls (a hang-up still interrupts).
CONNECT_TIMEOUT_S = 10.0


class AMIClient:
    def __init__(self, host: str, port: int, timeout: float = 2.0,
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        self.host, self.port, self.timeout = host, port, timeout
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._offset = 0                     # where the next unparsed message starts
        self._responses: dict[str, Message] = {}
        self.originates: dict[str, OriginateResult] = {}    # ActionID -> OriginateResponse
        self.watch: Callable[[Message], bool] | None = None  # events the caller wants to see
        self.noticed: list[Message] = []                     # ...and here they are
        self.banner = ""

    # --- connection ---------------------------------------------------------------------
    def connect(self) -> AMIClient:
        try:
            with hangup.interruptible():
                self._sock = socket.create_connection((self.host, self.port),
                                                      timeout=self.connect_timeout)
        except OSError as exc:
            raise AMIError(f"AMI unreachable at {self.host}:{self.port}: {exc}") from None
        deadline = time.monotonic() + self.connect_timeout
        while b"\r\n" not in self._buffer:
            if not self._fill(deadline):
                raise AMIError(f"no banner from {self.host}:{self.port} within "
                               f"{self.connect_timeout:g} s")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        self.banner = line.decode("utf-8", "replace")
        if not self.banner.startswith("Asterisk Call Manager"):
            raise AMIError(f"not an AMI server at {self.host}:{self.port}: {self.banner[:60]!r}")
        return self

    def login(self, user: str, secret: str, events: str = "call") -> None:
        """`events`: the classes to receive (OriginateResponse and Hangup are `call`; a busy
        server's other events are not ours to read)."""
        reply = self.request("Login", [("Username", user), ("Secret", secret),
                                       ("Events", events)], timeout=self.connect_timeout)
        if reply.get("Response") != "Success":
            raise AMIError(f"AMI login as {user!r} refused: {reply.get('Message', '')}")

    def fileno(self) -> int:
        """The socket, to wait on together with other input."""
        if self._sock is None:
            raise AMIError("AMI not connected")
        return self._sock.fileno()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def logoff(self) -> None:
        """Say goodbye, but never wait long for it: the call's work is done."""
        if self._sock is None:
            return
        try:
            self.send("Logoff", [])
        except AMIError:
            pass
        self.close()

    def __enter__(self) -> AMIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.logoff()

    # --- actions ------------------------------------------------------------------------
    def send(self, action: str, fields: list[tuple[str, str]]) -> str:
        """Send one action; its ActionID (unique across processes and hosts)."""
        if self._sock is None:
            raise AMIError("AMI not connected")
        action_id = f"p3w-{uuid.uuid4().hex}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        for key, value in fields:
            if "\r" in value or "\n" in value:
                raise AMIError(f"{key} contains a line break")
            lines.append(f"{key}: {value}")
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        except OSError as exc:
            raise AMIError(f"AMI connection lost: {exc}") from None
        return action_id

    def request(self, action: str, fields: list[tuple[str, str]],
                timeout: float | None = None) -> Message:
        """Send an action and wait for its Response."""
        return self._await_response(self.send(action, fields), timeout or self.timeout)

    def _await_response(self, action_id: str, timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        while action_id not in self._responses:
            self._dispatch(self._read_message(deadline))
        return self._responses.pop(action_id)

    def originate(self, channel: str, context: str, exten: str, priority: int, caller_id: str,
                  timeout_ms: int, variables: dict[str, str],
                  channel_ids: tuple[str, str]) -> str:
        """Queue an async Originate; its ActionID, whose OriginateResponse `poll` collects.
        `channel_ids` become the uniqueids of the channel and of its other half (Local).
        `NotSent` when the leg has been hung up already; any other `Hangup` comes after the
        sending (the reply was being awaited)."""
        fields = [("Channel", channel), ("Context", context), ("Exten", exten),
                  ("Priority", str(priority)), ("CallerID", caller_id),
                  ("Timeout", str(timeout_ms)), ("Async", "true"),
                  ("ChannelId", channel_ids[0]), ("OtherChannelId", channel_ids[1])]
        fields += [("Variable", f"{k}={v}") for k, v in variables.items()]
        if hangup.received():   # a leg hung up places nothing (a SIGHUP outside any wait)
            raise NotSent("SIGHUP from Asterisk, before the originate")
        action_id = self.send("Originate", fields)
        reply = self._await_response(action_id, self.timeout)
        if reply.get("Response") != "Success":
            raise AMIError(f"Originate refused: {reply.get('Message', '')}")
        return action_id

    def hangup(self, channel: str) -> bool:
        """Hang up one channel, by name or by the ChannelId set at originate. Never a pattern:
        Asterisk reads a `/.../` Channel as a regex and hangs up every channel it matches."""
        if channel.startswith("/"):
            raise AMIError(f"refused to hang up {channel[:40]!r}: a pattern, not one channel")
        return self.request("Hangup", [("Channel", channel)]).get("Response") == "Success"

    def stop_playback(self, channel: str) -> bool:
        """End the sound a channel is playing now (an AGI's STREAM FILE returns at once)."""
        reply = self.request("ControlPlayback", [("Channel", channel), ("Control", "stop")])
        if reply.get("Response") != "Success":
            raise AMIError(f"ControlPlayback refused: {reply.get('Message', '')}")
        return True

    def poll(self, wait: float = 0.0) -> None:
        """Take in what Asterisk has sent (OriginateResponse events): one read, waiting at
        most `wait`, so a busy server's event stream never holds up the caller's loop."""
        self._fill(time.monotonic() + wait)
        while (message := self._next_message()) is not None:
            self._dispatch(message)

    # --- wire format --------------------------------------------------------------------
    def _dispatch(self, message: Message) -> None:
        if message.get("Event") == "OriginateResponse":
            reason = message.get("Reason", "")
            self.originates[message.get("ActionID", "")] = OriginateResult(
                message.get("Response") == "Success", message.get("Channel", ""),
                REASONS.get(reason, reason))
        elif "Response" in message and "ActionID" in message:
            self._responses[message["ActionID"]] = message
        elif self.watch is not None and "Event" in message and self.watch(message):
            self.noticed.append(message)

    def _read_message(self, deadline: float) -> Message:
        while (message := self._next_message()) is None:
            if not self._fill(deadline):
                raise AMIError(f"no answer from AMI at {self.host}:{self.port} in time")
        return message

    def _next_message(self) -> Message | None:
        """One complete message (lines up to a blank line) from the buffer, if there is one."""
        end = self._buffer.find(b"\r\n\r\n", self._offset)
        if end < 0:                          # drop what was parsed, once per read, not per message
            self._buffer, self._offset = self._buffer[self._offset:], 0
            return None
        block, self._offset = self._buffer[self._offset:end], end + 4
        message: Message = {}
        for line in block.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip():
                message[key.strip()] = value.strip()
        return message

    def _fill(self, deadline: float) -> bool:
        """Receive what arrives before `deadline`; False if nothing did."""
        if self._sock is None:
            raise AMIError("AMI not connected")
        self._sock.settimeout(max(deadline - time.monotonic(), 0.0))
        try:
            with hangup.interruptible():
                chunk = self._sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return False
        except OSError as exc:
            raise AMIError(f"AMI connection lost: {exc}") from None
        if not chunk:
            self.close()
            raise AMIError("AMI closed the connection")
        self._buffer += chunk
        return True

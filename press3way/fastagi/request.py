"""What a FastAGI peer sends before anything runs: the AGI environment, read within bounds,
checked whole before a leg (and so a database connection) is given to it; and the probe by
which `press3way check`, `install --fastagi` and a starting server tell our server from any
other program on the port.

Bounds: Asterisk writes its environment (some 25 short lines) the moment it connects, so a
peer gets `ENVIRONMENT_DEADLINE_S` for all of it, `MAX_LINE` bytes a line and `MAX_LINES`
lines; the socket is read in chunks no longer than a line may be, so a peer that never sends a
newline costs at most `MAX_LINE` bytes. The bytes after the environment's empty line are left
in the socket for the leg's own reader.
"""

from __future__ import annotations

import io
import posixpath
import secrets
import select
import socket
import time

from ..telephony.agi import AgiError, parse_stage
from . import DEFAULT_STOP_TIMEOUT_S

ENVIRONMENT_DEADLINE_S = 5.0
MAX_LINE = 4096
MAX_LINES = 200
# The longest wait for one reply of Asterisk is a sound played to its end (its reply comes
# then); longer than any call is a peer that stopped answering. (--reply-timeout)
REPLY_TIMEOUT_S = DEFAULT_STOP_TIMEOUT_S
REQUIRED = ("agi_channel", "agi_uniqueid", "agi_arg_1")

PROBE_SCRIPT = "press3way-probe"
PROBE_TIMEOUT_S = 2.0


class BadRequest(Exception):
    """The peer's environment broke a bound or ended early; `env`: what was read of it."""

    def __init__(self, message: str, env: dict[str, str] | None = None):
        super().__init__(message)
        self.env = env or {}


def _wait_readable(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([sock], [], [], left)[0]:
        raise BadRequest(f"no complete environment within {ENVIRONMENT_DEADLINE_S:g} s")


def _line(sock: socket.socket, deadline: float) -> bytes:
    """One line, newline included (b"" at EOF before any byte). Only the line's own bytes are
    taken from the socket: what follows stays there."""
    line = bytearray()
    while True:
        _wait_readable(sock, deadline)
        ahead = sock.recv(MAX_LINE + 1 - len(line), socket.MSG_PEEK)
        if not ahead:
            if line:
                raise BadRequest("the environment ended in the middle of a line")
            return b""
        end = ahead.find(b"\n")
        line += sock.recv(end + 1 if end >= 0 else len(ahead))
        if line.endswith(b"\n"):
            return bytes(line)
        if len(line) > MAX_LINE:
            raise BadRequest(f"an environment line longer than {MAX_LINE} bytes")


def read_environment(sock: socket.socket) -> dict[str, str]:
    """The `agi_name: value` lines up to the empty one; {} when the peer closes without a word
    (a bare port probe). Raises BadRequest, OSError."""
    deadline = time.monotonic() + ENVIRONMENT_DEADLINE_S
    env: dict[str, str] = {}
    try:
        for count in range(MAX_LINES + 1):
            raw = _line(sock, deadline)
            if not raw:
                if count:
                    raise BadRequest("the peer closed before the end of its environment")
                return env
            key, _, value = raw.decode("utf-8", "replace").strip().partition(":")
            if not key:
                return env
            env[key.strip()] = value.strip()
        raise BadRequest(f"more than {MAX_LINES} environment lines")
    except BadRequest as exc:
        raise BadRequest(str(exc), env) from None


def script_name(env: dict[str, str]) -> str:
    """`agi_network_script` (Asterisk 1.6+), else the last part of `agi_request`'s URL."""
    script = env.get("agi_network_script") or posixpath.basename(env.get("agi_request", ""))
    return script.split("?", 1)[0].lstrip("/")


def problem(env: dict[str, str], script: str, stages: tuple[str, ...]) -> str | None:
    """Why this environment is no call of `script` (whose stages are `stages`), or None:
    checked before the leg may take a database connection."""
    missing = [key for key in REQUIRED if not env.get(key)]
    if missing:
        return f"incomplete AGI environment for {script}: no {', '.join(missing)}"
    try:
        stage, _ = parse_stage(env["agi_arg_1"])
    except ValueError as exc:
        return f"bad stage for {script}: {exc}"
    if stage not in stages:
        return f"unknown stage {stage!r} for {script} (expected {', '.join(stages)})"
    return None


class BoundedLines(io.TextIOWrapper):
    """Asterisk's replies, a line at most MAX_LINE characters (a longer one is no reply)."""

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        line = super().readline(MAX_LINE if size < 0 else min(size, MAX_LINE))
        if len(line) >= MAX_LINE and not line.endswith("\n"):
            raise AgiError(f"a reply from Asterisk longer than {MAX_LINE} characters")
        return line


def replies(sock: socket.socket, timeout: float = REPLY_TIMEOUT_S) -> BoundedLines:
    """The reader of Asterisk's replies on `sock` (`timeout` bounds each one)."""
    sock.settimeout(timeout)
    return BoundedLines(sock.makefile("rb"), encoding="utf-8", errors="replace", newline="\n")


# --- the probe ------------------------------------------------------------------------------
def probe_answer(nonce: str) -> bytes:
    """What our server sends a probe: an AGI command that a real Asterisk would just print,
    carrying the probe's own random nonce (so no recorded or generic reply can pass)."""
    return f'VERBOSE "press3way fastagi {nonce}" 1\n'.encode("ascii")


def is_probe(env: dict[str, str]) -> bool:
    return script_name(env) == PROBE_SCRIPT


def answer_probe(sock: socket.socket, env: dict[str, str]) -> None:
    nonce = env.get("agi_arg_1", "")
    if nonce.isalnum() and len(nonce) <= 64:
        sock.sendall(probe_answer(nonce))


def probe(port: int, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Ask 127.0.0.1:`port` whether it is our server: (True, "") when it answered our probe
    with its nonce, else (False, what happened). Any other program (VICIdial's FastAGI_log.pl,
    an echo, a server that just accepts) fails: none sends our line with our fresh nonce."""
    nonce = secrets.token_hex(16)
    request = (f"agi_network: yes\nagi_network_script: {PROBE_SCRIPT}\n"
               f"agi_request: agi://127.0.0.1:{port}/{PROBE_SCRIPT}\nagi_channel: press3way/probe\n"
               f"agi_uniqueid: probe\nagi_arg_1: {nonce}\n\n").encode("ascii")
    expected = probe_answer(nonce)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            got = _first_line(sock, len(expected), time.monotonic() + timeout)
    except OSError as exc:
        return False, f"nothing answers ({exc.strerror or exc or type(exc).__name__})"
    if got == expected:
        return True, ""
    if not got:
        return False, ("something accepted the connection and closed it without answering "
                       "(our server does so to a user it does not serve: probe as root)")
    return False, f"something answered that is not press3way's server: {got[:60]!r}"


def _first_line(sock: socket.socket, limit: int, deadline: float) -> bytes:
    got = b""
    while b"\n" not in got and len(got) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(limit - len(got))
        except TimeoutError:
            break
        if not chunk:
            break
        got += chunk
    return got

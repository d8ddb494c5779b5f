"""One FastAGI connection: read Asterisk's environment, pick the leg by the script name in
the URL, and run it exactly as its per-call script would, with the server's config and pool."""

from __future__ import annotations

import posixpath
import socket
import time
from typing import Callable, ContextManager

import pymysql

from .. import database
from ..agilog import AgiLog
from ..config import Config
from ..legs import agent, outside, runner
from ..telephony.agi import Channel

LEGS: dict[str, Callable[..., int]] = {agent.SCRIPT: agent.main, outside.SCRIPT: outside.main}
# Asterisk writes the environment as soon as it connects: a silent peer is not Asterisk.
ENVIRONMENT_TIMEOUT_S = 5.0


def script_name(env: dict[str, str]) -> str:
    """`agi_network_script` (Asterisk 1.6+), else the last part of `agi_request`'s URL."""
    script = env.get("agi_network_script") or posixpath.basename(env.get("agi_request", ""))
    return script.split("?", 1)[0].lstrip("/")


def serve(sock: socket.socket, serving: runner.Serving, log: AgiLog) -> Callable[[], None]:
    """Run the call on `sock` to its end (the server closes the socket afterwards). Returns
    the call's closing log line, which the server writes once the call's slot is free."""
    started = time.monotonic()
    sock.settimeout(ENVIRONMENT_TIMEOUT_S)
    try:
        channel = Channel.over_socket(sock)
    except (OSError, ValueError, UnicodeError) as exc:
        log.error(f"cannot read the AGI environment: {exc or type(exc).__name__}")
        return lambda: None
    if not channel.env:                 # closed without a word: a port probe (`press3way
        channel.close()                 # check`), nothing to log
        return lambda: None
    sock.settimeout(None)               # from here on a reply may take as long as a sound
    log = AgiLog(log.script)            # this call's lines carry its channel, as the legs' do
    log.channel = channel.name
    script = script_name(channel.env)
    run = LEGS.get(script)
    try:
        if run is None:
            log.error(f"unknown script {script!r} requested by {channel.name} "
                      f"(expected {' or '.join(LEGS)})")
            status = 1
        else:
            with runner.served_by(serving):
                status = run(lambda: channel)
    finally:
        channel.close()
    took = time.monotonic() - started
    return lambda: log(f"call {channel.env.get('agi_uniqueid', '?')} {script or '-'} "
                       f"{channel.name or '-'}: status {status} after {took:.3f} s")


def refusing(limit: int, load_config: Callable[[], Config]) -> runner.Serving:
    """What a call over the limit runs with: its leg fails at once, as with a database down,
    so the caller takes the dialplan's buzz (agent) or `i` (outside) path."""
    def no_connection(cfg: Config) -> ContextManager[pymysql.Connection]:
        raise database.DatabaseError(
            f"refused: the FastAGI server is at its limit of {limit} calls")

    return runner.Serving(load_config, no_connection)

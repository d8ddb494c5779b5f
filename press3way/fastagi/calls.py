"""One FastAGI connection from an accepted peer (see `peers`): read Asterisk's environment
within bounds, check it, pick the leg by the script name in the URL, and run it exactly as its
per-call script would, with the server's config and pool.

A request that is not a whole call of ours never reaches the pool: an unknown script is cut
without a command; a known script with a bad environment runs its leg on a `Serving` that
refuses every database connection, so the caller takes the leg's failure path (buzz, or `i`)
and the AGI log says why, as in per-call mode.
"""

from __future__ import annotations

import socket
import time
from typing import Callable, ContextManager

import pymysql

from .. import database
from ..agilog import AgiLog
from ..config import Config
from ..legs import agent, outside, runner
from ..telephony.agi import Channel
from . import request

LEGS: dict[str, tuple[Callable[..., int], tuple[str, ...]]] = {
    agent.SCRIPT: (agent.main, agent.STAGES), outside.SCRIPT: (outside.main, tuple(outside.STAGES))}


def serve(sock: socket.socket, serving: runner.Serving, log: AgiLog,
          reply_timeout: float = request.REPLY_TIMEOUT_S) -> Callable[[], None]:
    """Run the call on `sock` to its end (the server closes the socket afterwards); a reply
    of Asterisk's that takes longer than `reply_timeout` ends it as a hang-up would. Returns
    the call's closing log line, which the server writes once the call's slot is free."""
    started = time.monotonic()
    try:
        env = request.read_environment(sock)
    except (OSError, request.BadRequest) as exc:
        env = getattr(exc, "env", {})
        log.error(f"cannot read the AGI environment: {exc or type(exc).__name__}")
        return _closing(log, env, 1, started) if env else lambda: None
    if not env:                         # closed without a word: a bare port probe
        return lambda: None
    if request.is_probe(env):           # `press3way check`: nothing to log
        request.answer_probe(sock, env)
        return lambda: None
    log = AgiLog(log.script)            # this call's lines carry its channel, as the legs' do
    log.channel = env.get("agi_channel", "")
    script = request.script_name(env)
    if script not in LEGS:
        log.error(f"unknown script {script!r} requested by {log.channel} "
                  f"(expected {' or '.join(LEGS)})")
        return _closing(log, env, 1, started)
    run, stages = LEGS[script]
    why = request.problem(env, script, stages)
    commands = sock.makefile("w", encoding="utf-8", newline="\n")
    channel = Channel(request.replies(sock, reply_timeout), commands, sock, env=env)
    try:
        with runner.served_by(no_database(why, serving.load_config) if why else serving):
            status = run(lambda: channel)
    finally:
        channel.close()
    return _closing(log, env, status, started)


def _closing(log: AgiLog, env: dict[str, str], status: int, started: float) -> Callable[[], None]:
    took = time.monotonic() - started
    script = request.script_name(env)
    return lambda: log(f"call {env.get('agi_uniqueid') or '?'} {script or '-'} "
                       f"{env.get('agi_channel') or '-'}: status {status} after {took:.3f} s")


def no_database(why: str, load_config: Callable[[], Config]) -> runner.Serving:
    """What a call runs with when it may not have a database connection (a bad request, or a
    call over the limit): its leg fails as with a database down, so the caller takes the
    dialplan's buzz (agent) or `i` (outside) path, and the AGI log says `why`."""
    def no_connection(cfg: Config) -> ContextManager[pymysql.Connection]:
        raise database.DatabaseError(why)

    return runner.Serving(load_config, no_connection)


def refusing(limit: int, load_config: Callable[[], Config]) -> runner.Serving:
    """What a call over the limit runs with."""
    return no_database(f"refused: the FastAGI server is at its limit of {limit} calls",
                       load_config)

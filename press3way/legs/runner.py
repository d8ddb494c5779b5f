"""What both AGI scripts do around their flow: read the channel, the config, connect once,
follow servers.agi_output, and turn every failure into a log line plus a sound for the caller.

Where the config and the connection come from is the caller's choice (`served_by`): a process
of its own per call by default, the FastAGI server's current config and pool otherwise.
"""

from __future__ import annotations

import contextlib
import time
from _thread import _local  # threading.local without threading's start-up cost

from .. import config, database, store, vicidial
from ..agilog import AgiLog
from ..lean_dataclass import lean_dataclass
from ..telephony import hangup
from ..telephony.agi import AgiError, Channel, Hangup
from . import admission

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Callable, Collection, ContextManager, Iterator

    import pymysql

    Flow = Callable[["Leg"], None]


@lean_dataclass
class Leg:
    """Everything a flow needs, gathered once per call."""
    channel: Channel
    log: AgiLog
    cfg: config.Config
    store: store.Store
    server: vicidial.Server
    stage: str
    timeouts: list[int]
    started: float          # time.monotonic() when the script began: deadlines run from here
    max_batches: int = 0    # batches of a server at once (legs/admission.py); 0: no limit

    @property
    def conn(self):
        return self.store.conn


@lean_dataclass(frozen=True)
class Serving:
    """Where a call's config and database connection come from, and how many batches of
    a server may wait at once unless the config says (legs/admission.py; 0: no limit)."""
    load_config: Callable[[], config.Config]
    connection: Callable[[config.Config], ContextManager[pymysql.Connection]]
    max_batches: Callable[[], int] = lambda: 0


@contextlib.contextmanager
def own_connection(cfg: config.Config) -> Iterator[pymysql.Connection]:
    """Per-call mode: a connection of the process's own, said goodbye to at the end (a
    connection that just drops is an "Aborted connection" warning in the database's error
    log, one per AGI run)."""
    conn = database.connect(cfg)
    try:
        yield conn
    finally:
        database.close_quietly(conn)


PER_CALL = Serving(config.load, own_connection, lambda: admission.PER_CALL_MAX_BATCHES)
_serving = _local()


@contextlib.contextmanager
def served_by(serving: Serving) -> Iterator[None]:
    """Run the legs started in this thread with `serving` (the FastAGI server's calls)."""
    _serving.current = serving
    try:
        yield
    finally:
        del _serving.current


# Bad input and broken infrastructure: a clear log line, and the caller hears buzz.
EXPECTED_FAILURES = (config.ConfigError, database.DatabaseError, vicidial.NotFound, ValueError,
                     AgiError, admission.Overloaded)


def run(script: str, flow: Flow, on_failure: Callable[[Leg | None, Channel], None],
        make_channel: Callable[[], Channel] = Channel, ending: Collection[str] = ()) -> int:
    """Run one AGI leg; the process exit status. Stages in `ending` run from h, t or i and
    finish their work even though the channel is (being) hung up. A process of its own logs
    its CPU time last (`bench/` reads it; the FastAGI server logs each call's duration)."""
    log = AgiLog(script)
    serving: Serving = getattr(_serving, "current", PER_CALL)
    code = _run(log, flow, on_failure, make_channel, ending, serving)
    if serving is PER_CALL:
        log(f"status {code}, {time.process_time():.4f} s of CPU since the process started")
    return code


def _run(log: AgiLog, flow: Flow, on_failure: Callable[[Leg | None, Channel], None],
         make_channel: Callable[[], Channel], ending: Collection[str], serving: Serving) -> int:
    started = time.monotonic()
    try:
        channel = make_channel()
    except Exception as exc:            # noqa: BLE001 - nothing to answer to without a channel
        log.error(f"cannot read the AGI environment: {exc}")
        return 1
    log.channel = channel.name
    channel.warn = log.error
    leg: Leg | None = None
    try:
        stage, timeouts = channel.stage()
        hangup.expect(stage in ending)
        cfg = serving.load_config()
        log.logs_dir = cfg.logs_dir
        with serving.connection(cfg) as conn:
            server = vicidial.server(conn, cfg.server_ip)
            log.follow(server.agi_output, cfg.logs_dir)
            limit = serving.max_batches() if cfg.max_batches is None else cfg.max_batches
            leg = Leg(channel, log, cfg, store.Store(conn), server, stage, timeouts, started,
                      limit)
            log(f"stage {stage} {timeouts or ''}".rstrip())
            flow(leg)
            channel.detach()            # nothing more to ask: Asterisk goes on meanwhile
        return 0
    except Hangup as exc:
        log(f"channel hung up: {exc}")
        return 0
    except EXPECTED_FAILURES as exc:
        log.error(str(exc) or f"{type(exc).__name__} without a message")
    except Exception as exc:            # noqa: BLE001 - a bug must still end the call cleanly
        import traceback  # only on this path: keeps every call's start-up lean
        log.error(f"unexpected {type(exc).__name__}: {exc}")
        for line in traceback.format_exc().splitlines():    # a record is one line
            log.error(line)
    try:
        on_failure(leg, channel)
    except (Hangup, AgiError, database.DatabaseError) as exc:
        log(f"while ending the call: {exc or type(exc).__name__}")
    return 1


"""Small helpers shared by the tests: start calls as the agent leg would, read rows back."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import Iterator

from press3way import events as ev
from press3way import vicidial
from press3way.database import execute, query
from press3way.store import Call, Store
from press3way.tables import LIVE, LOG
from press3way_testing.demo import dialplan_text
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.sim import SimResult, Simulation, parse_party


_serial = itertools.count(int(time.time()) % 10_000_000)


def start_calls(site, n: int = 1, caller_code: str | None = None) -> list[str]:
    """Insert n started calls of one batch (what the agent leg does before originating)."""
    conn = site.connect()
    store = Store(conn)
    code = caller_code or site.caller_code
    ids = []
    for i in range(n):
        call_id = f"T{next(_serial):07d}{i:02d}{site.lead_id:010d}"
        store.start_call(Call(code, call_id, site.lead_id, f"727555{1212 + i:04d}",
                              f"91727555{1212 + i:04d}", "7275550000", site.user, site.session,
                              site.server_ip))
        ids.append(call_id)
    conn.close()
    return ids


def live(site, call_id: str) -> dict | None:
    rows = query(site.connect(), f"SELECT * FROM {LIVE} WHERE call_3way_id = %s", (call_id,))
    return rows[0] if rows else None


def log(site, call_id: str) -> dict:
    return query(site.connect(), f"SELECT * FROM {LOG} WHERE call_3way_id = %s", (call_id,))[0]


def events(site, call_id: str) -> list[str]:
    return [e for e, _ in ev.parse_result(log(site, call_id)["result"])]


def sql(site, statement: str, params=()) -> list[dict]:
    return query(site.connect(), statement, params)


def cli(conf_path: str, *args: str):
    """Run a `press3way` command as an administrator would, with PRESS3WAY_CONF set."""
    from click.testing import CliRunner

    from press3way.cli import main

    return CliRunner().invoke(main, list(args), env={"PRESS3WAY_CONF": conf_path},
                              catch_exceptions=False)

def play(site, parties, **options) -> SimResult:
    """Whole calls through our dialplan, sounds ten times faster, each AGI step in the site's
    mode (a process, or the FastAGI server the `agi_mode` fixture gave it)."""
    options.setdefault("sound_scale", 0.1)
    return Simulation(site, site.conf_path, [parse_party(p) for p in parties],
                      dialplan_text=dialplan_text(), fastagi=site.fastagi, **options).run()


@contextlib.contextmanager
def server_in_mode(conf_path: str, agi_mode: str) -> Iterator[FastAGIServer | None]:
    """For a test with a config of its own: in FastAGI mode a server reading that config
    (None in process mode, where each process reads it)."""
    if agi_mode != "fastagi":
        yield None
        return
    with FastAGIServer(conf_path) as server:
        yield server


def reserve_room(site, conf: str, user: str) -> None:
    """The room reserved for `user`'s transfer, as the agent leg's reservation writes it."""
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    execute(conn, f"UPDATE {srv.conference_table} SET extension = %s, leave_3way = '0' "
                  "WHERE server_ip = %s AND conf_exten = %s",
            (vicidial.reservation_tag(user), site.server_ip, conf))
    conn.close()


def reserve_when_accepted(site, cid: str, conf: str = "8600061") -> threading.Thread:
    """Play the agent leg's part: reserve a conference once the call is ACCEPTED."""
    def agent():
        store = Store(site.connect())
        for _ in range(400):
            row = store.live_call(cid)
            if row and row["status"] == "ACCEPTED":
                reserve_room(site, conf, row["user"])
                store.reserve(cid, conf) and store.hand_over(cid)
                return
            threading.Event().wait(0.01)
    thread = threading.Thread(target=agent)
    thread.start()
    return thread

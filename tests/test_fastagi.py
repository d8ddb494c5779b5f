"""The FastAGI server itself, over real connections: the cap on calls, the connection pool,
reload (SIGHUP) and stop (SIGTERM), what it does with what is not one of our calls, the
dialplan switch and the systemd unit. The legs' behaviour in FastAGI mode is covered by every
module that runs a leg (`agi_mode`: each in both modes)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import threading

import pytest

import press3way
from press3way import config, database
from press3way import events as ev
from press3way.cli import main
from press3way.database import query
from press3way.fastagi.dialplan_urls import fastagi_port, to_fastagi, to_per_call
from press3way.fastagi.pool import Pool
from press3way_testing.demo import dialplan_text
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.sim import Simulation, Timeouts, parse_party
from press3way_testing.standins.channel import SimChannel
from tests.conftest import AGENT
from tests.helpers import cli, events, live, reserve_when_accepted, start_calls

WAIT_S = 30


@pytest.fixture
def conf(site, tmp_path) -> str:
    """A config of the test's own, to rewrite and reload."""
    return shutil.copy(site.conf_path, tmp_path / "astguiclient.conf")


def serve(site, conf: str, **options) -> FastAGIServer:
    site.fastagi = FastAGIServer(str(conf), **options).start()
    return site.fastagi


def in_background(run) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(result=run()))
    thread.start()
    return thread, out


def waiting_winner(site, cid: str, accept_s: int = 20):
    """An `accepted` call that holds its slot until the agent leg reserves (or it times out);
    returns once the server is running it."""
    running = threading.Event()
    thread, out = in_background(lambda: site.outside(
        f"accepted---{accept_s}", cid, observer=lambda way, text: running.set()))
    assert running.wait(WAIT_S)
    return thread, out


def connections_made(conn) -> int:
    return int(query(conn, "SHOW GLOBAL STATUS LIKE 'Connections'")[0]["Value"])


def test_calls_beyond_the_cap_are_refused_at_once_onto_the_i_path(site, conf):
    server = serve(site, conf, max_calls=1)
    try:
        first, other = start_calls(site, 2)
        site.outside("answered", first)
        thread, out = waiting_winner(site, first)
        refused = site.outside("answered", other)
        assert refused.exit_code == 1 and refused.extension == "i"
        assert refused.commands == ["SET EXTENSION i", "SET PRIORITY 1"]
        assert "at its limit of 1 calls" in refused.stderr
        assert server.find(r"refused a call: 1 calls in progress")
        assert events(site, other) == ["Started"]            # nothing written for it
        reserve_when_accepted(site, first).join()
        thread.join(WAIT_S)
        assert out["result"].exit_code == 0 and out["result"].extension == "78600061"
        again = site.outside("answered", other)             # the slot is free again
        assert again.exit_code == 0 and events(site, other) == ["Started", "Answered"]
    finally:
        server.stop()


def test_agent_leg_beyond_the_cap_hears_buzz(site, conf):
    server = serve(site, conf, max_calls=1)
    try:
        (cid,) = start_calls(site)
        site.outside("answered", cid)
        thread, _ = waiting_winner(site, cid, accept_s=2)
        refused = site.agi(AGENT, ["start---5---5"], SimChannel("Local/8600051@default-1;2"),
                           env={"agi_extension": "49907917275551212",
                                "agi_calleridname": site.caller_code})
        assert refused.exit_code == 1 and refused.commands == ['STREAM FILE buzz "" 0']
        thread.join(WAIT_S)
    finally:
        server.stop()


def test_connections_are_reused_between_calls_and_replaced_when_dead(site, conf):
    server = serve(site, conf)
    watcher = site.connect()
    try:
        (cid,) = start_calls(site)
        site.outside("answered", "T000000000000000000X")         # opens the pool's first
        before = connections_made(watcher)
        for _ in range(5):
            assert site.outside("declined", "T000000000000000000X").exit_code == 0
        assert connections_made(watcher) == before              # five calls, no new connection
        me = query(watcher, "SELECT CONNECTION_ID() AS id")[0]["id"]
        for row in query(watcher, "SELECT ID FROM information_schema.PROCESSLIST "
                                  "WHERE DB = %s AND ID <> %s", (site.db_name, me)):
            query(watcher, f"KILL {int(row['ID'])}")            # the idle pooled one too
        result = site.outside("answered", cid)
        assert connections_made(watcher) == before + 1          # the dead one was replaced
        assert result.exit_code == 0 and events(site, cid) == ["Started", "Answered"]
    finally:
        watcher.close()
        server.stop()


def test_reload_rereads_the_config_and_keeps_calls_in_progress(site, conf):
    server = serve(site, conf)
    try:
        first, other = start_calls(site, 2)
        site.outside("answered", first)
        thread, out = waiting_winner(site, first)
        good = open(conf, encoding="utf-8").read()
        with open(conf, "w", encoding="utf-8") as f:        # the database moved away
            f.write(good.replace(f"VARDB_database => {site.db_name}", "VARDB_database => gone"))
        server.signal(signal.SIGHUP)
        assert server.wait_for_line(r"\|reloaded .*1 calls in progress keep theirs", WAIT_S)
        failed = site.outside("answered", other)
        assert failed.exit_code == 1 and failed.extension == "i"
        assert "cannot connect" in failed.stderr and "/gone" in failed.stderr
        reserve_when_accepted(site, first).join()
        thread.join(WAIT_S)
        assert out["result"].exit_code == 0                    # the old connection finished it
        assert live(site, first) is None and events(site, first)[-1] == "Transfer"
        with open(conf, "w", encoding="utf-8") as f:
            f.write(good)
        server.signal(signal.SIGHUP)
        assert server.wait_for_line(r"\|reloaded ", WAIT_S, count=2)
        assert site.outside("hungup", other).exit_code == 0
        assert events(site, other)[-1] == "Hungup"
    finally:
        server.stop()


def test_reload_with_a_broken_config_keeps_the_running_one(site, conf):
    server = serve(site, conf)
    try:
        (cid,) = start_calls(site)
        with open(conf, "w", encoding="utf-8") as f:
            f.write("VARserver_ip => 10.10.10.15\n")
        server.signal(signal.SIGHUP)
        assert server.wait_for_line(r"reload refused, keeping the running config: .* lacks "
                                    r"VARDB_server", WAIT_S)
        assert site.outside("answered", cid).exit_code == 0
        assert events(site, cid) == ["Started", "Answered"]
    finally:
        server.stop()


def test_stop_refuses_new_calls_and_lets_the_call_in_progress_finish(site, conf):
    server = serve(site, conf)
    (cid,) = start_calls(site)
    site.outside("answered", cid)
    thread, out = waiting_winner(site, cid)
    server.signal(signal.SIGTERM)
    assert server.wait_for_line(r"\|stopping: no new calls, waiting for 1 in progress", WAIT_S)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    reserve_when_accepted(site, cid).join()
    thread.join(WAIT_S)
    assert out["result"].exit_code == 0 and events(site, cid)[-1] == "Transfer"
    assert server.proc.wait(WAIT_S) == 0
    assert server.find(r"\|stopped: every call finished")


def test_stop_gives_up_on_calls_after_its_bound(site, conf):
    server = serve(site, conf, stop_timeout=0.5)
    (cid,) = start_calls(site)
    site.outside("answered", cid)
    thread, out = waiting_winner(site, cid, accept_s=60)
    server.signal(signal.SIGTERM)
    assert server.proc.wait(WAIT_S) == 0
    assert server.find(r"stopped with 1 calls cut short")
    thread.join(WAIT_S)
    assert out["result"].exit_code is None                     # the call never reported an end


def test_unknown_script_and_silent_peer_are_logged_and_dropped(site, conf):
    server = serve(site, conf)
    try:
        result = site.agi("/nowhere/agi-other.agi", ["x"], SimChannel("SIP/x-9"))
        assert result.exit_code == 1 and result.commands == []
        assert "unknown script 'agi-other.agi'" in result.stderr
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"agi_network: yes\nagi_chan")
            sock.shutdown(socket.SHUT_WR)             # Asterisk gone mid-environment
            assert sock.recv(100) == b""
        assert server.wait_for_line(r"cannot read the AGI environment: the environment ended "
                                    r"in the middle of a line", WAIT_S)
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S) as sock:
            assert sock.recv(100) == b""              # a peer that never speaks is let go
        assert server.wait_for_line(r"cannot read the AGI environment: no complete environment "
                                    r"within 5 s", WAIT_S)
    finally:
        server.stop()


def test_bad_options_and_config_are_one_line_errors(site, tmp_path):
    result = cli(str(tmp_path / "missing.conf"), "fastagi", "--port", "0")
    assert result.exit_code == 1 and "cannot start the FastAGI server: cannot read" in result.output
    assert "Traceback" not in result.output
    result = cli(site.conf_path, "fastagi", "--max-calls", "0")
    assert result.exit_code == 2 and "--max-calls" in result.output
    with socket.create_server(("127.0.0.1", 0)) as taken:
        result = cli(site.conf_path, "fastagi", "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 1 and "cannot start the FastAGI server:" in result.output
    assert "in use" in result.output and "Traceback" not in result.output
    result = cli(site.conf_path, "fastagi", "--port", "0", "--peer-user", "no-such-user")
    assert result.exit_code == 1 and result.output == (
        "Error: cannot start the FastAGI server: no user 'no-such-user' on this system "
        "(--peer-user)\n")


def test_vicidials_port_is_refused_in_one_line_naming_its_logger(site):
    result = cli(site.conf_path, "fastagi", "--port", "4577")
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1
    assert "port 4577 is VICIdial's FastAGI call logger (FastAGI_log.pl" in result.output


def test_dialplan_switch_changes_only_our_agi_calls_and_goes_back():
    text = dialplan_text()
    fast = to_fastagi(text, 4600)
    changed = [(a, b) for a, b in zip(text.splitlines(), fast.splitlines()) if a != b]
    assert len(changed) == 6 and len(fast.splitlines()) == len(text.splitlines())
    for before, after in changed:
        assert after == before.replace("AGI(agi-3way", "AGI(agi://127.0.0.1:4600/agi-3way")
    assert to_fastagi(fast, 4600) == fast and to_per_call(fast) == text
    assert to_per_call(to_fastagi(text, 4577)) == text
    assert fastagi_port(fast) == 4600 and fastagi_port(text) is None
    assert fastagi_port(fast.replace("127.0.0.1:4600", "localhost")) == 4573


def test_whole_call_through_the_switched_dialplan(site, conf):
    serve(site, conf)
    try:
        result = Simulation(site, site.conf_path,
                            [parse_party("7275551212:answer=0.3,press=1@0.8")],
                            dialplan_text=to_fastagi(dialplan_text(), site.fastagi.port),
                            timeouts=Timeouts(agent=8, dial=4, press=2, accept=5),
                            sound_scale=0.1, fastagi=site.fastagi).run()
        assert result.calls["agent"].startswith("in conference 8600061")
        assert ev.terminal_event(result.log_rows[0]["result"]) == ev.TRANSFER
        assert result.live_rows == 0
        assert any("AGI(agi://127.0.0.1:" in text for _, _, text in result.timeline)
    finally:
        site.fastagi.stop()


def test_systemd_unit_reloads_with_sighup_and_starts_a_valid_command():
    path = os.path.join(os.path.dirname(press3way.__file__), "data", "press3way-fastagi.service")
    unit = dict(line.split("=", 1) for line in open(path, encoding="utf-8").read().splitlines()
                if "=" in line and not line.startswith("#"))
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    program, command, *options = shlex.split(unit["ExecStart"])
    assert program.endswith("/press3way") and command == "fastagi"
    fastagi = main.commands["fastagi"]
    context = fastagi.make_context("fastagi", options)
    assert context.params["port"] == 4578             # 4577 is VICIdial's call logger
    assert int(unit["TimeoutStopSec"]) > context.params["stop_timeout"]


def test_pool_never_hands_one_connection_to_two_calls_and_drops_an_old_config(site):
    cfg = config.load(site.conf_path)
    pool = Pool(cfg, limit=2)
    try:
        with pool.connection(cfg) as first, pool.connection(cfg) as second:
            assert first is not second
        with pool.connection(cfg) as again:
            assert again in (first, second)                 # reused, not a new one
        reloaded = config.load(site.conf_path)
        assert pool.refresh(reloaded) == 2 and not first.open and not second.open
        with pool.connection(cfg) as started_before_reload:
            assert started_before_reload not in (first, second)
        assert pool.idle == 0 and not started_before_reload.open   # closed on its return
        with pool.connection(pool.config) as fresh:
            assert query(fresh, "SELECT 1 AS one") == [{"one": 1}]
        assert pool.idle == 1
    finally:
        pool.close()


def test_the_pool_holds_at_most_its_limit_and_half_the_databases_connections(site):
    cfg = config.load(site.conf_path)
    pool = Pool(cfg, limit=2)
    try:
        with pool.connection(cfg), pool.connection(cfg):
            with pytest.raises(database.DatabaseError, match="all 2 database connections of "
                                                             "the FastAGI server are busy"):
                with pool.connection(cfg):
                    pass
        with pool.connection(cfg) as again:               # room again once one came back
            allowed = int(query(again, "SELECT @@max_connections AS m")[0]["m"])
    finally:
        pool.close()
    big = Pool(cfg, limit=100_000)
    try:
        with big.connection(cfg):
            assert big.limit == allowed // 2
    finally:
        big.close()


def test_a_channel_name_with_spaces_and_markup_is_served_and_reported(site, conf):
    serve(site, conf)
    try:
        (cid,) = start_calls(site)
        result = site.outside("answered", cid, channel_name='SIP/<b id="x">a b</b>&\x1b[2J-1')
        assert result.exit_code == 0 and events(site, cid) == ["Started", "Answered"]
        assert live(site, cid)["call_channel"] == 'SIP/<b id="x">a b</b>&\x1b[2J-1'
    finally:
        site.fastagi.stop()

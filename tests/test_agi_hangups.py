"""Faults: a hang-up at every AGI command of a normal run, and broken infrastructure, each
both with a process per AGI step and through the FastAGI server.

After every run: no live rows, exactly one terminal event per started call, no AGI process
left running, and every channel (agent and outside) ended somewhere.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time

import psutil
import pytest

from press3way import events as ev
from press3way import vicidial
from press3way.database import execute, query
from press3way_testing.demo import dialplan_text
from press3way_testing.sim import SimResult, Simulation, Timeouts, parse_party
from press3way_testing.standins.channel import SimChannel
from press3way_testing.standins.fakeagi import FakeAGI
from tests import helpers
from tests.conftest import AGENT, OUTSIDE
from tests.helpers import server_in_mode

pytestmark = pytest.mark.usefixtures("agi_mode")

FAST = Timeouts(agent=6, dial=3, press=2, accept=4)
SCENARIOS = {
    "single": ["7275551212:answer=0.2,press=1@prompt+0.1"],
    "multi": ["7275551212:answer=0.2,press=1@prompt+0.1",
              "7275551213:answer=0.2,press=1@prompt+0.4", "7275551214:answer=0.3"],
    "declined": ["7275551212:answer=0.2,press=5@prompt+0.1"],     # the buzz paths of both legs
}


def play(site, parties, **options) -> SimResult:
    options.setdefault("timeouts", FAST)
    return helpers.play(site, parties, **options)


def problems(site, result: SimResult) -> list[str]:
    """Every invariant a run must keep, as a list of what broke."""
    found = []
    live = query(site.connect(), "SELECT call_3way_id, status FROM vicidial_3way_press_live")
    if live:
        found.append(f"live rows left: {live}")
    for row in result.log_rows:
        ends = [e for e, _ in ev.parse_result(row["result"]) if e in ev.TERMINAL]
        if len(ends) != 1:
            found.append(f"{row['phone_number']}: terminal events {ends} in {row['result']}")
    for run in result.agi_runs:
        if run.exit_code not in (0, 1):
            found.append(f"{run.label} {run.args}: exit code {run.exit_code}")
    stray = [p.cmdline() for p in psutil.Process().children(recursive=True)
             if any("agi-3way_press" in part for part in p.cmdline())]
    if stray:
        found.append(f"AGI processes still running: {stray}")
    for label, end in result.calls.items():
        if not end:
            found.append(f"channel {label} never ended")
    return found + room_problems(site, result)


def room_problems(site, result: SimResult) -> list[str]:
    """No room left reserved by a call that ended, none marked free with a channel in it."""
    conn = site.connect()
    table = vicidial.server(conn, site.server_ip).conference_table
    rooms = query(conn, f"SELECT conf_exten, extension FROM {table}")
    found = [f"room {r['conf_exten']} left reserved: {r['extension']}" for r in rooms
             if (r["extension"] or "").startswith("Local/8300")]
    free = {str(r["conf_exten"]) for r in rooms if not r["extension"]}
    for label, end in result.calls.items():
        room = re.match(r"in conference (\d+)", end or "")
        if room and room.group(1) in free:
            found.append(f"{label} is in room {room.group(1)}, which is marked free")
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_hangup_at_every_agi_command(site, scenario, capsys, agi_mode):
    normal = play(site, SCENARIOS[scenario])
    assert problems(site, normal) == []
    points = []
    for run in normal.agi_runs:
        if run.args.endswith(",hungup"):
            continue                        # h runs on a channel that is already gone
        nth = 1 + sum(1 for r in normal.agi_runs[:normal.agi_runs.index(run)]
                      if r.label == run.label)
        points += [(run.label, nth, k, run.args) for k in range(1, run.commands + 1)]
    assert len(points) >= {"single": 8, "multi": 10, "declined": 3}[scenario]
    failures = []
    for label, nth, k, args in points:
        result = play(site, SCENARIOS[scenario], hangup_at_command=(label, nth, k))
        failures += [f"{label} {args} command {k}: {p}" for p in problems(site, result)]
    with capsys.disabled():
        print(f"\n[hang-up sweep] {scenario} ({agi_mode}): {len(points)} runs, each hung up at "
              "one AGI command")
    assert failures == []


class AgentHangsUpAsItsCallIsPlaced(Simulation):
    """The agent's channel goes away the moment its Originate reaches Asterisk."""

    def originated(self, originate) -> None:
        self.calls["agent"].channel.hang_up("the agent hung up")
        super().originated(originate)


def test_a_call_placed_just_before_the_agent_leg_hung_up_is_cut_before_it_is_answered(site):
    """A busy Asterisk makes an async Originate's channel after the hung-up agent leg's Hangup
    came ("No such channel", tests/asterisk/test_facts.py): the leg hangs it up again once AMI
    reports the channel, so the party's phone stops ringing and is never answered."""
    result = AgentHangsUpAsItsCallIsPlaced(
        site, site.conf_path, [parse_party("7275551212:answer=2")], dialplan_text=dialplan_text(),
        fastagi=site.fastagi, sound_scale=0.1, timeouts=FAST, channel_created_after=0.5).run()
    assert "7275551212" in result.calls, result.format()           # the call was placed
    assert result.calls["7275551212"] == "hung up while ringing (AMI Hangup)", result.format()
    assert problems(site, result) == []


def test_database_connection_killed_mid_wait(site):
    """KILL the agent leg's connection while it waits: it reconnects and the call transfers."""
    def kill_agent_connections():
        time.sleep(0.5)
        conn = site.connect()
        me = query(conn, "SELECT CONNECTION_ID() AS id")[0]["id"]
        for row in query(conn, "SELECT ID FROM information_schema.PROCESSLIST "
                               "WHERE DB = %s AND ID <> %s", (site.db_name, me)):
            try:
                execute(conn, f"KILL {int(row['ID'])}")
            except Exception:   # noqa: BLE001 - it may have ended by itself meanwhile
                pass
    killer = threading.Thread(target=kill_agent_connections)
    killer.start()
    result = play(site, ["7275551212:answer=0.2,press=1@prompt+0.5"])
    killer.join()
    assert problems(site, result) == []
    assert ev.terminal_event(result.log_rows[0]["result"]) == ev.TRANSFER


def test_ami_closes_mid_originate(site):
    result = play(site, ["7275551212:answer=0.2", "7275551213:answer=0.2"],
                  ami_close_on="Originate")
    assert problems(site, result) == []
    assert {ev.terminal_event(r["result"]) for r in result.log_rows} == {ev.HUNGUP}
    assert any(w == "agent" and "STREAM FILE buzz" in t for _, w, t in result.timeline)


def run_script(site, script, args, conf=None, server=None, **kw):
    """One AGI step on a bare channel: a process reading `conf`, else `server` (FastAGI with
    that config), else the site's mode."""
    channel = SimChannel("SIP/x-1", variables={"call_3way_id": "T1"})
    env = dict(os.environ, PRESS3WAY_CONF=conf or site.conf_path)
    started = time.monotonic()
    result = FakeAGI(script, channel, args, interpreter=sys.executable, process_env=env,
                     env={"agi_extension": "49907917275551212",
                          "agi_calleridname": site.caller_code},
                     server=server if conf else site.fastagi, **kw).run(timeout=60)
    return result, time.monotonic() - started


@pytest.mark.parametrize("script, args, failure_command", [
    (AGENT, ["start"], 'STREAM FILE buzz "" 0'), (OUTSIDE, ["answered"], "SET EXTENSION i")])
def test_database_unreachable_at_start(site, tmp_path, script, args, failure_command, agi_mode):
    conf = tmp_path / "astguiclient.conf"
    conf.write_text("VARserver_ip => 10.10.10.15\nVARDB_server => 127.0.0.1\nVARDB_database => x\n"
                    f"VARDB_user => x\nVARDB_port => 1\nPATHlogs => {tmp_path}\n")
    with server_in_mode(str(conf), agi_mode) as server:
        result, took = run_script(site, script, args, conf=str(conf), server=server)
    assert result.exit_code == 1 and took < 2
    assert failure_command in result.commands
    assert "cannot connect to x@127.0.0.1:1/x" in next(tmp_path.glob("agiout.*")).read_text()


@pytest.mark.parametrize("script, args, failure_command", [
    (AGENT, ["start"], 'STREAM FILE buzz "" 0'), (OUTSIDE, ["answered"], "SET EXTENSION i")])
def test_no_servers_row(site, script, args, failure_command):
    execute(site.connect(), "DELETE FROM servers")
    result, _ = run_script(site, script, args)
    assert result.exit_code == 1 and failure_command in result.commands
    assert "no servers row for server_ip 10.10.10.15" in result.stderr
    assert query(site.connect(), "SELECT * FROM vicidial_3way_press_live") == []


def test_missing_feature_table(site):
    execute(site.connect(), "RENAME TABLE vicidial_3way_press_live TO live_away")
    try:
        result, _ = run_script(site, OUTSIDE, ["answered"])
    finally:
        execute(site.connect(), "RENAME TABLE live_away TO vicidial_3way_press_live")
    assert result.exit_code == 1 and "SET EXTENSION i" in result.commands
    assert "vicidial_3way_press_live' doesn't exist" in result.stderr


def test_missing_sound_does_not_end_the_call(site):
    """STREAM FILE answers result=-1 for a missing file too: only a 511 means hung up."""
    channel = SimChannel("Local/8600051@default-1;2")
    result = FakeAGI(AGENT, channel, ["start"], interpreter=sys.executable,
                     process_env=dict(os.environ, PRESS3WAY_CONF=site.conf_path),
                     env={"agi_extension": "49907abc", "agi_calleridname": site.caller_code},
                     missing_sounds=("buzz",), server=site.fastagi).run(timeout=60)
    assert result.commands == ['STREAM FILE buzz "" 0', "CHANNEL STATUS"]
    assert result.exit_code == 1 and "could not play sound 'buzz'" in result.stderr
    assert "may hold only digits" in result.stderr

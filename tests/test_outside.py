"""The outside leg, stage by stage, run as a real process and through the FastAGI server, on
the real MariaDB."""

from __future__ import annotations

import os
import re
import sys
import threading
import time

import pytest

from press3way.database import query
from press3way.store import Store
from press3way_testing.standins.channel import SimChannel
from press3way_testing.standins.fakeagi import FakeAGI
from tests.conftest import OUTSIDE
from tests.helpers import events, live, log, reserve_when_accepted, server_in_mode, sql, start_calls

pytestmark = pytest.mark.usefixtures("agi_mode")


def test_answered_sets_status_channel_and_logs(any_site):
    (cid,) = start_calls(any_site)
    result = any_site.outside("answered", cid, channel_name="SIP/carrier-00000abc")
    assert result.exit_code == 0
    assert result.commands == ["GET VARIABLE call_3way_id"]      # fast: no sounds, no goto
    row = live(any_site, cid)
    assert row["status"] == "ANSWERED" and row["call_channel"] == "SIP/carrier-00000abc"
    assert log(any_site, cid)["call_channel"] == "SIP/carrier-00000abc"
    assert events(any_site, cid) == ["Started", "Answered"]


def aborted_clients(site) -> int:
    conn = site.connect()
    try:
        return int(query(conn, "SHOW GLOBAL STATUS LIKE 'Aborted_clients'")[0]["Value"])
    finally:
        conn.close()


def test_a_leg_says_goodbye_to_the_database(site):
    """A connection that just drops is a warning in the server's error log at every AGI run."""
    (cid,) = start_calls(site)
    before = aborted_clients(site)
    assert site.outside("answered", cid).exit_code == 0
    assert site.outside("declined", cid).exit_code == 0
    assert aborted_clients(site) == before


def test_declined_logs_once(any_site):
    (cid,) = start_calls(any_site)
    any_site.outside("answered", cid)
    any_site.outside("declined", cid)
    any_site.outside("declined", cid)
    any_site.outside("hungup", cid)                             # h runs after every hang-up
    assert live(any_site, cid)["status"] == "DECLINED"
    assert events(any_site, cid) == ["Started", "Answered", "Declined"]


def test_a_winner_whose_leg_fails_before_the_reservation_gives_the_win_back(any_site):
    """The winner's leg failed and went to `i` (declined) while still ACCEPTED: it is Declined,
    and the calls its election defeated (not yet cut) may press again."""
    cid, answered_other, ringing_other = start_calls(any_site, 3)
    any_site.outside("answered", cid)
    any_site.outside("answered", answered_other, channel_name="SIP/carrier-0000002")
    assert Store(any_site.connect()).elect(cid, any_site.caller_code)
    assert live(any_site, answered_other)["status"] == "DEFEATED"
    any_site.outside("declined", cid)
    assert live(any_site, cid)["status"] == "DECLINED"
    assert events(any_site, cid) == ["Started", "Answered", "Accepted", "Declined"]
    assert live(any_site, answered_other)["status"] == "ANSWERED"
    assert live(any_site, ringing_other)["status"] == "NEW"


def test_hungup_before_pressing(any_site):
    (cid,) = start_calls(any_site)
    any_site.outside("answered", cid)
    result = any_site.outside("hungup", cid, dead=True)
    assert result.exit_code == 0
    assert live(any_site, cid)["status"] == "HUNGUP"
    assert events(any_site, cid) == ["Started", "Answered", "Hungup"]


def test_hungup_of_a_channel_that_is_not_an_outside_call_does_nothing(any_site):
    (cid,) = start_calls(any_site)
    result = any_site.outside("hungup", "", dead=True,
                              env={"agi_calleridname": any_site.caller_code})
    assert result.exit_code == 0
    assert "SET EXTENSION i" not in result.commands
    assert events(any_site, cid) == ["Started"]


@pytest.mark.parametrize("conf_engine, exten", [("MEETME", "78600061"), ("CONFBRIDGE", "88600061")])
def test_accepted_wins_waits_for_reservation_and_transfers(site, conf_engine, exten):
    site.reset(conf_engine=conf_engine)
    cid, other = start_calls(site, 2)
    site.outside("answered", cid)
    agent = reserve_when_accepted(site, cid)
    result = site.outside("accepted", cid)
    agent.join()
    assert result.exit_code == 0
    assert (result.context, result.extension, result.priority) == ("default", exten, 1)
    assert live(site, cid) is None                                   # winner's row is gone
    assert live(site, other)["status"] == "DEFEATED"
    row = log(site, cid)
    assert events(site, cid) == ["Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert row["call_transfer"] == "Y" and row["session_id_3way"] == "8600061"
    table = "vicidial_confbridges" if conf_engine == "CONFBRIDGE" else "vicidial_conferences"
    conf = sql(site, f"SELECT * FROM {table} WHERE conf_exten = 8600061")[0]
    assert conf["leave_3way"] == "1" and conf["extension"] == "3WAY_6666"
    assert conf["leave_3way_datetime"] is not None


def test_second_press_is_too_slow(site):
    first, second = start_calls(site, 2)
    for cid in (first, second):
        site.outside("answered", cid)
    agent = reserve_when_accepted(site, first)
    site.outside("accepted", first)
    agent.join()
    result = site.outside("accepted", second)
    assert result.exit_code == 0 and result.extension == "s"        # the dialplan hangs up
    assert live(site, second)["status"] == "TOOSLOW"
    assert events(site, second) == ["Started", "Answered", "Too Slow"]


def test_accepted_without_reservation_times_out_as_agent_gone(site):
    (cid,) = start_calls(site)
    site.outside("answered", cid)
    result = site.outside("accepted---1", cid)
    assert result.exit_code == 0 and result.extension == "i"
    assert live(site, cid) is None
    assert events(site, cid) == ["Started", "Answered", "Accepted", "Agent Gone"]


@pytest.mark.parametrize("mode", ["sighup", "line", "eof"])
def test_hangup_during_the_accepted_wait(site, mode):
    if mode == "sighup" and site.fastagi is not None:
        pytest.skip("a process's signal: over FastAGI a hang-up is the `line` or `eof` case")
    (cid,) = start_calls(site)
    site.outside("answered", cid)
    # hung up as the winner's notice to the agent leg (its second command) goes out
    result = site.outside("accepted", cid, hangup_on_command=2, hangup_mode=mode)
    assert result.exit_code == 0 and result.hung_up
    assert live(site, cid) is None          # a won call removes its own row
    assert events(site, cid) == ["Started", "Answered", "Accepted", "Hungup"]
    # what the h extension runs afterwards changes nothing
    site.outside("hungup", cid, dead=True)
    assert events(site, cid) == ["Started", "Answered", "Accepted", "Hungup"]


def test_a_winner_stops_waiting_when_its_call_ends_otherwise(site):
    """The winner's row leaves ACCEPTED without a reservation (another leg ended the call):
    the wait ends there, not at its deadline, and adds no second end to the log."""
    (cid,) = start_calls(site)
    site.outside("answered", cid)

    def end_it_once_won() -> None:
        store = Store(site.connect())
        for _ in range(400):
            if (row := store.live_call(cid)) and row["status"] == "ACCEPTED":
                store.end_call(cid, "hang_up_winner", "Hungup")
                return
            threading.Event().wait(0.01)
    other_leg = threading.Thread(target=end_it_once_won)
    other_leg.start()
    started = time.monotonic()
    result = site.outside("accepted---30", cid)
    other_leg.join()
    assert result.exit_code == 0 and time.monotonic() - started < 20
    assert events(site, cid) == ["Started", "Answered", "Accepted", "Hungup"]
    assert "left ACCEPTED meanwhile (HUNGUP)" in site.agi_log()


def test_a_process_logs_its_cpu_time_last(site):
    if site.fastagi is not None:
        pytest.skip("a process's own clock: the FastAGI server logs each call's duration")
    (cid,) = start_calls(site)
    site.outside("answered", cid)
    last = site.agi_log().strip().splitlines()[-1]
    assert re.search(r"\|status 0, \d+\.\d{4} s of CPU since the process started$", last), last


@pytest.mark.parametrize("stage, goes_to", [("answered", "i"), ("accepted", "i"),
                                             ("declined", "s"), ("hungup", "s")])
def test_agent_gone_when_heartbeat_is_stale(any_site, stage, goes_to):
    """declined/hungup run from t, i and h, which buzz and hang up already."""
    (cid,) = start_calls(any_site)
    sql(any_site,
        "UPDATE vicidial_3way_press_live SET agent_heartbeat = NOW() - INTERVAL 30 SECOND")
    result = any_site.outside(stage, cid)
    assert result.extension == goes_to
    assert live(any_site, cid) is None
    assert events(any_site, cid) == ["Started", "Agent Gone"]


def test_declined_from_i_without_live_row_does_not_loop_back_to_i(site):
    result = site.outside("declined", "T000000000000000000X")
    assert result.exit_code == 0 and result.extension == "s"


def test_unknown_call_id_goes_to_i_and_changes_nothing(site):
    (cid,) = start_calls(site)
    result = site.outside("answered", "T000000000000000000X")
    assert result.exit_code == 0 and result.extension == "i"
    assert events(site, cid) == ["Started"] and live(site, cid)["status"] == "NEW"
    assert "no live call for call id 'T000000000000000000X'" in site.agi_log()


def test_call_id_falls_back_to_caller_id_name(site):
    (cid,) = start_calls(site)
    result = site.outside("answered", "", env={"agi_calleridname": cid})
    assert result.exit_code == 0
    assert events(site, cid) == ["Started", "Answered"]


def test_non_numeric_stage_timeout_is_refused(site):
    (cid,) = start_calls(site)
    result = site.outside("accepted---ten", cid)
    assert result.exit_code == 1 and result.extension == "i"
    assert events(site, cid) == ["Started"] and live(site, cid)["status"] == "NEW"
    assert "timeout 'ten'" in result.stderr


def test_unknown_stage_is_refused(site):
    (cid,) = start_calls(site)
    result = site.outside("pressed", cid)
    assert result.exit_code == 1 and result.extension == "i"
    assert "unknown stage 'pressed'" in site.agi_log()


def test_missing_environment_lines(site):
    """Asterisk died before finishing the environment: no blank line, then EOF."""
    (cid,) = start_calls(site)
    result = site.outside("answered", cid, env={"agi_channel": ""})
    assert result.exit_code in (0, 1)
    assert "Traceback" not in "".join(t for _, _, t in result.transcript)


def test_unreachable_database(site, tmp_path, agi_mode):
    """The FastAGI server starts without its database, and each call fails as a process would."""
    conf = tmp_path / "astguiclient.conf"
    conf.write_text(f"VARserver_ip => 10.10.10.15\nVARDB_server => 127.0.0.1\n"
                    f"VARDB_database => x\nVARDB_user => x\nVARDB_port => 1\n"
                    f"PATHlogs => {tmp_path}\n")
    with server_in_mode(str(conf), agi_mode) as server:
        result = FakeAGI(OUTSIDE, SimChannel("SIP/x-1", variables={"call_3way_id": "T1"}),
                         ["answered"], interpreter=sys.executable, server=server,
                         process_env=dict(os.environ, PRESS3WAY_CONF=str(conf))).run(timeout=60)
    assert result.exit_code == 1 and result.extension == "i"
    assert "cannot connect" in result.stderr
    assert "cannot connect" in next(tmp_path.glob("agiout.*")).read_text()


def test_hangup_after_the_reservation_removes_the_won_row(site):
    """The agent leg has left for the conference: nobody else would remove the row."""
    cid, other = start_calls(site, 2)
    store = Store(site.connect())
    assert store.elect(cid, site.caller_code) and store.reserve(cid, "8600061")
    assert store.hand_over(cid)
    store.log_reserved(cid, "8600061")
    result = site.outside("hungup", cid, dead=True)
    assert result.exit_code == 0 and live(site, cid) is None
    assert events(site, cid) == ["Started", "Accepted", "Reserved", "Hungup"]


def test_transfer_flag_only_with_the_transfer_event(site):
    (cid,) = start_calls(site)
    store = Store(site.connect())
    store.append_event(cid, "Agent Gone")
    store.mark_transfer(cid, "8600061")
    assert log(site, cid)["call_transfer"] == "N" and log(site, cid)["session_id_3way"] == ""
    assert events(site, cid) == ["Started", "Agent Gone"]

"""`press3way multi` (arm, --show, --cancel, --replace, expiry) and `press3way live` on the real
MariaDB. The commands alone run once; the tests where a 3-way call runs (`with_calls`) run
with each AGI step as a process and through the FastAGI server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from press3way import events as ev
from press3way.database import execute
from press3way.store import Store
from press3way.tables import LIVE, MULTI
from press3way.multi import MAX_AGE_S
from press3way_testing.site import Site
from press3way_testing.sim import Timeouts
from tests.helpers import cli, play, sql, start_calls

PHONES = "7275551212,7275551213"
with_calls = pytest.mark.usefixtures("agi_mode")
QUICK = Timeouts(agent=8, dial=3, press=2, accept=5)


def multi(site, *args: str):
    return cli(site.conf_path, "multi", *args)


def row(site) -> dict:
    (found,) = sql(site, f"SELECT * FROM {MULTI} WHERE user = %s", (site.user,))
    return found


def claimed(site) -> list[str] | None:
    """What the agent leg's next call would dial (claim_multi returns (numbers, why not) on
    main, the numbers alone before)."""
    taken = Store(site.connect()).claim_multi(site.user)
    return taken[0] if isinstance(taken, tuple) else taken


def one_error(result, exit_code: int = 1) -> str:
    """The command failed with exactly one line, `Error: ...`, and nothing else."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


# --- multi ---------------------------------------------------------------------------------
def test_arm_show_and_the_next_call_takes_it(site):
    armed = multi(site, site.user, PHONES)
    assert armed.exit_code == 0, armed.output
    assert armed.stdout == (f"user {site.user}: the next 3-way call dials 2 numbers: "
                            f"7275551212, 7275551213 (if it starts within {MAX_AGE_S} s)\n")
    shown = multi(site, site.user, "--show").stdout
    assert shown.startswith(f"user {site.user}: 2 number(s) 7275551212, 7275551213, written ")
    assert "status NEW: the next 3-way call dials them (expires in" in shown

    assert claimed(site) == ["7275551212", "7275551213"]
    assert "status PROCESSING: a 3-way call took it" in multi(site, site.user, "--show").stdout


def test_an_armed_list_is_replaced_only_with_replace(site):
    assert multi(site, site.user, PHONES).exit_code == 0
    refused = one_error(multi(site, site.user, "7275559999"))
    assert f"user {site.user} already has an armed list (7275551212, 7275551213" in refused
    assert "--replace" in refused
    assert row(site)["phone_numbers"] == PHONES

    replaced = multi(site, site.user, "7275559999", "--replace")
    assert replaced.exit_code == 0
    assert replaced.stdout.splitlines()[0] == (f"user {site.user}: replaced the armed list "
                                               "7275551212, 7275551213")
    assert (row(site)["phone_numbers"], row(site)["status"]) == ("7275559999", "NEW")


def test_an_expired_list_says_so_and_may_be_replaced(site):
    assert multi(site, site.user, PHONES).exit_code == 0
    execute(site.connect(), f"UPDATE {MULTI} SET call_date = NOW() - INTERVAL %s SECOND",
            (MAX_AGE_S + 1,))
    shown = multi(site, site.user, "--show").stdout
    assert f"status NEW: expired (older than {MAX_AGE_S} s), no call will dial it" in shown
    assert claimed(site) is None                # the agent leg knows the rule too
    assert f"expired (older than {MAX_AGE_S} s)" in multi(site, site.user, "--show").stdout
    assert multi(site, site.user, "7275559999").exit_code == 0      # nothing armed to lose
    assert row(site)["phone_numbers"] == "7275559999"


def test_cancel_withdraws_an_armed_list(site):
    assert multi(site, site.user, PHONES).exit_code == 0
    cancelled = multi(site, site.user, "--cancel")
    assert cancelled.exit_code == 0
    assert cancelled.stdout == f"user {site.user}: cancelled the list 7275551212, 7275551213\n"
    assert row(site)["status"] == "CANCELLED"
    assert claimed(site) is None                                     # the agent leg skips it
    assert "status CANCELLED: cancelled" in multi(site, site.user, "--show").stdout
    assert "has no armed list to cancel" in one_error(multi(site, site.user, "--cancel"))
    assert multi(site, site.user, PHONES).exit_code == 0             # and may arm again


def test_busy_agent_is_refused_and_another_logged_in_agent_is_free(site):
    start_calls(site, 2)
    assert f"user {site.user} still has 2 unfinished" in one_error(multi(site, site.user, PHONES))
    sql(site, "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, lead_id) "
              "VALUES ('7777', %s, '8600052', 0)", (site.server_ip,))
    assert multi(site, "7777", PHONES).exit_code == 0
    assert [r["user"] for r in sql(site, f"SELECT user FROM {MULTI}")] == ["7777"]


@with_calls
def test_the_next_call_dials_the_list_armed_by_the_command(site):
    """Armed with `press3way multi`, dialled by the agent leg's next call: both numbers, the
    first to press wins."""
    def arm(site) -> None:
        assert multi(site, site.user, PHONES).exit_code == 0
    result = play(site, ["7275551213:answer=0.2,press=1@prompt+0.1"], prepare=arm,
                  timeouts=QUICK)
    ends = {r["phone_number"]: ev.terminal_event(r["result"]) for r in result.log_rows}
    assert ends == {"7275551212": ev.DEFEATED, "7275551213": ev.TRANSFER}, result.format()
    assert "status PROCESSING: a 3-way call took it" in multi(site, site.user, "--show").stdout
    assert result.live_rows == 0


@with_calls
def test_a_list_from_the_api_dials_its_first_ten_valid_numbers_behind_vicidials_prefix(site):
    """What VICIdial's API may write: 11-digit numbers (the agent dialled 9 + a placeholder of
    that length), a bad item, a repeat and 12 numbers. The first 10 valid ones are dialled as
    9 + number; every other item is named in the AGI log; the batch goes on."""
    numbers = [f"172755512{n:02d}" for n in range(12)]
    listed = [numbers[0], "12ab", numbers[0], *numbers[1:]]

    def arm(site) -> None:
        Store(site.connect()).arm_multi(site.user, listed)
    result = play(site, [f"{numbers[0]}:noanswer"], dialstring="9" + numbers[0], prepare=arm,
                  timeouts=QUICK)
    dialled = sorted(r["dialstring"] for r in result.log_rows)
    assert dialled == ["9" + n for n in numbers[:10]], result.format()
    log = site.agi_log()
    assert f"multi-call list of user {site.user}: '12ab' is not 5 to 18 digits: not dialled" in log
    assert f"{numbers[0]} appears twice: not dialled" in log
    assert all(f"{n} is past the first 10 numbers: not dialled" in log for n in numbers[10:])
    assert result.live_rows == 0


def test_show_without_a_list(site):
    shown = multi(site, site.user, "--show")
    assert (shown.exit_code, shown.stdout) == (0, f"user {site.user} has no multi-call list\n")


def test_unknown_and_logged_out_users_are_refused(site):
    assert "unknown user 'nobody': not logged in as an agent, and not in vicidial_users" in \
        one_error(multi(site, "nobody", PHONES))
    sql(site, "INSERT INTO vicidial_users (user, pass, full_name) VALUES ('7777', 'x', 'Bob')")
    try:
        assert "user 7777 is not logged in as an agent (no vicidial_live_agents row)" in \
            one_error(multi(site, "7777", PHONES))
    finally:
        sql(site, "DELETE FROM vicidial_users")
    assert sql(site, f"SELECT * FROM {MULTI}") == []


def test_without_a_vicidial_users_table_a_logged_in_agent_is_enough(site):
    sql(site, "RENAME TABLE vicidial_users TO vicidial_users_away")
    try:
        assert multi(site, site.user, PHONES).exit_code == 0
        assert "unknown user 'nobody'" in one_error(multi(site, "nobody", PHONES))
    finally:
        sql(site, "RENAME TABLE vicidial_users_away TO vicidial_users")


@pytest.mark.parametrize("args, message", [
    ([], "give PHONES, --show or --cancel (one of them)"),
    ([PHONES, "--show"], "give PHONES, --show or --cancel (one of them)"),
    (["--show", "--cancel"], "give PHONES, --show or --cancel (one of them)"),
    (["--show", "--replace"], "--replace goes with PHONES"),
])
def test_one_action_at_a_time(site, args, message):
    assert message in one_error(multi(site, site.user, *args), 2)


# --- live ----------------------------------------------------------------------------------
def live(site, *args: str) -> str:
    result = cli(site.conf_path, "live", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_live_without_calls(site):
    assert live(site).endswith(": 0 batch(es), 0 outside call(s)\n")


def test_live_shows_each_batch_its_numbers_and_a_gone_agent(site):
    mine = start_calls(site, 3)
    store = Store(site.connect())
    store.answered(mine[0], "SIP/carrier-0000001")
    store.move(mine[1], "decline")
    other = Site(server=site.server, db_name=site.db_name, user="7777", lead_id=7654321)
    (theirs,) = start_calls(other, 1, caller_code="DC654321W0007654321W")
    execute(site.connect(), f"UPDATE {LIVE} SET agent_heartbeat = NOW() - INTERVAL 30 SECOND, "
                            "call_date = NOW() - INTERVAL 40 SECOND WHERE call_3way_id = %s",
            (theirs,))

    lines = live(site).splitlines()
    assert lines[0].endswith(": 2 batch(es), 4 outside call(s)")
    assert lines[2].split() == ["Agent", "Lead", "Server", "Age", "Heartbeat"]
    gone, fresh = lines[4:6], lines[6:8]                       # oldest batch first
    assert gone[0].split()[:3] == ["7777", "7654321", "10.10.10.15"]
    assert gone[0].split()[3] in ("40", "41")       # a second may tick before `live` reads
    assert gone[0].split()[-3:] in (["30", "s", "GONE"], ["31", "s", "GONE"])
    assert gone[1].strip() == "7275551212 NEW"
    assert fresh[0].split()[:3] == ["6666", "1234567", "10.10.10.15"]
    assert "GONE" not in fresh[0]
    assert fresh[1].strip() == "7275551212 ANSWERED, 7275551213 DECLINED, 7275551214 NEW"


@with_calls
def test_live_shows_a_call_while_it_rings_and_nothing_once_it_ended(site):
    """`live` during a real batch (taken as soon as the second number rings) and after it."""
    ringing, seen = threading.Event(), {}

    def watch(line: str) -> None:
        if "7275551213" in line and "ringing" in line:
            ringing.set()
    calls = threading.Thread(target=lambda: seen.update(result=play(
        site, ["7275551212:noanswer", "7275551213:noanswer"], timeouts=QUICK, out=watch)))
    calls.start()
    try:
        assert ringing.wait(30)
        during = live(site).splitlines()
    finally:
        calls.join(60)
    assert not calls.is_alive()
    assert during[0].endswith(": 1 batch(es), 2 outside call(s)"), during
    assert during[4].split()[:3] == [site.user, str(site.lead_id), site.server_ip]
    assert during[5].strip() == "7275551212 NEW, 7275551213 NEW"
    assert seen["result"].live_rows == 0
    assert live(site).endswith(": 0 batch(es), 0 outside call(s)\n")


def test_live_watch_refreshes_a_bounded_number_of_times(site):
    text = live(site, "--watch", "--interval", "0.5", "--count", "3")
    assert text.count("3-way calls in progress at ") == 3


def test_live_watch_ends_cleanly_on_ctrl_c(site):
    command = os.path.join(os.path.dirname(sys.executable), "press3way")
    proc = subprocess.Popen([command, "live", "--watch", "--interval", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PRESS3WAY_CONF": site.conf_path})
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert "3-way calls in progress at " in proc.stdout.readline()   # the first screen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert proc.returncode == 0, err
    assert err == "" and "Traceback" not in out

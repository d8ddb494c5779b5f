"""`press3way check`, `multi`, `cleanup` and `archive` on the real MariaDB."""

from __future__ import annotations

import contextlib
import os

import pytest

from press3way import config
from press3way import events as ev
from press3way.admin.check import SOUNDS
from press3way.database import DatabaseError, connect, execute
from press3way.store import Store
from press3way.tables import ARCHIVE, LIVE, LOG, MULTI
from press3way_testing.site import Site
from press3way_testing.standins.fakeami import FakeAMI
from tests.helpers import cli, events, live, log, sql, start_calls


# --- check --------------------------------------------------------------------------------
@pytest.fixture
def server_files(tmp_path):
    """A sounds directory with the six prompts (some in en/, various formats), an agi-bin, and
    an Asterisk configuration directory whose extensions.conf includes ext.conf."""
    sounds = tmp_path / "sounds"
    os.makedirs(sounds / "en")
    for n, name in enumerate(SOUNDS):
        extension = ("wav", "gsm", "ulaw")[n % 3]
        (sounds / ("en" if n % 2 else "") / f"{name}.{extension}").write_bytes(b"x")
    os.makedirs(tmp_path / "agi-bin")
    (tmp_path / "extensions.conf").write_text("[default]\nexten => 8300,1,Hangup()\n"
                                              "#include ext.conf\n")
    return tmp_path


def dialplan_args(files) -> list[str]:
    return ["--agi-dir", str(files / "agi-bin"), "--asterisk-dir", str(files),
            "--dialplan-file", str(files / "ext.conf")]


def check(conf: str, files, *extra: str):
    return cli(conf, "check", *dialplan_args(files), *extra)


def test_check_fails_on_an_empty_database(mariadb, server_files):
    site = Site(server=mariadb, db_name="press3way_empty")
    admin = site.connect(database="")
    execute(admin, "DROP DATABASE IF EXISTS press3way_empty")
    execute(admin, "CREATE DATABASE press3way_empty")
    conf = site.write_conf(str(server_files / "a.conf"), str(server_files),
                           str(server_files / "sounds"))
    result = check(conf, server_files)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "OK    database login" in result.output
    for table in ("vicidial_3way_press_live", "vicidial_3way_press_log",
                  "vicidial_3way_press_log_archive", "vicidial_3way_press_multi"):
        assert f"FAIL  table {table}: missing: run `press3way install`" in lines
    assert "FAIL  servers row for 10.10.10.15" in result.output
    assert "FAIL  dialplan block" in result.output and "FAIL  AGI script" in result.output
    assert sum(line.startswith("OK    sound") for line in lines) == 6


def test_check_names_the_missing_config(tmp_path):
    result = cli(str(tmp_path / "nowhere.conf"), "check")
    assert result.exit_code == 1
    assert result.output.startswith("FAIL  config file: cannot read")


def test_check_passes_on_an_installed_server(site, server_files):
    conf = site.write_conf(str(server_files / "a.conf"), str(server_files),
                           str(server_files / "sounds"))
    assert cli(conf, "install", *dialplan_args(server_files)).exit_code == 0
    with FakeAMI(users={"cron": "1234"}) as ami:
        site.reset(ami_port=ami.port)
        result = check(conf, server_files)
        assert result.exit_code == 0, result.output
        assert all(line.startswith("OK") for line in result.output.splitlines())
        assert f"OK    AMI login cron@127.0.0.1:{ami.port}" in result.output
        assert "OK    table vicidial_3way_press_log (InnoDB)" in result.output

        execute(site.connect(), "UPDATE servers SET ASTmgrSECRET = 'wrong'")
        refused = check(conf, server_files)
        assert refused.exit_code == 1
        assert "FAIL  AMI login cron@" in refused.output and "refused" in refused.output
        with open(conf, "a") as f:                     # the config's VARami_* win
            f.write("VARami_secret => 1234\n")
        assert check(conf, server_files).exit_code == 0

        execute(site.connect(), "ALTER TABLE vicidial_3way_press_live DROP COLUMN agent_heartbeat")
        broken = check(conf, server_files)
        assert broken.exit_code == 1
        assert ("FAIL  table vicidial_3way_press_live (InnoDB): add column agent_heartbeat "
                "DATETIME: run `press3way install`") in broken.output.splitlines()
        assert cli(conf, "install", *dialplan_args(server_files)).exit_code == 0  # the fix works
        assert check(conf, server_files).exit_code == 0


PER_CALL = ": per-call scripts (a process per AGI step, from agi-bin)"


def dialplan_lines(output: str) -> list[str]:
    """check's lines from the dialplan block on."""
    lines = output.splitlines()
    return lines[next(i for i, l in enumerate(lines) if "dialplan block" in l):]


def test_check_follows_the_dialplan_asterisk_loads(site, server_files):
    conf = site.write_conf(str(server_files / "a.conf"), str(server_files))
    assert cli(conf, "install", *dialplan_args(server_files)).exit_code == 0
    ext = str(server_files / "ext.conf")
    lines = dialplan_lines(check(conf, server_files).output)
    assert lines == [
        f"OK    dialplan block in {ext}{PER_CALL}",
        f"OK    block loaded by Asterisk: {ext}:2-61",
        "OK    block's contexts: [press3way-agent-dial], [xfer_press_dialplan]; [default] "
        "includes press3way-agent-dial",
        "OK    no other lines in the block's extensions",
        "OK    agent's dial 49907917275551212 from [default]: [default] -> "
        f"[press3way-agent-dial] exten _49907. ({ext}:17)",
        "OK    trunk loop 49949907917275551212 back into [default]: [default] -> "
        f"[press3way-agent-dial] exten _49949907. ({ext}:19)",
        f"OK    agent leg 49907917275551212 in [xfer_press_dialplan]: [xfer_press_dialplan] "
        f"exten _49907. ({ext}:55)",
        f"OK    outside call s in [xfer_press_dialplan]: [xfer_press_dialplan] exten s ({ext}:24)"]

    main = server_files / "extensions.conf"
    main.write_text("[default]\nexten => 8300,1,Hangup()\n")          # not included any more
    result = check(conf, server_files)
    assert result.exit_code == 1
    assert dialplan_lines(result.output)[1] == (
        f"FAIL  block loaded by Asterisk: {ext} is not #included from {server_files}/"
        "extensions.conf, so Asterisk never reads it: add the line `#include ext.conf` at the end "
        f"of {server_files}/extensions.conf, then asterisk -rx \"dialplan reload\"")

    # Someone else's lines: a pattern in [default] that catches the dial first, and a second
    # [xfer_press_dialplan] (contexts of the same name merge) with one of our extensions.
    main.write_text("[default]\nexten => _49907X.,1,Dial(SIP/old/${EXTEN})\n#include ext.conf\n"
                    "[xfer_press_dialplan]\nexten => t,1,Playback(buzz)\n")
    lines = dialplan_lines(check(conf, server_files).output)
    assert (f"FAIL  no other lines in the block's extensions: {main}:5: "
            "[xfer_press_dialplan] exten t priority 1: exten => t,1,Playback(buzz): "
            "Asterisk keeps only the first of each, "
            "remove or rename the others (an older 3-way setup?)") in lines
    assert ("FAIL  agent's dial 49907917275551212 from [default]: reaches [default] exten "
            f"_49907X. at {main}:2 first: remove or rename that line, "
            "or make it not match") in lines


# --- multi --------------------------------------------------------------------------------
def multi(site, user: str, phones: str):
    return cli(site.conf_path, "multi", user, phones)


def test_multi_writes_the_users_row_and_replaces_an_old_one(site):
    assert multi(site, site.user, "7275551212,7275551213").exit_code == 0
    execute(site.connect(), f"UPDATE {MULTI} SET status = 'PROCESSING'")
    result = multi(site, site.user, "7275551214, 7275551215,12345")
    assert result.exit_code == 0, result.output
    rows = sql(site, f"SELECT * FROM {MULTI}")
    assert len(rows) == 1
    assert (rows[0]["user"], rows[0]["phone_numbers"], rows[0]["phone_numbers_ct"],
            rows[0]["status"]) == (site.user, "7275551214,7275551215,12345", 3, "NEW")
    assert rows[0]["call_date"] is not None


@pytest.mark.parametrize("phones, message", [
    (",".join(str(7275551200 + i) for i in range(11)), "11 numbers, at most 10 allowed"),
    ("7275551212,1234", "'1234' is not 5 to 18 digits"),
    ("7275551212,7275551213,7275551212", "7275551212 appears twice"),
    ("727555121x,1234567890123456789", "'727555121x' is not 5 to 18 digits; "
                                       "'1234567890123456789' is not 5 to 18 digits"),
])
def test_multi_rejects_bad_lists(site, phones, message):
    result = multi(site, site.user, phones)
    assert result.exit_code == 1
    assert message in result.output
    assert sql(site, f"SELECT * FROM {MULTI}") == []


def test_multi_is_refused_while_the_user_has_calls(site):
    start_calls(site, 2)
    result = multi(site, site.user, "7275551212")
    assert result.exit_code == 1
    assert f"user {site.user} still has 2 unfinished" in result.output
    assert sql(site, f"SELECT * FROM {MULTI}") == []
    sql(site, "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, lead_id) "
              "VALUES ('7777', %s, '8600052', 0)", (site.server_ip,))
    assert multi(site, "7777", "7275551212").exit_code == 0      # another agent is free


# --- cleanup ------------------------------------------------------------------------------
def age(site, call_id: str, heartbeat_s: int, call_h: int = 0) -> None:
    execute(site.connect(), "UPDATE vicidial_3way_press_live SET agent_heartbeat = NOW() - "
                            "INTERVAL %s SECOND, call_date = NOW(6) - INTERVAL %s HOUR "
                            "WHERE call_3way_id = %s", (heartbeat_s, call_h, call_id))


def test_cleanup_ends_stale_calls_with_exactly_one_terminal_event(any_site):
    open_call, declined, fresh, ancient = start_calls(any_site, 4)
    store = Store(any_site.connect())
    store.end_call(declined, "decline", ev.DECLINED)
    age(any_site, open_call, 120)
    age(any_site, declined, 120)
    age(any_site, ancient, 0, call_h=7)                     # beating, but 7 hours old

    dry = cli(any_site.conf_path, "cleanup", "--dry-run")
    assert "3 stale live row(s) found" in dry.output
    assert live(any_site, open_call) is not None and events(any_site, open_call) == ["Started"]

    result = cli(any_site.conf_path, "cleanup")
    assert result.exit_code == 0, result.output
    assert "3 stale live row(s) ended" in result.output
    assert events(any_site, open_call) == ["Started", "Agent Gone"]
    assert events(any_site, declined) == ["Started", "Declined"]
    assert events(any_site, ancient) == ["Started", "Timeout"]
    assert events(any_site, fresh) == ["Started"]
    assert [live(any_site, c) for c in (open_call, declined, ancient)] == [None] * 3
    assert live(any_site, fresh)["status"] == "NEW"
    cli(any_site.conf_path, "cleanup", "--stale", "1")       # a second pass adds nothing
    assert events(any_site, open_call) == ["Started", "Agent Gone"]


@contextlib.contextmanager
def log_read_locked(site):
    """The log table READ-locked by another session, as a backup holds it."""
    holder = site.connect()
    execute(holder, f"LOCK TABLES {LOG} READ")
    try:
        yield
    finally:
        execute(holder, "UNLOCK TABLES")
        holder.close()


def test_a_call_that_ends_while_a_backup_locks_the_log_is_logged_by_the_next_cleanup(any_site):
    declined, winner = start_calls(any_site, 2)
    store = Store(connect(config.load(any_site.conf_path)))    # 1 s lock waits, as the legs
    store.answered(declined, "SIP/declined")
    store.answered(winner, "SIP/winner")
    with log_read_locked(any_site):
        store.move(declined, "decline")
        with pytest.raises(DatabaseError):
            store.append_event(declined, ev.DECLINED)
        store.delete_batch(any_site.caller_code)        # the agent leg gives up on the batch
        assert live(any_site, declined)["status"] == "DECLINED"     # kept: its log owes
        with pytest.raises(DatabaseError, match="won, but Accepted is not logged"):
            store.elect(winner, any_site.caller_code)
        assert store.reserve(winner, "8600061") and store.hand_over(winner)
        with pytest.raises(DatabaseError):
            store.mark_transfer(winner, "8600061")
        store.delete_live(winner)
        during = cli(any_site.conf_path, "cleanup")     # a cron run meets the lock
        assert during.exit_code == 1 and len(during.output.splitlines()) == 1, during.output
    age(any_site, winner, 120)                          # the winner's batch is over

    result = cli(any_site.conf_path, "cleanup")
    assert result.exit_code == 0, result.output
    assert "ended while its log was locked): logged Declined" in result.output
    assert events(any_site, declined) == ["Started", "Answered", "Declined"]
    assert events(any_site, winner) == ["Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert (log(any_site, winner)["call_transfer"], log(any_site, winner)["session_id_3way"]) \
        == ("Y", "8600061")
    assert [live(any_site, c) for c in (declined, winner)] == [None, None]


def test_cleanup_is_silent_when_there_is_nothing_to_do(site):
    """It runs from cron every minute: cron mails whatever it prints."""
    start_calls(site, 1)
    quiet = cli(site.conf_path, "cleanup")
    assert (quiet.exit_code, quiet.output) == (0, "")
    assert "0 stale live row(s) found" in cli(site.conf_path, "cleanup", "--dry-run").output
    execute(site.connect(), "DROP TABLE vicidial_3way_press_live")
    try:
        failed = cli(site.conf_path, "cleanup")
        assert failed.exit_code == 1 and len(failed.output.splitlines()) == 1
        assert failed.output.startswith("Error: ")
    finally:
        site.create()


# --- archive ------------------------------------------------------------------------------
def old_batch(site, n: int, days: int = 800) -> list[str]:
    """A multi-call batch logged `days` ago, long over (no live rows): same call_date,
    caller_code and user."""
    ids = start_calls(site, n)
    execute(site.connect(), f"DELETE FROM {LIVE} WHERE call_3way_id IN "
                            f"({', '.join(['%s'] * n)})", ids)
    execute(site.connect(), f"UPDATE {LOG} SET call_date = NOW(6) - INTERVAL %s DAY "
                            f"WHERE call_3way_id IN ({', '.join(['%s'] * n)})", [days] + ids)
    return ids


def rows_of(site, table: str) -> list[dict]:
    return sql(site, f"SELECT * FROM {table} ORDER BY call_3way_id")


def test_archive_keeps_every_call_of_a_multi_call_batch(any_site):
    batch = old_batch(any_site, 5)
    recent = start_calls(any_site, 1, caller_code="DC999999W0001234567W")
    logged = rows_of(any_site, LOG)
    assert len({(r["call_date"], r["caller_code"], r["user"]) for r in logged
                if r["call_3way_id"] in batch}) == 1

    dry = cli(any_site.conf_path, "archive", "--dry-run", "--batch-size", "2")
    assert "5 log row(s) older than" in dry.output and "in 3 batch(es) of 2" in dry.output
    assert rows_of(any_site, ARCHIVE) == []

    result = cli(any_site.conf_path, "archive", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "moved 5 of 5 row(s), each verified in the archive" in result.output
    assert "(5 copied now, 0 already there)" in result.output
    assert [r["call_3way_id"] for r in rows_of(any_site, ARCHIVE)] == sorted(batch)
    assert rows_of(any_site, ARCHIVE) == [r for r in logged if r["call_3way_id"] in batch]
    assert [r["call_3way_id"] for r in rows_of(any_site, LOG)] == recent


def test_archive_leaves_calls_still_in_progress_in_the_log(any_site):
    """`archive --days 0` must not move the row of a call whose later events are still to come."""
    ended, in_progress = start_calls(any_site, 2)
    store = Store(any_site.connect())
    store.end_call(ended, "hang_up", ev.HUNGUP)
    store.delete_live(ended)
    execute(any_site.connect(), f"UPDATE {LOG} SET call_date = NOW(6) - INTERVAL 1 MINUTE")
    result = cli(any_site.conf_path, "archive", "--days", "0")
    assert result.exit_code == 0, result.output
    assert "1 more of calls still in progress stay in the log" in result.output
    assert [r["call_3way_id"] for r in rows_of(any_site, LOG)] == [in_progress]
    assert [r["call_3way_id"] for r in rows_of(any_site, ARCHIVE)] == [ended]
    Store(any_site.connect()).append_event(in_progress, ev.HUNGUP)     # its later event lands
    assert events(any_site, in_progress) == ["Started", "Hungup"]


def test_archive_resumes_and_never_deletes_a_row_it_could_not_store(any_site):
    copied_before, clashing, plain = old_batch(any_site, 3)
    conn = any_site.connect()
    # An interrupted run had already copied one row; another archive row has the same key
    # but other contents.
    execute(conn, f"INSERT INTO {ARCHIVE} SELECT * FROM {LOG} WHERE call_3way_id = %s",
            (copied_before,))
    execute(conn, f"INSERT INTO {ARCHIVE} (call_date, caller_code, call_3way_id, user, result) "
                  f"SELECT call_date, caller_code, call_3way_id, user, 'Started: other' FROM {LOG} "
                  "WHERE call_3way_id = %s", (clashing,))
    result = cli(any_site.conf_path, "archive", "--days", "30")
    assert result.exit_code == 1
    assert "moved 2 of 3 row(s)" in result.output
    assert "(1 copied now, 1 already there)" in result.output
    assert "1 row(s) stay in the log" in result.output
    assert [r["call_3way_id"] for r in rows_of(any_site, LOG)] == [clashing]
    assert len(rows_of(any_site, ARCHIVE)) == 3
    assert plain in [r["call_3way_id"] for r in rows_of(any_site, ARCHIVE)]

"""The 3-Way Press Log Report and the per-lead log, on rows written by the real outside leg.

One set of calls (module fixture) is played through the fake-AGI harness and placed on chosen
days; every test reads it through the `press3way` command or the library. The set is written
twice, each AGI step a process and through the FastAGI server (channel names with markup and
escapes reach the rows by either way), and each test reads both.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from datetime import date

import pytest
from click.testing import CliRunner

from press3way import events as ev
from press3way.cli import main
from press3way.report.model import SUMMARY, VICIDIAL_SUMMARY, Filters, Report, Row, build, by_phone
from press3way.report.reads import log_rows
from press3way.report.text import RED, RESET, WIDTH, render
from press3way.store import Store
from press3way.tables import ARCHIVE, LOG
from tests.conftest import ROOT
from tests.helpers import log, reserve_when_accepted, sql, start_calls

ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
HOSTILE_CHANNEL = "SIP/<b id=\"injected\">x</b>&'\"-1"
ESCAPE_CHANNEL = "SIP/\x1b[2Jevil-1"
RANGE = ["--start", "2026-03-01", "--end", "2026-03-02"]
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
MICROSECONDS = re.compile(r"\d\d:\d\d:\d\d\.\d")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NAMES = {"6666": "Ann Agent"}          # 7777 has no vicidial_users row

# Where each call is placed; the range 2026-03-01..2026-03-02 holds the first five.
PLACES = {
    "slow": "2026-03-02 23:59:59.999999",
    "win": "2026-03-02 23:59:59",           # the end day's last second: included
    "gone": "2026-03-01 09:30:01",
    "declined": "2026-03-01 09:30:00",
    "defeated": "2026-03-01 00:00:00",      # the start day's first second: included
    "hungup": "2026-03-03 00:00:00",        # the day after the end: excluded
    "timeout": "2026-02-28 23:59:59.999999",  # just before the start: excluded
    "old": "2026-01-15 10:00:00",           # moved to the archive
}
IN_RANGE = ["slow", "win", "gone", "declined", "defeated"]   # newest first


@pytest.fixture(scope="module", params=["process", "fastagi"])
def calls(innodb_site, request) -> dict[str, str]:
    """Two agents' batches played through the real outside leg; name -> call id."""
    site = innodb_site
    site.reset()
    site.fastagi = request.getfixturevalue("innodb_fastagi") if request.param == "fastagi" \
        else None
    try:
        return _play_calls(site)
    finally:
        site.fastagi = None


def _play_calls(site) -> dict[str, str]:
    store = Store(site.connect())
    other = dataclasses.replace(site, user="7777", lead_id=7654321)   # another agent and lead

    # agent 6666: one call wins and transfers, one presses too late, one never answers
    win, slow, defeated = start_calls(site, 3)
    site.outside("answered", win, channel_name="SIP/carrier-win")
    site.outside("answered", slow, channel_name="SIP/carrier-slow")
    agent = reserve_when_accepted(site, win)
    site.outside("accepted", win, channel_name="SIP/carrier-win")
    agent.join()
    site.outside("accepted", slow, channel_name="SIP/carrier-slow")
    store.log_defeated([defeated])                                  # as the agent leg does
    store.delete_live(defeated)

    # agent 7777: declines, agent gone, a hang-up, and an old declined call for the archive
    declined, gone, hungup, old = start_calls(other, 4)
    site.outside("answered", declined, channel_name=HOSTILE_CHANNEL)
    site.outside("declined", declined, channel_name=HOSTILE_CHANNEL)
    site.outside("answered", gone, channel_name=ESCAPE_CHANNEL)
    sql(site, "UPDATE vicidial_3way_press_live SET agent_heartbeat = NOW() - INTERVAL 30 SECOND "
              "WHERE call_3way_id = %s", (gone,))
    site.outside("declined", gone, channel_name=ESCAPE_CHANNEL)
    site.outside("answered", hungup)
    site.outside("hungup", hungup, dead=True)
    site.outside("answered", old)
    site.outside("declined", old)

    # agent 6666 again, another batch: the agent leg's timeout ends it
    (timeout,) = start_calls(site, 1, caller_code="DC654321W0001234567W")
    site.outside("answered", timeout)
    store.append_event(timeout, ev.TIMEOUT)

    ids = dict(win=win, slow=slow, defeated=defeated, declined=declined, gone=gone,
               hungup=hungup, old=old, timeout=timeout)
    for name, when in PLACES.items():
        sql(site, f"UPDATE {LOG} SET call_date = %s WHERE call_3way_id = %s", (when, ids[name]))
    sql(site, f"INSERT INTO {ARCHIVE} SELECT * FROM {LOG} WHERE call_3way_id = %s", (old,))
    sql(site, f"DELETE FROM {LOG} WHERE call_3way_id = %s", (old,))
    sql(site, "DELETE FROM vicidial_users")
    for user, name in NAMES.items():
        sql(site, "INSERT INTO vicidial_users (user, pass, full_name) VALUES (%s, %s, %s)",
            (user, "x", name))
    return ids


def run(site, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"PRESS3WAY_CONF": site.conf_path},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_flows_wrote_the_expected_events(innodb_site, calls):
    last = {name: ev.terminal_event(log(innodb_site, cid)["result"])
            for name, cid in calls.items() if name != "old"}
    assert last == {"win": "Transfer", "slow": "Too Slow", "defeated": "Defeated",
                    "declined": "Declined", "gone": "Agent Gone", "hungup": "Hungup",
                    "timeout": "Timeout"}


def test_summary_counts_words_like_vicidial(innodb_site, calls):
    report = build(innodb_site.connect(), Filters(date(2026, 3, 1), date(2026, 3, 2)))
    assert report.summary() == {"TOTAL": 5, "Answered": 4, "Accepted": 1, "Declined": 1,
                                "Too Slow": 1, "Defeated": 1, "Hungup": 0, "Agent Gone": 1,
                                "Timeout": 0, "Transfer": 1}
    wide = build(innodb_site.connect(), Filters(date(2026, 2, 28), date(2026, 3, 3))).summary()
    assert wide["Hungup"] == 1 and wide["Timeout"] == 1
    # VICIdial's report counts with SQL LIKE; the same range must give the same numbers
    assert set(VICIDIAL_SUMMARY) < set(SUMMARY)
    for word in SUMMARY:
        (row,) = sql(innodb_site, f"SELECT COUNT(*) AS n FROM {LOG} WHERE call_date >= "
                                  "'2026-03-01' AND call_date < '2026-03-03' AND result LIKE %s",
                     (f"%{word}%",))
        assert report.summary()[word] == row["n"], word


def test_date_range_includes_the_whole_end_day_and_nothing_outside(innodb_site, calls):
    rows = log_rows(innodb_site.connect(), date(2026, 3, 1), date(2026, 3, 2))
    assert [r["call_3way_id"] for r in rows] == [calls[n] for n in IN_RANGE]   # newest first
    wide = log_rows(innodb_site.connect(), date(2026, 2, 28), date(2026, 3, 3))
    assert {r["call_3way_id"] for r in wide} == {calls[n] for n in PLACES if n != "old"}
    one_day = log_rows(innodb_site.connect(), date(2026, 3, 3), date(2026, 3, 3))
    assert [r["call_3way_id"] for r in one_day] == [calls["hungup"]]


@pytest.mark.parametrize("option, value, names", [
    ("--user", "7777", ["gone", "declined"]),
    ("--user", "6666", ["slow", "win", "defeated"]),
    ("--phone", "7275551212", ["win", "declined"]),
    ("--user", "nobody", []),
])
def test_filters(innodb_site, calls, option, value, names):
    data = json.loads(run(innodb_site, "report", *RANGE, option, value, "--format", "json"))
    assert [r["call_3way_id"] for r in data["rows"]] == [calls[n] for n in names]
    assert data["summary"]["TOTAL"] == len(names)


def test_user_and_phone_together(innodb_site, calls):
    data = json.loads(run(innodb_site, "report", *RANGE, "--user", "6666", "--phone",
                          "7275551213", "--format", "json"))
    assert [r["call_3way_id"] for r in data["rows"]] == [calls["slow"]]


def quoted(*cells) -> str:
    return ",".join('"' + str(c).replace('"', '""') + '"' for c in cells)


CSV_FIRST_LINE = re.compile(r"^3-Way Press Agent Report: (\S*) {21}"
                            r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(M\)$")


def test_csv_is_vicidials_download_byte_for_byte(innodb_site, calls):
    """AST_3way_press_log_report.php's download: two header lines and a blank one, the
    summary, a blank line, the detail; the full name as User Agent; every value quoted."""
    text = run(innodb_site, "report", *RANGE, "--format", "csv")
    first, rest = text.split("\n", 1)
    assert CSV_FIRST_LINE.match(first).group(1) == ""
    detail = []
    for name in IN_RANGE:
        row = log(innodb_site, calls[name])
        detail.append(quoted(PLACES[name][:19], NAMES.get(row["user"], "-- NOT FOUND --"),
                             row["lead_id"], row["phone_number"], "7275550000",
                             row["call_channel"], "10.10.10.15", 1 if name == "win" else 0,
                             row["result"]))
    expected = ["Time range: 2026-03-01 00:00:00 to 2026-03-02 23:59:59", "",
                quoted("Results Summary:"), quoted("TOTAL", 5), quoted("Answered", 4),
                quoted("Accepted", 1), quoted("Declined", 1), quoted("Too Slow", 1),
                quoted("Defeated", 1), quoted("Agent Gone", 1), quoted("Transfer", 1), "",
                quoted("Results Detail:"),
                quoted("Date Time", "User Agent", "Lead", "Phone", "CID", "Channel", "Server",
                       "Transfer", "Results")] + detail
    assert rest == "\n".join(expected) + "\n"
    assert "\r" not in text and HOSTILE_CHANNEL.replace('"', '""') in text


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(innodb_site,
                                                                               calls):
    """OWASP's CSV-injection rule: = + - @ at a cell's start get a leading ' (VICIdial's CSV
    has them as they are); the same text anywhere else in a cell is left."""
    hostile = {"phone_number": "+17275551212", "outbound_cid": "=HYPERLINK(1)",
               "call_channel": "@SUM(1+1)", "user": "-2+3"}
    (cid,) = start_calls(innodb_site, 1)
    sql(innodb_site, f"UPDATE {LOG} SET call_date = '2026-05-01 10:00:00', "
                     + ", ".join(f"{k} = %s" for k in hostile) + " WHERE call_3way_id = %s",
        list(hostile.values()) + [cid])
    may = ["--start", "2026-05-01", "--end", "2026-05-01", "--format", "csv"]
    try:
        detail = run(innodb_site, "report", *may).splitlines()[-1]
        by_phone = run(innodb_site, "report", *may, "--by", "phone").splitlines()[-1]
    finally:
        sql(innodb_site, f"DELETE FROM {LOG} WHERE call_3way_id = %s", (cid,))
    cells = detail[1:-1].split('","')
    # user -2+3 has no name: VICIdial's own placeholder stays as VICIdial writes it
    assert cells[1:6] == ["-- NOT FOUND --", str(innodb_site.lead_id), "'+17275551212",
                          "'=HYPERLINK(1)", "'@SUM(1+1)"], cells
    assert by_phone.startswith(quoted("'+17275551212", 1)), by_phone


def test_csv_names_the_user_filter_and_says_when_nothing_was_found(innodb_site, calls):
    text = run(innodb_site, "report", "--start", "2025-01-01", "--end", "2025-01-31",
               "--user", "6666", "--format", "csv")
    first, rest = text.split("\n", 1)
    assert CSV_FIRST_LINE.match(first).group(1) == "6666"
    assert rest == "Time range: 2025-01-01 00:00:00 to 2025-01-31 23:59:59\n\nNo Results Found\n"


def test_csv_shows_user_ids_without_a_vicidial_users_table(innodb_site, calls):
    sql(innodb_site, "RENAME TABLE vicidial_users TO vicidial_users_away")
    try:
        text = run(innodb_site, "report", *RANGE, "--format", "csv")
    finally:
        sql(innodb_site, "RENAME TABLE vicidial_users_away TO vicidial_users")
    users = [line.split('","')[1] for line in text.splitlines() if DATE_TIME.match(line[1:20])]
    assert users == ["6666", "6666", "7777", "7777", "6666"]


def test_json_splits_results_into_events(innodb_site, calls):
    data = json.loads(run(innodb_site, "report", *RANGE, "--format", "json"))
    assert data["filters"] == {"start": "2026-03-01", "end": "2026-03-02", "user": None,
                               "phone": None, "archive": False}
    assert data["summary"]["TOTAL"] == 5 and data["summary"]["Hungup"] == 0
    win = data["rows"][1]
    assert win["user_agent"] == "Ann Agent" and data["rows"][2]["user_agent"] == "-- NOT FOUND --"
    assert win["call_3way_id"] == calls["win"] and win["call_date"] == "2026-03-02 23:59:59"
    assert win["transfer"] == 1 and win["user"] == "6666" and win["lead_id"] == 1234567
    assert [e["event"] for e in win["events"]] == [
        "Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert all(DATE_TIME.match(e["time"]) for e in win["events"])
    assert [r["transfer"] for r in data["rows"]] == [0, 1, 0, 0, 0]


def test_archive_reads_the_archive_table(innodb_site, calls):
    january = ["--start", "2026-01-01", "--end", "2026-01-31", "--format", "json"]
    assert json.loads(run(innodb_site, "report", *january))["rows"] == []
    rows = json.loads(run(innodb_site, "report", *january, "--archive"))["rows"]
    assert [r["call_3way_id"] for r in rows] == [calls["old"]]
    assert [e["event"] for e in rows[0]["events"]] == ["Started", "Answered", "Declined"]


def test_table_without_a_terminal_has_no_colour_and_no_raw_escapes(innodb_site, calls):
    text = run(innodb_site, "report", *RANGE)
    assert "\x1b" not in text
    assert "SIP/\\x1b[2Jevil-1" in text                # outside text cannot drive the terminal
    lines = text.splitlines()
    assert lines[0] == "3-Way Press Log Report" and "TOTAL" in text
    summary = lines[lines.index("Results Summary:") + 1:lines.index("Results Detail:") - 1]
    assert [line.rsplit(None, 1)[0] for line in summary] == ["TOTAL"] + list(SUMMARY)
    header = lines.index("Results Detail:") + 1
    assert lines[header].split() == ["Date", "Time", "User", "Lead", "Phone", "CID", "Channel",
                                     "Server"]
    calls_shown = [line for line in lines[header + 2:] if DATE_TIME.match(line[:19])]
    assert [line[:19] for line in calls_shown] == [PLACES[n][:19] for n in IN_RANGE]
    results = " ".join(line.strip() for line in lines[header + 2:] if line.startswith("    "))
    assert results.replace("| ", "|") == " ".join(log(innodb_site, calls[n])["result"]
                                                   for n in IN_RANGE)


def widest(text: str) -> int:
    return max(len(ANSI.sub("", line)) for line in text.splitlines())


def test_every_table_fits_100_columns_even_with_the_longest_values(innodb_site, calls):
    longest = {"user": "u" * 20, "phone_number": "9" * 18, "outbound_cid": "8" * 20,
               "call_channel": "SIP/" + "c" * 96, "server_ip": "255.255.255.255",
               "lead_id": 4294967295}
    (cid,) = start_calls(innodb_site, 1)
    sql(innodb_site, f"UPDATE {LOG} SET call_date = '2026-04-01 10:00:00', result = %s, "
                     + ", ".join(f"{k} = %s" for k in longest) + " WHERE call_3way_id = %s",
        ["|".join(f"{e}: 2026-04-01 10:00:0{i}" for i, e in enumerate(ev.ALL[:9]))]
        + list(longest.values()) + [cid])
    april = ["--start", "2026-04-01", "--end", "2026-04-01"]
    for args in (RANGE, april, RANGE + ["--by", "phone"], april + ["--by", "phone"]):
        text = run(innodb_site, "report", *args)
        assert widest(text) <= WIDTH, args
    detail = run(innodb_site, "report", *april)
    assert "SIP/cc..." in detail and "Hungup: 2026-04-01 10:00:08" in detail
    assert "255.255.255.255" in detail
    assert widest(run(innodb_site, "lead", "4294967295")) <= WIDTH
    assert widest(run(innodb_site, "lead", "1234567", "--archive")) <= WIDTH
    sql(innodb_site, f"DELETE FROM {LOG} WHERE call_3way_id = %s", (cid,))


def tty_output(site, *args: str, **env: str) -> str:
    """Run the installed `press3way` with its stdout on a pseudo-terminal."""
    master, slave = pty.openpty()
    command = os.path.join(os.path.dirname(sys.executable), "press3way")
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen([command, *args], stdout=slave, stderr=subprocess.DEVNULL,
                            env={**base, "PRESS3WAY_CONF": site.conf_path, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:                 # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_table_on_a_terminal_shows_unsuccessful_rows_red(innodb_site, calls):
    lines = tty_output(innodb_site, "report", *RANGE).splitlines()
    detail = lines[lines.index("Results Detail:") + 3:]
    red = [line for line in detail if line.startswith(RED) and line.endswith(RESET)]
    plain = [line for line in detail if "\x1b" not in line]
    assert sum(DATE_TIME.match(line[len(RED):len(RED) + 19]) is not None for line in red) == 4
    assert sum(DATE_TIME.match(line[:19]) is not None for line in plain) == 1
    assert all("Transfer:" not in line for line in red)
    assert any("Transfer:" in line for line in plain)
    assert len(red) + len(plain) == len(detail)
    assert "\x1b" not in tty_output(innodb_site, "report", *RANGE, NO_COLOR="1")


def lead_calls(text: str) -> list[str]:
    """The numbered call rows of `press3way lead`, without their result lines."""
    return [line for line in text.splitlines()[4:] if not line.startswith("    ")]


def test_lead_log(innodb_site, calls):
    text = run(innodb_site, "lead", "7654321")
    lines = text.splitlines()
    assert lines[0] == "3-WAY PRESS LOGS FOR THIS LEAD: 7654321"
    assert lines[2].split() == ["#", "DATE/TIME", "PHONE", "USER"]
    body = lead_calls(text)
    assert [line.split()[0] for line in body] == ["1", "2", "3"]
    assert [" ".join(line.split()[1:3]) for line in body] == [
        "2026-03-03 00:00:00", "2026-03-01 09:30:01", "2026-03-01 09:30:00"]
    assert all(line.split()[-1] == "7777" for line in body)
    results = text.split(body[1])[0].split(body[0])[1]
    assert "Hungup:" in results and "archived" not in text
    assert "Agent Gone:" in text.split(body[1])[1].split(body[2])[0]
    assert "Declined:" in text.split(body[2])[1]


def test_lead_log_shows_whole_seconds_only(innodb_site, calls):
    """call_date of the `slow` call holds .999999: the lead page shows seconds, as VICIdial."""
    text = run(innodb_site, "lead", "1234567", "--archive")
    assert "2026-03-02 23:59:59" in text and not MICROSECONDS.search(text)
    assert not MICROSECONDS.search(run(innodb_site, "report", *RANGE, "--format", "json"))


def test_lead_log_with_archive_marks_archived_calls(innodb_site, calls):
    text = run(innodb_site, "lead", "7654321", "--archive")
    assert text.splitlines()[2].split()[-1] == "ARCHIVE"
    body = lead_calls(text)
    assert len(body) == 4
    assert " ".join(body[-1].split()[1:3]) == "2026-01-15 10:00:00"
    assert body[-1].endswith("archived")
    assert not any(line.endswith("archived") for line in body[:-1])


def test_lead_without_calls(innodb_site, calls):
    assert run(innodb_site, "lead", "42").splitlines()[1] == "no 3-way calls"


def synthetic(phone: str, *events: tuple[str, int]) -> Row:
    """A row whose result has these events, each at second `s` of 2026-03-01 10:00."""
    result = "|".join(f"{e}: 2026-03-01 10:00:{s:02d}" for e, s in events)
    return Row(None, "T1", 1, phone, "", "6666", "", "", result)


def test_by_phone_figures_and_medians_come_from_the_event_times():
    rows = [synthetic("111", (ev.STARTED, 0), (ev.ANSWERED, 4), (ev.ACCEPTED, 7),
                      (ev.RESERVED, 7), (ev.TRANSFER, 8)),
            synthetic("111", (ev.STARTED, 0), (ev.ANSWERED, 2), (ev.DECLINED, 22)),
            synthetic("111", (ev.STARTED, 10), (ev.ANSWERED, 13), (ev.TOO_SLOW, 19)),
            synthetic("222", (ev.STARTED, 0), (ev.DEFEATED, 5)),
            synthetic("111", (ev.STARTED, 0), (ev.HUNGUP, 30))]
    first, second = by_phone(Report(Filters(date(2026, 3, 1), date(2026, 3, 1)), rows))
    assert (first.phone, first.calls, first.answered, first.accepted, first.transfers,
            first.too_slow, first.defeated) == ("111", 4, 3, 1, 1, 1, 0)
    assert first.answered_pct == 75 and first.accepted_pct == 25
    assert first.median_to_answer == 3 and first.median_to_accept == 3
    assert (second.phone, second.calls, second.defeated, second.median_to_answer) == \
        ("222", 1, 1, None)


def test_by_phone_in_every_text_format(innodb_site, calls):
    table = run(innodb_site, "report", *RANGE, "--by", "phone").splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("Phone "))
    assert table[header].split() == ["Phone", "Calls", "Answered", "Accepted", "Transfers",
                                     "Too", "Slow", "Defeated", "To", "answer", "To", "accept"]
    assert [line.split()[:7] for line in table[header + 2:header + 5]] == [
        ["7275551212", "2", "100%", "50%", "1", "0", "0"],
        ["7275551213", "2", "100%", "0%", "0", "1", "0"],
        ["7275551214", "1", "0%", "0%", "0", "0", "1"]]

    csv_lines = run(innodb_site, "report", *RANGE, "--by", "phone", "--format", "csv").splitlines()
    assert csv_lines[0] == quoted("Phone", "Calls", "Answered", "Answered %", "Accepted",
                                  "Accepted %", "Transfers", "Too Slow", "Defeated",
                                  "Median seconds to answer", "Median seconds to accept")
    assert csv_lines[3] == quoted("7275551214", 1, 0, 0.0, 0, 0.0, 0, 0, 1, "", "")

    data = json.loads(run(innodb_site, "report", *RANGE, "--by", "phone", "--format", "json"))
    assert data["filters"]["start"] == "2026-03-01"
    first = data["phones"][0]
    assert (first["phone_number"], first["calls"], first["answered_pct"], first["accepted_pct"],
            first["transfers"]) == ("7275551212", 2, 100.0, 50.0, 1)
    assert first["median_s_to_answer"] is not None and first["median_s_to_accept"] is not None
    assert data["phones"][2]["median_s_to_answer"] is None


def test_start_after_end_is_refused(innodb_site, calls):
    result = CliRunner().invoke(main, ["report", "--start", "2026-03-02", "--end", "2026-03-01"],
                                env={"PRESS3WAY_CONF": innodb_site.conf_path})
    assert result.exit_code == 2 and "--start" in result.output


@pytest.mark.parametrize("day, says", [
    ("2026-02-30", "2026-02-30: that day does not exist (February 2026 has 28 days)"),
    ("2026-13-01", "2026-13-01: there is no month 13"),
    ("2026/03/01", "'2026/03/01' is not a date: expected YYYY-MM-DD"),
    ("0999-01-01", "0999-01-01: the database holds dates from 1000-01-01"),
])
def test_bad_days_are_named(innodb_site, calls, day, says):
    result = CliRunner().invoke(main, ["report", "--start", day, "--end", "2026-03-01"],
                                env={"PRESS3WAY_CONF": innodb_site.conf_path},
                                prog_name="press3way")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: Invalid value for '--start': {says} "
                                          "(see 'press3way report --help')"]


def test_the_last_day_there_is_reads_everything(innodb_site, calls):
    data = json.loads(run(innodb_site, "report", "--start", "2026-01-01", "--end", "9999-12-31",
                          "--format", "json"))
    assert data["summary"]["TOTAL"] == 7


def test_output_into_a_missing_folder_is_one_line(innodb_site, calls, tmp_path):
    result = CliRunner().invoke(main, ["report", *RANGE, "--output",
                                       str(tmp_path / "no" / "r.csv")],
                                env={"PRESS3WAY_CONF": innodb_site.conf_path})
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'no' / 'r.csv'}: No such file or directory\n"


def test_unreadable_config_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["lead", "1"],
                                env={"PRESS3WAY_CONF": str(tmp_path / "missing.conf")})
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot read")


# --- the HTML page in a real browser ------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed here when running as root (as `make test` does)."""
    if not shutil.which("chromium") and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "-qq", "chromium"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(install, capture_output=True)
    path = shutil.which("chromium")
    if not path:
        pytest.skip("chromium is not installed and we are not root to install it: "
                    "run `sudo apt-get install -y chromium` (or `make test` as root)")
    return path


def browse(chromium: str, page: str, tmp_path, *extra: str) -> str:
    """Open a file in headless Chromium; its stdout (the DOM with --dump-dom)."""
    profile = tmp_path / "profile"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--window-size=1200,1600",
               *extra, f"file://{page}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


PROBE = """<script>
const rows = [...document.querySelectorAll('table.detail tbody tr')];
const bars = [...document.querySelectorAll('svg.funnel rect')];
document.body.setAttribute('data-probe', JSON.stringify({
  rows: rows.map(tr => [tr.className, getComputedStyle(tr).color]),
  svg: document.querySelector('svg.funnel').getBoundingClientRect().width,
  bars: bars.map(r => [r.dataset.event, r.getBBox().width]),
}));
</script>
"""


def test_html_renders_in_chromium(innodb_site, calls, chromium, tmp_path):
    page = tmp_path / "report.html"
    run(innodb_site, "report", *RANGE, "--format", "html", "--output", str(page))
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script" not in text
    assert html.escape(HOSTILE_CHANNEL, quote=True) in text

    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "report.png")
    if os.path.exists(shot):
        os.remove(shot)
    browse(chromium, str(page), tmp_path, f"--screenshot={shot}")
    assert os.path.getsize(shot) > 10_000

    dom = browse(chromium, str(page), tmp_path, "--dump-dom")
    assert '<b id="injected">' not in dom and '&lt;b id="injected"&gt;' in dom   # text, not markup
    assert dom.count('<tr class="fail">') == 4 and dom.count('<tr class="ok">') == 1
    assert "<svg" in dom and dom.count('class="stage"') == 4 and dom.count('class="drop"') == 6

    # The page's policy forbids scripts, so a probe runs in a copy without it.
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', text)
    assert policy
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(text.replace(policy.group(0), "").replace("</body>", PROBE + "</body>"),
                          encoding="utf-8")
    dom = browse(chromium, str(probe_page), tmp_path, "--dump-dom")
    probe = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    assert [c for c, _ in probe["rows"]] == ["fail", "ok", "fail", "fail", "fail"]
    assert {colour for c, colour in probe["rows"] if c == "fail"} == {"rgb(204, 0, 0)"}
    assert {colour for c, colour in probe["rows"] if c == "ok"} == {"rgb(0, 0, 0)"}
    assert probe["svg"] > 500
    widths = dict(probe["bars"])
    assert widths["Started"] == pytest.approx(420) and widths["Answered"] == pytest.approx(336)
    assert widths["Accepted"] == widths["Transfer"] == pytest.approx(84)
    assert widths["Declined"] == pytest.approx(40) and widths["Hungup"] == pytest.approx(1)


def test_html_policy_blocks_scripts(tmp_path, chromium):
    """Defence in depth: were a value ever left unescaped, the page still runs no script."""
    page = tmp_path / "page.html"
    empty = Report(Filters(date(2026, 3, 1), date(2026, 3, 2)))
    page.write_text(render(empty, "html").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    assert 'data-probe="' not in browse(chromium, str(page), tmp_path, "--dump-dom")


PHONE_PROBE = """<script>
const bars = [...document.querySelectorAll('svg.phones rect.measure')];
document.body.setAttribute('data-probe', JSON.stringify({
  bars: bars.map(r => [r.dataset.phone, r.dataset.measure, r.getBBox().width]),
  rows: [...document.querySelectorAll('table.phones tbody tr')].map(
    tr => [...tr.cells].map(td => td.textContent)),
}));
</script>
"""


def test_html_by_phone_renders_a_chart_in_chromium(innodb_site, calls, chromium, tmp_path):
    page = tmp_path / "phones.html"
    run(innodb_site, "report", *RANGE, "--by", "phone", "--format", "html", "--output", str(page))
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "https://" not in text
    shot = os.path.join(ARTIFACTS, "report-by-phone.png")
    os.makedirs(ARTIFACTS, exist_ok=True)
    if os.path.exists(shot):
        os.remove(shot)
    browse(chromium, str(page), tmp_path, f"--screenshot={shot}")
    assert os.path.getsize(shot) > 10_000

    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', text)
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(text.replace(policy.group(0), "").replace("</body>",
                                                                    PHONE_PROBE + "</body>"),
                          encoding="utf-8")
    dom = browse(chromium, str(probe_page), tmp_path, "--dump-dom")
    probe = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    widths = {(phone, measure): w for phone, measure, w in probe["bars"]}
    assert widths[("7275551212", "calls")] == pytest.approx(480)       # the most called number
    assert widths[("7275551212", "answered")] == pytest.approx(480)
    assert widths[("7275551212", "accepted")] == pytest.approx(240)
    assert widths[("7275551212", "transfers")] == pytest.approx(240)
    assert widths[("7275551213", "accepted")] == pytest.approx(0)
    assert widths[("7275551214", "calls")] == pytest.approx(240)
    assert [row[:3] for row in probe["rows"]] == [["7275551212", "2", "100%"],
                                                  ["7275551213", "2", "100%"],
                                                  ["7275551214", "1", "0%"]]

"""The 3-Way Press Log Report and the per-lead log, on rows written by the real outside leg.

One set of calls (module fixture) is played through the fake-AGI harness and placed on chosen
days; every test reads it through the `press3way` command or the library.
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
from press3way.db import ARCHIVE, LOG, Store, log_rows
from press3way.report import SUMMARY, Filters, Report, build
from press3way.report_formats import RED, RESET, render
from tests.conftest import ROOT
from tests.helpers import log, reserve_when_accepted, sql, start_calls

ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
HOSTILE_CHANNEL = "SIP/<b id=\"injected\">x</b>&'\"-1"
ESCAPE_CHANNEL = "SIP/\x1b[2Jevil-1"
RANGE = ["--start", "2026-03-01", "--end", "2026-03-02"]
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")

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


@pytest.fixture(scope="module")
def calls(innodb_site) -> dict[str, str]:
    """Two agents' batches played through the real outside leg; name -> call id."""
    site = innodb_site
    site.reset()
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
    store.end_call(defeated, ev.S_DEFEATED, ev.DEFEATED)            # as the agent leg does

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
                                "Too Slow": 1, "Defeated": 1, "Agent Gone": 1, "Transfer": 1}
    # VICIdial's report counts with SQL LIKE; the same range must give the same numbers
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


def test_csv_is_vicidials_layout(innodb_site, calls):
    text = run(innodb_site, "report", *RANGE, "--format", "csv")

    def line(*cells) -> str:
        return ",".join('"' + str(c).replace('"', '""') + '"' for c in cells)

    detail = []
    for name in IN_RANGE:
        row = log(innodb_site, calls[name])
        detail.append(line(PLACES[name][:19], row["user"], row["lead_id"], row["phone_number"],
                           "7275550000", row["call_channel"], "10.10.10.15",
                           1 if name == "win" else 0, row["result"]))
    expected = [line("3-Way Press Log Report"), line("Date Range: 2026-03-01 to 2026-03-02"),
                line("Results Summary:"), line("TOTAL", 5), line("Answered", 4),
                line("Accepted", 1), line("Declined", 1), line("Too Slow", 1),
                line("Defeated", 1), line("Agent Gone", 1), line("Transfer", 1), "",
                line("Results Detail:"),
                line("Date Time", "User Agent", "Lead", "Phone", "CID", "Channel", "Server",
                     "Transfer", "Results")] + detail
    assert text == "\n".join(expected) + "\n"
    assert HOSTILE_CHANNEL.replace('"', '""') in text


def test_json_splits_results_into_events(innodb_site, calls):
    data = json.loads(run(innodb_site, "report", *RANGE, "--format", "json"))
    assert data["filters"] == {"start": "2026-03-01", "end": "2026-03-02", "user": None,
                               "phone": None, "archive": False}
    assert data["summary"]["TOTAL"] == 5
    win = data["rows"][1]
    assert win["call_3way_id"] == calls["win"] and win["call_date"] == "2026-03-02 23:59:59"
    assert win["transfer"] == 1 and win["user"] == "6666" and win["lead_id"] == 1234567
    assert [e["event"] for e in win["events"]] == ["Started", "Answered", "Accepted",
                                                   "Reserved", "Transfer"]
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
    header = lines.index("Results Detail:") + 1
    assert lines[header].split() == ["Date", "Time", "User", "Lead", "Phone", "CID", "Channel",
                                     "Server", "Transfer", "Results"]
    assert len(lines) == header + 2 + 5


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
    rows = [line for line in tty_output(innodb_site, "report", *RANGE).splitlines()
            if "Started:" in line]
    red = [line for line in rows if line.startswith(RED) and line.endswith(RESET)]
    plain = [line for line in rows if "\x1b" not in line]
    assert len(red) == 4 and all("Transfer:" not in line for line in red)
    assert len(plain) == 1 and "Transfer:" in plain[0]
    assert "\x1b" not in tty_output(innodb_site, "report", *RANGE, NO_COLOR="1")


def test_lead_log(innodb_site, calls):
    text = run(innodb_site, "lead", "7654321")
    lines = text.splitlines()
    assert lines[0] == "3-WAY PRESS LOGS FOR THIS LEAD: 7654321"
    assert lines[2].split() == ["Date", "Time", "Phone", "User", "Results"]
    body = lines[4:]
    assert [line[:19] for line in body] == ["2026-03-03 00:00:00", "2026-03-01 09:30:01",
                                            "2026-03-01 09:30:00"]
    assert "Hungup:" in body[0] and "Agent Gone:" in body[1] and "Declined:" in body[2]
    assert all(" 7777 " in line for line in body)
    assert "archived" not in text


def test_lead_log_with_archive_marks_archived_calls(innodb_site, calls):
    lines = run(innodb_site, "lead", "7654321", "--archive").splitlines()
    assert lines[2].split()[-1] == "Archive"
    body = lines[4:]
    assert len(body) == 4
    assert body[-1].startswith("2026-01-15 10:00:00") and body[-1].endswith("archived")
    assert not any(line.endswith("archived") for line in body[:-1])


def test_lead_without_calls(innodb_site, calls):
    assert run(innodb_site, "lead", "42").splitlines()[1] == "no 3-way calls"


def test_start_after_end_is_refused(innodb_site, calls):
    result = CliRunner().invoke(main, ["report", "--start", "2026-03-02", "--end", "2026-03-01"],
                                env={"PRESS3WAY_CONF": innodb_site.conf_path})
    assert result.exit_code == 2 and "--start" in result.output


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


"""Every `press3way` command, driven in-process with generated argument lists against a real
database site: it succeeds, or it fails with exactly one `Error: ...` line and a non-zero
exit; never a traceback, never an error that escaped as an unexpected one.

Side effects are kept inside a temporary directory: `install`/`uninstall` always run with
`--dry-run` and paths there, `simulate` always gets one bad item last (so it never starts a
simulation), `live` shows one screen, and `fake-agi` runs only scripts made here.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from press3way.cli import main
from press3way_testing.site import Site
from tests.helpers import sql, start_calls

# What a shell can hand a program: no NUL, no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40)
VALUES = ["", "0", "-1", "1", "2", "0.5", "nan", "inf", "-inf", "1e309", "99999999999999999999",
          "abc", "2026-03-01", "2026-02-30", "2026-13-01", "9999-12-31", "0999-12-31",
          "1000-01-01", "7275551212", "7275551212,7275551213", "7275551212,7275551212", "6666",
          "7777", "x" * 300, "\U0001f4a5", "'; DROP TABLE servers; --", "\x1b[2J", "a=b", "=b",
          "1@0.5", "1@x", "x@1", "agent=5", "agent=x,dial=2", "foo=1", "answer=1", "-", "--"]


def options(names: dict[str, list[str] | None], paths: list[str]) -> st.SearchStrategy:
    """Argument lists: options of the command (flags alone, others with a value), values
    and paths on their own, and arbitrary text."""
    values = st.sampled_from(VALUES + paths) | TEXT
    token = st.one_of(
        *[st.just([name]) if pool is None
          else st.tuples(st.just(name), st.sampled_from(pool) | values if pool else values
                         ).map(list)
          for name, pool in names.items()],
        values.map(lambda v: [v]))
    return st.lists(token, max_size=6).map(lambda parts: [t for part in parts for t in part])


@pytest.fixture(scope="module")
def world(mariadb, tmp_path_factory):
    """A site of its own (its rows may change) and a directory of files to point at."""
    site = Site(server=mariadb, db_name="press3way_cli_errors")
    site.create("InnoDB")
    site.reset()
    for call_id in start_calls(site, 3):         # rows for the reports to render
        sql(site, "UPDATE vicidial_3way_press_log SET call_date = '2026-03-01 10:00:00', "
                  "call_channel = %s WHERE call_3way_id = %s", ("SIP/\x1b[2J<b>\"x", call_id))
    base = tmp_path_factory.mktemp("cli-errors")
    (base / "agi").mkdir()
    (base / "text.txt").write_text("hello\n")
    (base / "binary.bin").write_bytes(b"\xff\xfe\x00\x81")
    script = base / "quick.agi"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    conf = site.write_conf(str(base / "astguiclient.conf"), str(base))
    paths = [str(base), str(base / "agi"), str(base / "text.txt"), str(base / "binary.bin"),
             str(script), str(base / "missing" / "x.conf"), str(base / "new.csv"),
             str(base / "ext.conf")]
    return {"conf": conf, "base": base, "paths": paths, "script": str(script)}


DAYS = ["2026-03-01", "2026-02-30", "9999-12-31", "x", "1000-01-01"]
COMMANDS = {
    "report": {"--start": DAYS, "--end": DAYS, "--user": [], "--phone": [], "--archive": None,
               "--by": ["call", "phone", "lead"], "--format": ["table", "csv", "json", "html",
                                                               "xml"], "--output": []},
    "lead": {"--archive": None},
    "live": {"--watch": None, "--interval": ["0.5", "0", "1e9"]},
    "multi": {"--show": None, "--cancel": None, "--replace": None},
    "cleanup": {"--stale": ["60", "0", "99999999999999999999"], "--dry-run": None},
    "archive": {"--days": ["732", "0", "99999999999999999999"], "--batch-size": ["1", "0"],
                "--dry-run": None},
    "check": {"--agi-dir": [], "--dialplan-file": [], "--vicidial": None},
    "install": {"--agi-dir": [], "--dialplan-file": [], "--vicidial": None, "--link": None},
    "uninstall": {"--agi-dir": [], "--dialplan-file": [], "--vicidial": None},
    "fake-agi": {"--env": ["agi_channel=SIP/x-1", "novalue"], "--var": ["call_3way_id=T1"],
                 "--digit": ["1@0.1", "1@nan", "12@1"], "--hangup-at": ["0.1", "-1", "nan"],
                 "--hangup-mode": ["line", "sighup", "both"], "--dead": None,
                 "--python": [sys.executable, "/nonexistent/python"]},
    "simulate": {"--party": ["7275551212:answer=0.5", "x:y", "1:answer=nan"],
                 "--scenario": [], "--dialstring": ["917275551212", ""],
                 "--agent-hangup": ["1", "-1"], "--conf-engine": ["MEETME", "X"],
                 "--engine": ["InnoDB", "X"], "--timeouts": ["agent=5", "agent=0"],
                 "--dialplan": [], "--sound-scale": ["0.1", "0"], "--server": [],
                 "--quiet": None},
    "demo": {},
}
# One of these ends every generated `simulate` argument list, so nothing is ever simulated.
SIMULATE_REFUSALS = [["--party", "7275551212:answer=x"], ["--timeouts", "agent=0"],
                     ["--server", "localhost"], ["--party", "not-a-number"],
                     ["--sound-scale", "inf"]]


def arguments(command: str, world: dict) -> st.SearchStrategy:
    generated = options(COMMANDS[command], world["paths"])
    if command == "simulate":
        return st.tuples(generated, st.sampled_from(SIMULATE_REFUSALS)).map(
            lambda p: p[0] + p[1])
    if command in ("install", "uninstall"):
        return generated.map(lambda args: args + ["--agi-dir", str(world["base"] / "agi"),
                                                  "--dialplan-file",
                                                  str(world["base"] / "ext.conf"),
                                                  "--dry-run"])
    if command == "report":                   # often a valid range, so the reports render
        return st.one_of(generated, generated.map(
            lambda args: ["--start", "2026-01-01", "--end", "2026-12-31", *args]))
    if command == "live":
        return generated.map(lambda args: args + ["--count", "1"])
    if command == "fake-agi":
        script = st.sampled_from([world["script"]] + world["paths"][:4] + ["/nonexistent"])
        return st.tuples(script, generated).map(lambda p: [p[0], *p[1]])
    if command == "demo":
        return generated.filter(bool)
    if command in ("lead", "multi"):
        positional = st.lists(st.sampled_from(VALUES) | TEXT, max_size=3)
        return st.tuples(positional, generated).map(lambda p: p[0] + p[1])
    return generated


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_failure_is_one_line(world, command, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(world["base"])          # relative paths land in the temporary directory

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(args=arguments(command, world))
    def one_run(args):
        result = runner.invoke(main, [command, *args], prog_name="press3way",
                               env={"PRESS3WAY_CONF": world["conf"], "NO_COLOR": "1"})
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            (args, repr(result.exception))
        ours = result.output.split("--- stderr (the AGI log) ---")[0]   # not the script's own
        assert "Traceback" not in ours, args
        errors = result.stderr.splitlines()
        if result.exit_code != 0 and errors:
            assert len(errors) == 1 and errors[0].startswith("Error: "), (args, result.stderr)
            assert "internal error" not in errors[0], (args, errors[0])
        else:
            assert errors == [], (args, result.stderr)

    one_run()


@pytest.mark.parametrize("args", [["--bogus"], ["nosuch"], ["--version", "x"], ["-h", "report"]])
def test_the_group_itself(world, args):
    result = CliRunner().invoke(main, args, prog_name="press3way",
                                env={"PRESS3WAY_CONF": world["conf"]})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0 or result.stderr.count("\n") == 1


def test_a_refusal_names_the_problem_without_python_words(world):
    """The issue's cases, each in words an administrator reads."""
    runner = CliRunner()
    env = {"PRESS3WAY_CONF": world["conf"]}
    cases = {
        ("report", "--start", "2026-01-01", "--end", "2026-01-02", "--output",
         str(world["base"] / "missing" / "r.csv")): "No such file or directory",
        ("simulate", "--server", "localhost"): "expected HOST:PORT:USER:PASSWORD",
        ("simulate", "--timeouts", "foo=1"): "'foo=1': expected one of agent, dial, press, accept",
        ("simulate", "--timeouts", "agent=x"): "a whole number of seconds",
        ("fake-agi", str(world["base"] / "text.txt")): "cannot run",
        ("report", "--start", "2026-02-30", "--end", "2026-03-01"): "that day does not exist",
    }
    for args, says in cases.items():
        result = runner.invoke(main, list(args), env=env, prog_name="press3way")
        (line,) = result.stderr.splitlines()
        assert result.exit_code != 0 and says in line, (args, line)
        for python_words in ("__init__", "invalid literal", "Errno", "Traceback", "keyword"):
            assert python_words not in line, (args, line)


def test_simulate_without_pytest_mysql_says_what_to_install(world):
    """A plain `pip install press3way` has no pytest-mysql: a process where it cannot be
    imported (sys.modules[name] = None is Python's way to block an import)."""
    hidden = ("import sys; sys.modules['pytest_mysql'] = None; "
              "from press3way.cli import main; main()")
    says = "Error: a throwaway MariaDB needs pytest-mysql: pip install ./testing"
    for command, also in (("simulate", " (or give --server HOST:PORT:USER:PASSWORD)"),
                          ("demo", "")):
        done = subprocess.run([sys.executable, "-c", hidden, command], capture_output=True,
                              text=True, timeout=60,
                              env={**os.environ, "PRESS3WAY_CONF": world["conf"]})
        assert (done.returncode, done.stdout, done.stderr) == (1, "", f"{says}{also}\n")

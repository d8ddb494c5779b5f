"""`press3way install --fastagi` / `--per-call`: the dialplan block switched to the FastAGI
server and back, `check` on a switched block (with a real `press3way fastagi` answering, and
with nothing there), uninstall of a switched block, and bad input changing nothing."""

from __future__ import annotations

import re
import socket

import pytest

from press3way.admin import block as dialplan
from press3way.admin import mode
from press3way.fastagi import DEFAULT_PORT
from press3way.fastagi.dialplan_urls import to_fastagi
from press3way_testing.fastagi import FastAGIServer
from tests.helpers import cli
from tests.test_install import bare, install, snapshot, uninstall  # noqa: F401 (fixture)

PER_CALL = "per-call scripts (a process per AGI step, from agi-bin)"


def fast(port: int) -> str:
    return f"FastAGI, agi://127.0.0.1:{port}/ (the press3way fastagi server)"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(site):
    return cli(site.conf_path, "check", "--agi-dir", site.agi_dir, "--asterisk-dir",
               site.asterisk_dir, "--dialplan-file", site.dialplan)


def dialplan_lines(output: str) -> list[str]:
    lines = output.splitlines()
    return lines[next(i for i, l in enumerate(lines) if "dialplan block" in l):]


def text(site) -> str:
    with open(site.dialplan, newline="") as f:
        return f.read()


@pytest.fixture
def installed(bare):
    """A site with the per-call block installed after some lines of the site's own."""
    with open(bare.dialplan, "w") as f:
        f.write("[default]\nexten => 8300,1,Hangup()\n")
    result = install(bare)
    assert result.exit_code == 0, result.output
    bare.per_call_text = text(bare)
    return bare


@pytest.fixture
def server(installed):
    with FastAGIServer(installed.conf_path) as running:
        yield running


def test_switch_to_fastagi_check_it_and_switch_back(installed, server):
    site, port = installed, server.port
    result = install(site, "--fastagi", "--port", str(port))
    assert result.exit_code == 0, result.output
    assert (f"  switch our block's AGI() calls from {PER_CALL} to {fast(port)}"
            in result.output.splitlines())
    assert (f"OK    FastAGI server on 127.0.0.1:{port}: press3way's server answers its probe"
            in result.output)
    now = text(site)
    assert now == to_fastagi(site.per_call_text, port) != site.per_call_text
    # only our two scripts' six AGI() lines changed, every other byte stayed
    changed = [(a, b) for a, b in zip(site.per_call_text.splitlines(), now.splitlines()) if a != b]
    assert len(changed) == 6 and len(now.splitlines()) == len(site.per_call_text.splitlines())
    assert all(re.search(rf"AGI\(agi://127\.0\.0\.1:{port}/agi-3way_press_(agent|outside)"
                         r"\.agi,", b) for _, b in changed)

    lines = dialplan_lines(check(site).output)
    assert lines[:2] == [f"OK    dialplan block in {site.dialplan}: {fast(port)}",
                         f"OK    FastAGI server on 127.0.0.1:{port}: press3way's server answers "
                         "its probe"]
    assert lines[2].startswith(f"OK    block loaded by Asterisk: {site.dialplan}:")
    assert all(line.startswith("OK") for line in lines), lines
    # the probes (install's and check's) leave nothing in the server's log
    assert not server.find(r"cannot read|unknown script|ERROR")

    # again: nothing to do, with --fastagi (its port is kept) or without (the mode is kept)
    before = snapshot(site)
    for again in (install(site, "--fastagi"), install(site)):
        assert again.exit_code == 0, again.output
        assert f"  already there; unchanged ({fast(port)})" in again.output.splitlines()
        assert snapshot(site) == before

    back = install(site, "--per-call")
    assert back.exit_code == 0, back.output
    assert f"switch our block's AGI() calls from {fast(port)} to {PER_CALL}" in back.output
    assert text(site) == site.per_call_text
    lines = dialplan_lines(check(site).output)
    assert lines[0] == f"OK    dialplan block in {site.dialplan}: {PER_CALL}"
    assert not any("FastAGI server" in line for line in lines)
    assert "already there; unchanged" in install(site, "--per-call").output


def test_check_fails_when_the_server_of_a_switched_block_is_gone(installed, server):
    site, port = installed, server.port
    assert install(site, "--fastagi", "--port", str(port)).exit_code == 0
    server.stop()
    result = check(site)
    assert result.exit_code == 1
    lines = dialplan_lines(result.output)
    assert lines[0] == f"OK    dialplan block in {site.dialplan}: {fast(port)}"
    assert lines[1].startswith(f"FAIL  FastAGI server on 127.0.0.1:{port}: nothing answers "
                               "(Connection refused), so every 3-way press-1 call fails: start "
                               "it: `systemctl start press3way-fastagi.service` if its unit "
                               f"is installed (with --port {port} in its ExecStart); if not: "
                               "`sed ")
    assert f"fastagi --port {port}|'" in lines[1]
    assert "systemctl enable --now press3way-fastagi.service" in lines[1]
    assert lines[1].endswith("or switch the dialplan back: `press3way install --per-call` (with "
                             "the same --dialplan-file/--vicidial)")
    # an install that keeps the mode (an upgrade with the server stopped) goes through, and
    # says the server is not answering
    before = snapshot(site)
    again = install(site)
    assert again.exit_code == 0, again.output
    assert f"FAIL  FastAGI server on 127.0.0.1:{port}: nothing answers" in again.output
    assert snapshot(site) == before


@pytest.mark.parametrize("fresh", [False, True], ids=["per-call block", "no block"])
def test_switching_to_a_port_where_nothing_answers_is_refused(bare, fresh):
    if not fresh:
        assert install(bare).exit_code == 0
    before = snapshot(bare)
    port = free_port()
    for extra in ((), ("--dry-run",)):
        result = install(bare, "--fastagi", "--port", str(port), *extra)
        assert result.exit_code == 1
        assert len(result.output.splitlines()) == 1
        assert result.output.startswith(f"Error: nothing was changed: 127.0.0.1:{port} is not "
                                        "press3way's FastAGI server (nothing answers "
                                        "(Connection refused)), so the dialplan is not pointed "
                                        "there: start the FastAGI server first: `systemctl start")
        assert snapshot(bare) == before


def test_the_default_port_and_moving_to_another(installed, server):
    site = installed
    if mode.probe(DEFAULT_PORT) is None:
        pytest.skip(f"something listens on {DEFAULT_PORT} here")
    refused = install(site, "--fastagi")
    assert refused.exit_code == 1 and f"127.0.0.1:{DEFAULT_PORT} is not press3way's" in \
        refused.output
    assert install(site, "--fastagi", "--port", str(server.port)).exit_code == 0
    with FastAGIServer(site.conf_path) as other:
        moved = install(site, "--fastagi", "--port", str(other.port))
        assert moved.exit_code == 0, moved.output
        assert f"to {fast(other.port)}" in moved.output
        assert text(site) == to_fastagi(site.per_call_text, other.port)


def test_dry_run_says_the_switch_and_changes_nothing(installed, server):
    before = snapshot(installed)
    result = install(installed, "--fastagi", "--port", str(server.port), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"  would switch our block's AGI() calls from {PER_CALL} to {fast(server.port)}" \
        in result.output.splitlines()
    assert "Dry run: nothing was changed." in result.output
    assert snapshot(installed) == before


@pytest.mark.parametrize("args, message", [
    (("--fastagi", "--port", "0"), "Invalid value for '--port': 0 is not in the range"),
    (("--fastagi", "--port", "65536"), "Invalid value for '--port': 65536 is not in the range"),
    (("--fastagi", "--port", "4578x"), "Invalid value for '--port': '4578x' is not a valid "
                                       "integer"),
    (("--fastagi", "--port", "4577"), "Invalid value for '--port': port 4577 is VICIdial's "
                                      "FastAGI call logger (FastAGI_log.pl"),
    (("--port", "4578"), "--port goes with --fastagi"),
    (("--per-call", "--port", "4578"), "--port goes with --fastagi"),
])
def test_bad_input_is_one_error_line_and_changes_nothing(installed, args, message):
    before = snapshot(installed)
    result = install(installed, *args)
    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: ")
    assert message in result.output
    assert snapshot(installed) == before


@pytest.mark.parametrize("original", ["", "[default]\r\nexten => 8300,1,Hangup()\r\n",
                                      "no newline at the end"])
def test_uninstall_removes_a_switched_block(bare, original):
    with open(bare.dialplan, "w", newline="") as f:
        f.write(original)
    with FastAGIServer(bare.conf_path) as server:
        result = install(bare, "--fastagi", "--port", str(server.port))
        assert result.exit_code == 0, result.output
    assert dialplan.installed(text(bare), to_fastagi(dialplan.ours(), server.port))
    result = uninstall(bare)
    assert result.exit_code == 0, result.output
    assert "remove our block" in result.output
    assert "`systemctl disable --now press3way-fastagi.service`" in result.output
    assert text(bare) == original


def test_mode_is_read_from_the_block():
    ours = dialplan.ours()
    assert mode.of("") == mode.of(ours) == mode.PER_CALL
    assert mode.of("x\n" + to_fastagi(ours, 4600)) == mode.Mode(4600)
    # someone else's FastAGI lines outside our block are not our mode
    assert mode.of("exten => s,1,AGI(agi://127.0.0.1:9/agi-3way_press_agent.agi,x)\n") \
        == mode.PER_CALL
    assert mode.wanted(mode.Mode(4600), None, None) == mode.Mode(4600)
    assert mode.wanted(mode.Mode(4600), True, None) == mode.Mode(4600)
    assert mode.wanted(mode.PER_CALL, True, None) == mode.Mode(DEFAULT_PORT)
    assert mode.wanted(mode.Mode(4600), True, 4700) == mode.Mode(4700)
    assert mode.wanted(mode.Mode(4600), False, None) == mode.PER_CALL


def test_a_block_on_vicidials_port_fails_check_and_moves_with_fastagi():
    result = mode.server_result(4577)
    assert result.ok is False
    assert "port 4577 is VICIdial's FastAGI call logger (FastAGI_log.pl" in result.detail
    assert f"press3way install --fastagi --port {DEFAULT_PORT}" in result.detail
    assert mode.wanted(mode.Mode(4577), True, None) == mode.Mode(DEFAULT_PORT)
    assert mode.wanted(mode.Mode(4577), None, None) == mode.Mode(4577)   # check says it

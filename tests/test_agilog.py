"""The AGI log (and the FastAGI server's journal, the same lines on its stderr): one line per
record whatever text a call brings (CR, LF, ESC spelled out), a new day's file readable by its
owner and Asterisk's group only, never written through a symlink."""

from __future__ import annotations

import grp
import os
import stat
import time

import pytest

from press3way import agilog
from press3way.agilog import AgiLog

FORGERY = "caller \x1b[2J\r\n2026-01-01 00:00:00|agi-3way_press_agent.agi|x|forged"


def day_file(directory) -> str:
    return os.path.join(directory, f"agiout.{time.strftime('%Y-%m-%d')}")


def test_text_from_a_call_can_neither_forge_a_line_nor_drive_a_terminal(tmp_path, capsys):
    log = AgiLog("agi-3way_press_agent.agi", str(tmp_path))
    log.channel = "SIP/a\x1b]0;title\x07-1"
    log(FORGERY)
    written = open(day_file(tmp_path), encoding="utf-8").read()
    assert written == capsys.readouterr().err
    (line,) = written.splitlines()
    assert line.endswith("|SIP/a\\x1b]0;title\\x07-1|caller \\x1b[2J\\x0d\\x0a2026-01-01 "
                         "00:00:00|agi-3way_press_agent.agi|x|forged")


@pytest.mark.parametrize("group", ["daemon", "no-such-group-p3w"])
def test_a_new_log_is_readable_by_its_owner_and_asterisks_group_only(tmp_path, monkeypatch,
                                                                     group):
    """Whatever the umask; the group is Asterisk's when the system has that group (here a
    stand-in name), else the process's."""
    monkeypatch.setattr(agilog, "LOG_GROUP", group)
    old_umask = os.umask(0)
    try:
        AgiLog("x", str(tmp_path))("first line of the day")
    finally:
        os.umask(old_umask)
    st = os.stat(day_file(tmp_path))
    assert stat.S_IMODE(st.st_mode) == 0o640
    expected = grp.getgrnam(group).gr_gid if group == "daemon" else os.getegid()
    assert st.st_gid == expected


def test_the_log_is_never_written_through_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    os.symlink(victim, day_file(tmp_path))
    AgiLog("x", str(tmp_path))("a line")
    assert victim.read_text() == "untouched\n"


@pytest.mark.usefixtures("agi_mode")
def test_a_leg_logs_a_hostile_channel_name_on_one_line(site):
    """A real outside leg, its channel name with an escape sequence and a bell in it: the AGI
    log, and in FastAGI mode also the server's stderr (its journal)."""
    site.outside("answered", "T0000000000000000000", channel_name="SIP/x\x1b[2J\x07-1")
    text = site.agi_log() + ("".join(site.fastagi.lines) if site.fastagi else "")
    assert text and "\x1b" not in text and "\x07" not in text, repr(text)
    assert "|SIP/x\\x1b[2J\\x07-1|" in text

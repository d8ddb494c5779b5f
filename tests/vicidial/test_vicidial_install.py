"""install, check and uninstall on VICIdial's own tables and stock dialplan, both targets, and
the upgrade from the reference's (Perl version's) block."""

from __future__ import annotations

import os
import re

import pytest

from press3way.admin import block, targets
from press3way.database import query
from press3way.tables import FEATURE_TABLES
from press3way.fastagi.dialplan_urls import to_fastagi
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.site import Site
from tests.helpers import cli
from tests.seed import reference_block
from tests.vicidial.conftest import keepalive_rebuild, keepalive_text

REACHED = [
    "OK    agent's dial 49907917275551212 from [default]: [default] -> [press3way-agent-dial] "
    "exten _49907.",
    "OK    trunk loop 49949907917275551212 back into [default]: [default] -> "
    "[press3way-agent-dial] exten _49949907.",
    "OK    agent leg 49907917275551212 in [xfer_press_dialplan]: [xfer_press_dialplan] "
    "exten _49907.",
    "OK    outside call s in [xfer_press_dialplan]: [xfer_press_dialplan] exten s"]


PER_CALL = ": per-call scripts (a process per AGI step, from agi-bin)"


def run(site: Site, command: str, *extra: str):
    return cli(site.conf_path, command, "--agi-dir", site.agi_dir, "--asterisk-dir",
               site.asterisk_dir, *extra)


def dialplan_lines(output: str) -> list[str]:
    """check's lines from the dialplan block on, without the file:line in brackets."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "dialplan block" in line)
    return [re.sub(r" \([^()]*:\d+\)$", "", line) for line in lines[start:]]


def path(site: Site, name: str) -> str:
    return os.path.join(site.asterisk_dir, name)


def append(site: Site, name: str, text: str) -> None:
    with open(path(site, name), "a") as f:
        f.write(text)


def entry(site: Site) -> str:
    return query(site.connect(), "SELECT custom_dialplan_entry AS e FROM system_settings")[0]["e"]


def test_vicidials_whole_schema_is_there(vicidial):
    tables = query(vicidial.connect(), "SELECT COUNT(*) AS n FROM information_schema.TABLES "
                                       "WHERE TABLE_SCHEMA = DATABASE()")[0]["n"]
    assert tables >= 333


def test_vicidials_own_tables_are_completed_in_place(vicidial):
    result = run(vicidial, "install")
    assert result.exit_code == 0, result.output
    assert "vicidial_3way_press_log: exists, MyISAM; engine left as it is" in result.output
    assert "unique key vdpla: (call_date, caller_code, user) -> (call_date, caller_code, user, " \
           "call_3way_id)" in result.output
    checked = run(vicidial, "check").output
    for table in FEATURE_TABLES:
        assert f"OK    table {table} (MyISAM): every column and index" in checked
    assert "OK    servers row for 10.10.10.15" in checked


def test_file_target_on_the_stock_dialplan_says_the_include_is_missing_then_is_reached(vicidial):
    custom = path(vicidial, "extensions_custom.conf")
    result = run(vicidial, "install")
    assert result.exit_code == 0, result.output
    fix = (f"FAIL  block loaded by Asterisk: {custom} is not #included from "
           f"{vicidial.asterisk_dir}/extensions.conf, so Asterisk never reads it: add the line "
           f"`#include extensions_custom.conf` at the end of {vicidial.asterisk_dir}/"
           "extensions.conf, then asterisk -rx \"dialplan reload\"")
    assert fix in result.output.splitlines()
    check = run(vicidial, "check")
    assert check.exit_code == 1
    assert dialplan_lines(check.output) == [f"OK    dialplan block in {custom}{PER_CALL}", fix]

    append(vicidial, "extensions.conf", "\n#include extensions_custom.conf\n")
    lines = dialplan_lines(run(vicidial, "check").output)
    assert lines[:4] == [
        f"OK    dialplan block in {custom}{PER_CALL}",
        f"OK    block loaded by Asterisk: {custom}:2-61",
        "OK    block's contexts: [press3way-agent-dial], [xfer_press_dialplan]; [default] "
        "includes press3way-agent-dial",
        "OK    no other lines in the block's extensions"]
    assert lines[4:] == REACHED

    assert run(vicidial, "uninstall").exit_code == 0
    assert open(custom).read() == ""
    assert os.listdir(vicidial.agi_dir) == []
    assert "FAIL  dialplan block in" in run(vicidial, "check").output


def test_vicidial_target_asks_for_the_reload_and_lands_in_the_custom_context(vicidial):
    conn = vicidial.connect()
    result = run(vicidial, "install", "--vicidial")
    assert result.exit_code == 0, result.output
    assert block.installed(entry(vicidial), block.ours())
    row = query(conn, "SELECT reload_timestamp > NOW() - INTERVAL 1 MINUTE AS fresh "
                      "FROM system_settings")[0]
    assert row["fresh"] == 1
    assert query(conn, "SELECT rebuild_conf_files AS r FROM servers")[0]["r"] == "Y"

    pending = dialplan_lines(run(vicidial, "check", "--vicidial").output)
    generated = path(vicidial, "extensions-vicidial.conf")
    assert pending == [
        f"OK    dialplan block in VICIdial System Settings, Custom Dialplan Entry{PER_CALL}",
        f"FAIL  block loaded by Asterisk: not yet in {generated}: VICIdial's keepalive "
        "rebuilds it within a minute (servers.rebuild_conf_files is 'Y'); run check again then"]

    keepalive_rebuild(vicidial)
    lines = dialplan_lines(run(vicidial, "check", "--vicidial").output)
    assert lines[1].startswith(f"OK    block loaded by Asterisk: {generated}:")
    assert lines[4:] == REACHED

    assert run(vicidial, "uninstall", "--vicidial").exit_code == 0
    assert entry(vicidial) == ""
    keepalive_rebuild(vicidial)
    assert "FAIL  dialplan block in VICIdial" in run(vicidial, "check", "--vicidial").output


def test_upgrade_from_the_reference_block_in_custom_dialplan_entry(vicidial):
    conn = vicidial.connect()
    reference = reference_block()
    query(conn, "UPDATE system_settings SET custom_dialplan_entry = %s", (reference,))
    keepalive_rebuild(vicidial)
    assert "FAIL  dialplan block in VICIdial System Settings, Custom Dialplan Entry: missing" \
        in run(vicidial, "check", "--vicidial").output

    refused = run(vicidial, "install", "--vicidial")
    assert refused.exit_code == 1 and "--replace-reference" in refused.output
    assert entry(vicidial) == reference and os.listdir(vicidial.agi_dir) == []

    result = run(vicidial, "install", "--vicidial", "--replace-reference")
    assert result.exit_code == 0, result.output
    backups = [n for n in os.listdir(vicidial.asterisk_dir) if n.startswith("custom_dialplan")]
    assert [open(path(vicidial, n)).read() for n in backups] == [reference]
    assert block.find_reference(entry(vicidial)) is None
    keepalive_rebuild(vicidial)
    assert dialplan_lines(run(vicidial, "check", "--vicidial").output)[4:] == REACHED


def test_upgrade_from_the_reference_block_in_a_file(vicidial):
    """The reference's block pasted into [default] of a file extensions.conf includes: its
    _49907. lines would catch the agent's dial; after the upgrade ours do."""
    custom = path(vicidial, "extensions_custom.conf")
    with open(custom, "w") as f:
        f.write("[default]\n" + reference_block())
    append(vicidial, "extensions.conf", "\n#include extensions_custom.conf\n")
    refused = run(vicidial, "install")
    assert refused.exit_code == 1 and "--replace-reference" in refused.output

    result = run(vicidial, "install", "--replace-reference")
    assert result.exit_code == 0, result.output
    assert open(custom).read().startswith("[default]\n\n" + block.BEGIN)
    assert dialplan_lines(run(vicidial, "check").output)[4:] == REACHED


def test_vicidial_target_refused_while_a_loaded_file_still_has_the_reference_block(vicidial):
    """The old setup pasted into a file: the entry would be shadowed by it after the rebuild."""
    custom = path(vicidial, "extensions_custom.conf")
    with open(custom, "w") as f:
        f.write("[default]\n" + reference_block())
    append(vicidial, "extensions.conf", "\n#include extensions_custom.conf\n")
    result = run(vicidial, "install", "--vicidial")
    assert result.exit_code == 1
    assert result.output.startswith("Error: nothing was changed: no other lines in the block's "
                                    f"extensions: {custom}:10: [xfer_press_dialplan] exten s "
                                    "priority 1: exten => s,1,Answer")
    assert f"reaches [default] exten _49907. at {custom}:3 first" in result.output
    assert entry(vicidial) == "" and os.listdir(vicidial.agi_dir) == []


def test_vicidial_target_switched_to_fastagi_and_back(vicidial):
    """The entry is switched; check follows the mode through VICIdial's rebuild: the generated
    file still in the old mode has not caught up yet."""
    conn = vicidial.connect()
    generated = path(vicidial, "extensions-vicidial.conf")
    assert run(vicidial, "install", "--vicidial").exit_code == 0
    keepalive_rebuild(vicidial)
    with FastAGIServer(vicidial.conf_path) as server:
        port = server.port
        fast = f": FastAGI, agi://127.0.0.1:{port}/ (the press3way fastagi server)"
        result = run(vicidial, "install", "--vicidial", "--fastagi", "--port", str(port))
        assert result.exit_code == 0, result.output
        assert "each one needs its own FastAGI server on 127.0.0.1:" in result.output
        assert entry(vicidial) == "\n" + to_fastagi(block.ours(), port)
        assert query(conn, "SELECT rebuild_conf_files AS r FROM servers")[0]["r"] == "Y"
        lines = dialplan_lines(run(vicidial, "check", "--vicidial").output)
        assert lines[:3] == [
            f"OK    dialplan block in VICIdial System Settings, Custom Dialplan Entry{fast}",
            f"OK    FastAGI server on 127.0.0.1:{port}: accepts connections",
            f"FAIL  block loaded by Asterisk: {generated}:11-70 holds another version: not yet "
            f"in {generated}: VICIdial's keepalive rebuilds it within a minute "
            "(servers.rebuild_conf_files is 'Y'); run check again then"]
        keepalive_rebuild(vicidial)
        checked = run(vicidial, "check", "--vicidial").output
        lines = dialplan_lines(checked)
        assert lines[2].startswith(f"OK    block loaded by Asterisk: {generated}:")
        assert lines[5:] == REACHED
        assert "unchanged" in run(vicidial, "install", "--vicidial").output

    assert run(vicidial, "install", "--vicidial", "--per-call").exit_code == 0
    assert entry(vicidial) == "\n" + block.ours()
    keepalive_rebuild(vicidial)
    lines = dialplan_lines(run(vicidial, "check", "--vicidial").output)
    assert lines[0] == ("OK    dialplan block in VICIdial System Settings, Custom Dialplan "
                        f"Entry{PER_CALL}")
    assert lines[4:] == REACHED

    with FastAGIServer(vicidial.conf_path) as server:
        assert run(vicidial, "install", "--vicidial", "--fastagi", "--port",
                   str(server.port)).exit_code == 0
    assert run(vicidial, "uninstall", "--vicidial").exit_code == 0
    assert entry(vicidial) == ""


def test_vicidial_target_not_switched_to_a_port_where_nothing_answers(vicidial):
    assert run(vicidial, "install", "--vicidial").exit_code == 0
    with FastAGIServer(vicidial.conf_path) as server:
        port = server.port                       # free again once it has stopped
    result = run(vicidial, "install", "--vicidial", "--fastagi", "--port", str(port))
    assert result.exit_code == 1 and result.output.startswith(
        f"Error: nothing was changed: nothing answers on 127.0.0.1:{port}")
    assert entry(vicidial) == "\n" + block.ours()


ENTRIES = {"empty": "", "short": "\n;x\n", "ours": "\n" + block.ours(),
           "ours, FastAGI": "\n" + to_fastagi(block.ours(), 4578),
           "another": "[other]\nexten => 1,1,NoOp\n"}


@pytest.mark.parametrize("after", ENTRIES)
@pytest.mark.parametrize("before", ENTRIES)
def test_the_rebuild_is_foreseen_from_the_file_the_keepalive_wrote(before, after):
    """install's look at the dialplan as the keepalive's next rebuild leaves it, on the
    keepalive's real layout: its h line and comment above the entry, no context at all for
    an entry of 5 characters or fewer."""
    then = keepalive_text(ENTRIES[before], "2026-12-03 10:00:00")
    assert targets.rebuilt(then, ENTRIES[before], ENTRIES[after]) == \
        keepalive_text(ENTRIES[after], "2026-12-03 10:00:00")
    assert targets.rebuilt(then, ENTRIES[before] + "; another\n", ENTRIES[after]) is None


def test_vicidial_target_upgrade_refused_while_a_loaded_file_has_the_reference_block(vicidial):
    """Our block already in the entry (and in the generated file), the reference's block
    pasted into a file: the next install is refused, the entry left as it was."""
    assert run(vicidial, "install", "--vicidial").exit_code == 0
    keepalive_rebuild(vicidial)
    custom = path(vicidial, "extensions_custom.conf")
    with open(custom, "w") as f:
        f.write("[default]\n" + reference_block())
    append(vicidial, "extensions.conf", "\n#include extensions_custom.conf\n")
    installed = entry(vicidial)
    result = run(vicidial, "install", "--vicidial", "--fastagi", "--port", "4578")
    assert result.exit_code == 1
    assert "no other lines in the block's extensions" in result.output
    assert entry(vicidial) == installed


def admin_page_save(text: str) -> str:
    """What VICIdial's admin page keeps of the Custom Dialplan Entry each time System Settings
    is saved (admin.php 5118-5120): every backslash, apostrophe and carriage return goes."""
    return re.sub(r"[\\'\r]", "", text)


def test_our_block_survives_the_admin_pages_save_byte_for_byte(vicidial):
    """After install, an administrator saves System Settings: the entry is kept as it was,
    and check still finds the current block (not "another version")."""
    assert run(vicidial, "install", "--vicidial").exit_code == 0
    stored = entry(vicidial)
    query(vicidial.connect(), "UPDATE system_settings SET custom_dialplan_entry = %s",
          (admin_page_save(stored),))
    assert entry(vicidial) == stored
    assert admin_page_save(to_fastagi(block.ours(), 4578)) == to_fastagi(block.ours(), 4578)
    keepalive_rebuild(vicidial)
    lines = dialplan_lines(run(vicidial, "check", "--vicidial").output)
    assert lines[0] == ("OK    dialplan block in VICIdial System Settings, Custom Dialplan "
                        f"Entry{PER_CALL}")
    assert lines[4:] == REACHED


def test_install_and_check_warn_when_custom_dialplan_entries_are_off(vicidial):
    query(vicidial.connect(), "UPDATE system_settings SET allow_custom_dialplan = '0'")
    warning = ("System Settings' Allow Custom Dialplan Entries is 0, so the admin page saves "
               "the Custom Dialplan Entry empty: the next save of System Settings removes the "
               "block; set it to 1 (Admin > System Settings)")
    result = run(vicidial, "install", "--vicidial")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "Allow Custom" in line]
    assert warned == [f"  warning: {warning}"]
    keepalive_rebuild(vicidial)
    checked = run(vicidial, "check", "--vicidial")
    assert f"WARN  Custom Dialplan Entry kept by the admin page: {warning}" in checked.output

    query(vicidial.connect(), "UPDATE system_settings SET allow_custom_dialplan = '1'")
    assert "Allow Custom" not in run(vicidial, "check", "--vicidial").output


@pytest.mark.parametrize("target", ["vicidial", "file"])
def test_the_block_is_reached_from_a_servers_ext_context_that_is_not_default(vicidial, target):
    """VICIdial originates the agent's 3-way call in servers.ext_context; the trunk loop comes
    back into [default] (the loop trunk's context)."""
    query(vicidial.connect(), "UPDATE servers SET ext_context = 'vicidial-custom'")
    if target == "file":
        append(vicidial, "extensions.conf", "\n#include extensions_custom.conf\n")
    args = ("--vicidial",) if target == "vicidial" else ()
    result = run(vicidial, "install", *args)
    assert result.exit_code == 0, result.output
    keepalive_rebuild(vicidial)
    lines = dialplan_lines(run(vicidial, "check", *args).output)
    assert lines[2].endswith("; [default], [vicidial-custom] include press3way-agent-dial")
    assert lines[4:] == [REACHED[0],
                         "OK    agent's dial 49907917275551212 from [vicidial-custom]: "
                         "[vicidial-custom] -> [press3way-agent-dial] exten _49907.",
                         *REACHED[1:]]

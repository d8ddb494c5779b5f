"""`press3way install` / `uninstall` on the real MariaDB, a temporary agi-bin and Asterisk
configuration directory, and the dialplan text functions they rest on."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from press3way.admin import block as dialplan
from press3way.admin import conf
from press3way.database import execute, query
from press3way.tables import FEATURE_TABLES
from press3way_testing.site import Site
from tests.helpers import cli
from tests.seed import reference_block

# Asterisk's main dialplan file in these tests: it loads the dialplan file from [default].
EXTENSIONS_CONF = "[general]\nstatic=yes\n\n[default]\nexten => 8300,1,Hangup()\n" \
                  "#include extensions_custom.conf\n"

# VICIdial's reference schema (the seed document), as older installs have it.
REFERENCE_SCHEMA = """
CREATE TABLE vicidial_3way_press_live (
call_date DATETIME(6), caller_code VARCHAR(30) NOT NULL, call_3way_id VARCHAR(30) NOT NULL,
lead_id INT(9) UNSIGNED, phone_number VARCHAR(18), dialstring VARCHAR(28),
outbound_cid VARCHAR(20), user VARCHAR(20), session_id VARCHAR(20), server_ip VARCHAR(15),
session_id_3way VARCHAR(20) default '', status VARCHAR(40),
index(call_date), index(caller_code), index(call_3way_id), index(lead_id)
) ENGINE=MyISAM;
CREATE TABLE vicidial_3way_press_log (
call_date DATETIME(6), caller_code VARCHAR(30) NOT NULL, call_3way_id VARCHAR(30) NOT NULL,
lead_id INT(9) UNSIGNED, phone_number VARCHAR(18), dialstring VARCHAR(28),
outbound_cid VARCHAR(20), user VARCHAR(20), session_id VARCHAR(20), server_ip VARCHAR(15),
session_id_3way VARCHAR(20) default '', result TEXT,
index(call_date), index(caller_code), index(call_3way_id), index(lead_id), index(phone_number)
) ENGINE=MyISAM;
CREATE TABLE vicidial_3way_press_log_archive LIKE vicidial_3way_press_log;
CREATE UNIQUE INDEX vdpla on vicidial_3way_press_log_archive (call_date,caller_code,user);
CREATE TABLE vicidial_3way_press_multi (
user VARCHAR(20) PRIMARY KEY, call_date DATETIME, phone_numbers VARCHAR(255) default '',
phone_numbers_ct TINYINT(3) default '0', status VARCHAR(40) default '', index(call_date)
) ENGINE=MyISAM;
"""
LOG_ROW = ("INSERT INTO {table} (call_date, caller_code, call_3way_id, lead_id, phone_number, "
           "user, result) VALUES (%s, 'DC123456W0001234567W', %s, 1234567, '7275551212', "
           "'6666', 'Started: 2024-01-02 10:00:00|Hungup: 2024-01-02 10:00:30')")


@pytest.fixture
def bare(mariadb, tmp_path) -> Site:
    """A VICIdial database without the feature tables, a config, an agi-bin, an Asterisk
    configuration directory whose extensions.conf includes the dialplan file."""
    site = Site(server=mariadb, db_name="press3way_install")
    site.create()
    site.reset()
    conn = site.connect()
    for table in FEATURE_TABLES:
        execute(conn, f"DROP TABLE {table}")
    site.conf_path = site.write_conf(str(tmp_path / "astguiclient.conf"), str(tmp_path))
    site.agi_dir = str(tmp_path / "agi-bin")
    os.makedirs(site.agi_dir)
    site.asterisk_dir = str(tmp_path / "asterisk")
    os.makedirs(site.asterisk_dir)
    with open(os.path.join(site.asterisk_dir, "extensions.conf"), "w") as f:
        f.write(EXTENSIONS_CONF)
    site.dialplan = os.path.join(site.asterisk_dir, "extensions_custom.conf")
    return site


def install(site: Site, *extra: str):
    return cli(site.conf_path, "install", "--agi-dir", site.agi_dir,
               "--asterisk-dir", site.asterisk_dir, *extra)


def uninstall(site: Site, *extra: str):
    return cli(site.conf_path, "uninstall", "--agi-dir", site.agi_dir,
               "--asterisk-dir", site.asterisk_dir, *extra)


def snapshot(site: Site) -> dict:
    """Everything install touches: dialplan bytes, scripts, the tables' definitions."""
    conn = site.connect()
    dialplan = open(site.dialplan, "rb").read() if os.path.exists(site.dialplan) else None
    state = {"dialplan": dialplan,
             "scripts": {n: (open(os.path.join(site.agi_dir, n), "rb").read(),
                             os.stat(os.path.join(site.agi_dir, n)).st_mode)
                         for n in sorted(os.listdir(site.agi_dir))}}
    for table in FEATURE_TABLES:
        rows = query(conn, "SHOW TABLES LIKE %s", (table,))
        state[table] = query(conn, f"SHOW CREATE TABLE {table}") if rows else None
    return state


def test_install_twice_is_install_once(bare):
    with open(bare.dialplan, "w") as f:
        f.write("[default]\nexten => 8300,1,Hangup()\n")
    first = install(bare)
    assert first.exit_code == 0, first.output
    once = snapshot(bare)
    second = install(bare)
    assert second.exit_code == 0, second.output
    assert snapshot(bare) == once
    assert "already there; unchanged" in second.output and "up to date" in second.output

    text = open(bare.dialplan).read()
    assert text.count(dialplan.BEGIN) == 1 and text.count(dialplan.END) == 1
    assert text.startswith("[default]\nexten => 8300,1,Hangup()\n\n" + dialplan.BEGIN)
    assert dialplan.source_text() in text
    for name in ("agi-3way_press_agent.agi", "agi-3way_press_outside.agi"):
        path = os.path.join(bare.agi_dir, name)
        assert os.stat(path).st_mode & stat.S_IXUSR
        assert open(path).readline() == f"#!{sys.executable} -S\n"
        # without site-packages' scan it still finds the package: a missing config is an
        # outside call that goes to `i`, not an ImportError; its first command goes out first
        run = subprocess.run([path, "answered"], input="agi_channel: SIP/x-1\n\n"
                             + "200 result=1 (T1)\n" * 3,
                             capture_output=True, text=True, timeout=30,
                             env={"PRESS3WAY_CONF": os.path.join(bare.agi_dir, "missing.conf")})
        if name == "agi-3way_press_outside.agi":
            assert run.stdout.startswith("GET VARIABLE call_3way_id\nSET EXTENSION i\n"), \
                run.stderr
    assert all(once[t] for t in FEATURE_TABLES)
    assert "[1/3]" in first.output and "[3/3]" in first.output


def test_installed_script_runs_with_this_interpreter(bare):
    assert install(bare).exit_code == 0
    script = os.path.join(bare.agi_dir, "agi-3way_press_outside.agi")
    # Without a channel to talk to it still imports the package and exits: no ImportError.
    run = subprocess.run([script, "hungup"], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, PRESS3WAY_CONF=bare.conf_path))
    assert "Error" not in run.stderr.split("\n", 1)[0] and "ModuleNotFoundError" not in run.stderr


def test_dialplan_file_and_vicidial_exclude_each_other(bare):
    result = install(bare, "--vicidial", "--dialplan-file", bare.dialplan)
    assert result.exit_code == 2 and "not both" in result.output


@pytest.mark.parametrize("original", [
    "", "[default]\nexten => 8300,1,Hangup()\n", "no newline at the end",
    "[default]\r\nexten => 8300,1,Hangup()\r\n\r\n", "; trailing blank lines\n\n\n"])
def test_uninstall_restores_the_file_byte_for_byte(bare, original):
    with open(bare.dialplan, "w", newline="") as f:
        f.write(original)
    assert install(bare).exit_code == 0
    result = uninstall(bare)
    assert result.exit_code == 0, result.output
    assert open(bare.dialplan, "rb").read() == original.encode()
    assert os.listdir(bare.agi_dir) == []
    assert all(query(bare.connect(), "SHOW TABLES LIKE %s", (t,)) for t in FEATURE_TABLES)


def test_a_script_that_was_not_ours_is_kept_and_put_back(bare):
    perl = os.path.join(bare.agi_dir, "agi-3way_press_agent.agi")
    with open(perl, "w") as f:
        f.write("#!/usr/bin/perl\n# VICIdial's version\n")
    result = install(bare)
    assert "not ours" in result.output
    assert "from press3way" in open(perl).read()
    uninstall(bare)
    assert open(perl).read() == "#!/usr/bin/perl\n# VICIdial's version\n"
    assert sorted(os.listdir(bare.agi_dir)) == ["agi-3way_press_agent.agi"]


def test_link_points_at_the_scripts_pip_installed(bare):
    result = install(bare, "--link")
    assert result.exit_code == 0, result.output
    for name in ("agi-3way_press_agent.agi", "agi-3way_press_outside.agi"):
        path = os.path.join(bare.agi_dir, name)
        assert os.readlink(path) == os.path.join(os.path.dirname(sys.executable), name)
    assert "up to date" in install(bare, "--link").output
    uninstall(bare)
    assert os.listdir(bare.agi_dir) == []


def test_dry_run_changes_nothing(bare):
    with open(bare.dialplan, "w") as f:
        f.write("[default]\n")
    before = snapshot(bare)
    result = install(bare, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would create" in result.output and "would append" in result.output
    assert snapshot(bare) == before


def test_install_refuses_to_shadow_existing_lines_and_changes_nothing(bare):
    original = "[xfer_press_dialplan]\nexten => s,1,Answer\nexten => s,n,Hangup\n"
    with open(bare.dialplan, "w") as f:
        f.write(original)
    before = snapshot(bare)
    result = install(bare)
    assert result.exit_code == 1
    assert "line 2: [xfer_press_dialplan] exten s priority 1: exten => s,1,Answer" in result.output
    assert "line 3: [xfer_press_dialplan] exten s priority 2" in result.output
    assert snapshot(bare) == before


def test_the_block_opens_its_own_contexts_whatever_the_file_left_open(bare):
    with open(bare.dialplan, "w") as f:
        f.write("[my-ivr]\nexten => s,1,Playback(welcome)\n")
    assert install(bare).exit_code == 0
    lines = conf.parse(open(bare.dialplan).read()).lines
    assert {l.context for l in lines if l.exten == "_49907."} == {dialplan.ENTRY_CONTEXT,
                                                                  dialplan.OUTSIDE_CONTEXT}
    assert [(l.context, l.exten) for l in lines if l.context == "my-ivr"] == [("my-ivr", "s")]
    assert [(l.context, l.exten) for l in lines if l.kind == "include"] == [
        ("default", dialplan.ENTRY_CONTEXT)]


def test_install_says_where_the_block_lands_and_the_fix_when_asterisk_does_not_load_it(bare):
    with open(os.path.join(bare.asterisk_dir, "extensions.conf"), "w") as f:
        f.write("[default]\nexten => 8300,1,Hangup()\n")         # no #include
    result = install(bare)
    assert result.exit_code == 0, result.output
    assert (f"FAIL  block loaded by Asterisk: {bare.dialplan} is not #included from "
            f"{bare.asterisk_dir}/extensions.conf, so Asterisk never reads it: add the line "
            "`#include extensions_custom.conf` at the end of") in result.output
    with open(os.path.join(bare.asterisk_dir, "extensions.conf"), "a") as f:
        f.write("#include extensions_custom.conf\n")
    again = install(bare)
    assert "OK    agent's dial 49907917275551212 from [default]: [default] -> " \
           "[press3way-agent-dial] exten _49907." in again.output


def test_a_line_that_catches_the_agents_dial_first_is_refused(bare):
    with open(os.path.join(bare.asterisk_dir, "extensions.conf"), "w") as f:
        f.write("[default]\nexten => _4X.,1,Dial(SIP/carrier/${EXTEN})\n"
                "#include extensions_custom.conf\n")
    before = snapshot(bare)
    result = install(bare)
    assert result.exit_code == 1
    assert "nothing was changed" in result.output
    assert f"reaches [default] exten _4X. at {bare.asterisk_dir}/extensions.conf:2 first" \
        in result.output
    assert snapshot(bare) == before


@pytest.mark.parametrize("breakage, message", [
    ("no agi-bin", "the directory {agi} does not exist"),
    ("no database", "cannot connect to"),
])
def test_a_failed_precondition_changes_nothing(bare, breakage, message):
    with open(bare.dialplan, "w") as f:
        f.write("; site\n")
    before = snapshot(bare)
    if breakage == "no agi-bin":
        os.rmdir(bare.agi_dir)
    else:
        with open(bare.conf_path, "a") as f:
            f.write("VARDB_port => 1\n")
    result = install(bare)
    assert result.exit_code == 1
    assert message.format(agi=bare.agi_dir) in result.output
    os.makedirs(bare.agi_dir, exist_ok=True)
    assert snapshot(bare) == before
    assert not [n for n in os.listdir(bare.asterisk_dir) if n.startswith(".press3way-")]


def vicidial(site: Site, command: str, *extra: str):
    return cli(site.conf_path, command, "--agi-dir", site.agi_dir, "--asterisk-dir",
               site.asterisk_dir, "--vicidial", *extra)


def test_install_into_vicidial_system_settings(bare):
    conn = bare.connect()
    execute(conn, "UPDATE system_settings SET custom_dialplan_entry = %s, reload_timestamp = "
                  "'2020-01-01 00:00:00'", ("; site lines\n",))
    execute(conn, "UPDATE servers SET rebuild_conf_files = 'N'")
    others = [("db", "Y", "N", "Y"), ("web", "Y", "Y", "N"), ("off", "N", "Y", "Y")]
    for server_id, active, asterisk, generate in others:
        execute(conn, "INSERT INTO servers (server_id, server_ip, active, active_asterisk_server, "
                      "generate_vicidial_conf, rebuild_conf_files) "
                      "VALUES (%s, %s, %s, %s, %s, 'N')",
                (server_id, f"10.0.0.{len(server_id)}", active, asterisk, generate))
    result = vicidial(bare, "install")
    assert result.exit_code == 0, result.output
    row = query(conn, "SELECT custom_dialplan_entry AS e, reload_timestamp > NOW() - INTERVAL "
                      "1 MINUTE AS fresh FROM system_settings")[0]
    assert row["fresh"] == 1 and row["e"].startswith("; site lines\n\n" + dialplan.BEGIN)
    assert dialplan.source_text() in row["e"]
    assert {r["server_id"]: r["r"] for r in query(
        conn, "SELECT server_id, rebuild_conf_files AS r FROM servers")} == {
        "sim15": "Y", "db": "N", "web": "N", "off": "N"}
    assert "unchanged" in vicidial(bare, "install").output
    assert vicidial(bare, "uninstall").exit_code == 0
    assert query(conn, "SELECT custom_dialplan_entry AS e FROM system_settings")[0]["e"] == \
        "; site lines\n"


def test_vicidial_target_on_a_database_without_its_columns_changes_nothing(bare):
    conn = bare.connect()
    execute(conn, "ALTER TABLE system_settings DROP COLUMN reload_timestamp")
    before = snapshot(bare)
    result = vicidial(bare, "install")
    assert result.exit_code == 1
    assert "system_settings has no column reload_timestamp" in result.output
    assert snapshot(bare) == before


def test_vicidial_entry_with_the_reference_block_is_refused_then_replaced(bare):
    conn = bare.connect()
    entry = "; site lines\nexten => 8301,1,Hangup()\n\n" + reference_block()
    execute(conn, "UPDATE system_settings SET custom_dialplan_entry = %s", (entry,))
    result = vicidial(bare, "install")
    assert result.exit_code == 1
    assert "lines 4-40 are the reference's (Perl) 3-way press-1 block" in result.output
    assert "--replace-reference" in result.output
    assert query(conn, "SELECT custom_dialplan_entry AS e FROM system_settings")[0]["e"] == entry

    result = vicidial(bare, "install", "--replace-reference")
    assert result.exit_code == 0, result.output
    backups = [n for n in os.listdir(bare.asterisk_dir) if n.startswith("custom_dialplan_entry")]
    assert len(backups) == 1
    assert open(os.path.join(bare.asterisk_dir, backups[0])).read() == entry
    new = query(conn, "SELECT custom_dialplan_entry AS e FROM system_settings")[0]["e"]
    assert new.startswith("; site lines\nexten => 8301,1,Hangup()\n\n\n" + dialplan.BEGIN)
    assert dialplan.find_reference(new) is None and "Playback(sip-silence)\nexten => s" not in new
    assert vicidial(bare, "uninstall").exit_code == 0
    assert query(conn, "SELECT custom_dialplan_entry AS e FROM system_settings")[0]["e"] == \
        "; site lines\nexten => 8301,1,Hangup()\n\n"


def test_replace_reference_in_a_file_keeps_a_backup_and_puts_ours_where_it_was(bare):
    original = "; my own\n" + reference_block() + "; after\n"
    with open(bare.dialplan, "w") as f:
        f.write(original)
    os.chmod(bare.dialplan, 0o640)
    assert "--replace-reference" in install(bare).output
    result = install(bare, "--replace-reference")
    assert result.exit_code == 0, result.output
    assert "replace the reference's (Perl) block with ours" in result.output
    backups = [n for n in os.listdir(bare.asterisk_dir) if ".press3way-backup-" in n]
    assert [open(os.path.join(bare.asterisk_dir, n)).read() for n in backups] == [original]
    text = open(bare.dialplan).read()
    assert text.startswith("; my own\n\n" + dialplan.BEGIN) and text.endswith(
        dialplan.END + "\n; after\n")
    assert stat.S_IMODE(os.stat(bare.dialplan).st_mode) == 0o640
    assert "OK    agent's dial" in result.output
    assert "up to date" in install(bare, "--replace-reference").output
    uninstall(bare)
    assert open(bare.dialplan).read() == "; my own\n; after\n"


def test_a_symlinked_dialplan_file_stays_a_symlink(bare, tmp_path):
    real = tmp_path / "managed" / "custom.conf"
    real.parent.mkdir()
    real.write_text("; kept elsewhere\n")
    os.symlink(real, bare.dialplan)
    assert install(bare).exit_code == 0
    assert os.path.islink(bare.dialplan) and dialplan.find(real.read_text())
    assert uninstall(bare).exit_code == 0
    assert os.path.islink(bare.dialplan) and real.read_text() == "; kept elsewhere\n"


def test_install_finishes_when_its_output_is_cut_short(bare):
    """`press3way install | head -2`: stdout closes after two lines; the install completes."""
    command = (f"{shlex.quote(os.path.join(os.path.dirname(sys.executable), 'press3way'))} "
               f"install --agi-dir {shlex.quote(bare.agi_dir)} --asterisk-dir "
               f"{shlex.quote(bare.asterisk_dir)} | head -2")
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PRESS3WAY_CONF=bare.conf_path))
    assert len(run.stdout.splitlines()) == 2 and run.stderr == ""
    assert dialplan.installed(open(bare.dialplan).read(), dialplan.ours())
    assert sorted(os.listdir(bare.agi_dir)) == ["agi-3way_press_agent.agi",
                                                "agi-3way_press_outside.agi"]
    assert "up to date" in install(bare).output


def test_migrates_a_database_made_with_the_reference_schema(mariadb, tmp_path):
    site = Site(server=mariadb, db_name="press3way_reference")
    site.create()
    conn = site.connect()
    for table in FEATURE_TABLES:
        execute(conn, f"DROP TABLE {table}")
    for statement in filter(str.strip, REFERENCE_SCHEMA.split(";")):
        execute(conn, statement)
    execute(conn, "INSERT INTO vicidial_3way_press_live (call_date, caller_code, call_3way_id, "
                  "user, status) VALUES (NOW(6), 'DC1', 'T1', '6666', 'NEW')")
    for n, table in enumerate(("vicidial_3way_press_log", "vicidial_3way_press_log",
                               "vicidial_3way_press_log_archive")):
        execute(conn, LOG_ROW.format(table=table), (f"2024-01-02 10:00:0{n}", f"T{n}"))
    execute(conn, "INSERT INTO vicidial_3way_press_multi VALUES ('6666', NOW(), '12345,23456', "
                  "2, 'NEW')")
    before = {t: query(conn, f"SELECT * FROM {t} ORDER BY call_date") for t in FEATURE_TABLES}
    site.conf_path = site.write_conf(str(tmp_path / "astguiclient.conf"), str(tmp_path))
    os.makedirs(tmp_path / "agi")
    result = cli(site.conf_path, "install", "--agi-dir", str(tmp_path / "agi"),
                 "--asterisk-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "vicidial_3way_press_log: exists, MyISAM; engine left as it is" in result.output
    assert "unique key vdpla: (call_date, caller_code, user) -> (call_date, caller_code, user, " \
           "call_3way_id)" in result.output

    def columns(table):
        return [r["c"] for r in query(conn, "SELECT COLUMN_NAME AS c FROM information_schema."
                                            "COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                                            "TABLE_NAME = %s", (table,))]
    assert {"call_channel", "agent_heartbeat"} <= set(columns("vicidial_3way_press_live"))
    for table in ("vicidial_3way_press_log", "vicidial_3way_press_log_archive"):
        assert {"call_channel", "call_transfer"} <= set(columns(table))
    for table, rows in before.items():                      # every row, every old value
        after = query(conn, f"SELECT * FROM {table} ORDER BY call_date")
        assert [{k: r[k] for k in rows[0]} for r in after] == rows
    engines = query(conn, "SELECT ENGINE AS e FROM information_schema.TABLES WHERE "
                          "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'vicidial_3way%%'")
    assert {r["e"] for r in engines} == {"MyISAM"}
    # The archive now keeps every call of a multi-call batch.
    execute(conn, LOG_ROW.format(table="vicidial_3way_press_log_archive"),
            ("2024-01-02 10:00:02", "T9"))
    assert len(query(conn, "SELECT * FROM vicidial_3way_press_log_archive")) == 2
    # And a second run has nothing left to do.
    again = cli(site.conf_path, "install", "--agi-dir", str(tmp_path / "agi"),
                "--asterisk-dir", str(tmp_path))
    assert again.output.count("up to date") == 4 + 2      # four tables, two scripts


# --- the dialplan text functions ----------------------------------------------------------
def test_n_priorities_count_on_per_extension_and_context():
    text = ("exten => _X.,1,NoOp\n[a]\nexten => s,1,Answer\nexten => 1,1,NoOp\n"
            "exten => s,n(label),Wait(1)\nsame => n,Hangup\n[b]\nexten => s,n,NoOp ; c\n")
    assert [(e.context, e.exten, e.priority) for e in dialplan.entries(text)] == [
        (None, "_X.", "1"), ("a", "s", "1"), ("a", "1", "1"), ("a", "s", "2"), ("a", "s", "3"),
        ("b", "s", "1")]


def test_context_less_lines_of_the_source_go_into_our_entry_context():
    ours = dialplan.block("exten => _49907.,1,Dial(x)\n[xfer_press_dialplan]\nexten => h,1,NoOp\n")
    assert [(e.context, e.exten) for e in dialplan.entries(ours)] == [
        (dialplan.ENTRY_CONTEXT, "_49907."), ("xfer_press_dialplan", "h")]
    assert not dialplan.conflicts_with("[default]\nexten => _49907.,1,NoOp\n", ours)
    assert not dialplan.conflicts_with("exten => _49907.,1,NoOp\n", ours)
    assert dialplan.conflicts_with(f"[{dialplan.ENTRY_CONTEXT}]\nexten => _49907.,1,NoOp\n", ours)
    assert dialplan.conflicts_with("[xfer_press_dialplan]\nexten => h,1,NoOp\n", ours)
    assert not dialplan.conflicts_with("[xfer_press_dialplan]\nexten => h,2,NoOp\n", ours)


def test_block_of_a_source_that_has_our_markers_is_not_nested():
    ours = dialplan.block("[c]\nexten => s,1,NoOp\n")
    assert dialplan.block(ours) == ours
    assert dialplan.insert("x\n" + "\n" + ours, ours) == "x\n\n" + ours


def test_a_begin_marker_without_end_is_reported():
    with pytest.raises(dialplan.DialplanError, match="no matching"):
        dialplan.remove(f"{dialplan.BEGIN_LINE}\nexten => s,1,NoOp\n")


@given(st.text(alphabet=st.sampled_from(list("ab[]=>,;\r\n exten12"))))
def test_remove_gives_back_exactly_what_insert_was_given(text):
    ours = dialplan.block(dialplan.source_text())
    try:
        installed = dialplan.insert(text, ours)
    except dialplan.DialplanError:          # it shadows one of our lines: refused, fine
        return
    assert dialplan.insert(installed, ours) == installed
    assert dialplan.remove(installed) == text

"""VICIdial-compatibility tier: VICIdial's own full schema (MySQL_AST_CREATE_tables.sql) and
first-server data in a private database, loaded once per session, and its stock
extensions.conf as a file in a temporary Asterisk configuration directory.

VICIdial's files are used from `../shared/vicidial` beside the repository, never copied in; the
tier is skipped where they are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from press3way.database import execute, query

from press3way.tables import FEATURE_TABLES
from press3way_testing.site import Site
from tests.seed import SHARED

VICIDIAL = os.path.join(SHARED, "vicidial")
SCHEMA = os.path.join(VICIDIAL, "MySQL_AST_CREATE_tables.sql")
FIRST_SERVER = os.path.join(VICIDIAL, "first_server_install.sql")
STOCK_EXTENSIONS = os.path.join(VICIDIAL, "extensions.conf.sample-18")
DB = "press3way_vicidial_full"
PRISTINE = "press3way_vicidial_pristine"     # VICIdial's own copies of the feature tables


def _client(server: dict, database: str, path: str) -> None:
    """Load a .sql file with MariaDB's own client (the file holds statements a naive split on
    `;` would break), without its account statements (GRANT, flush privileges): the private
    server has no `cron` user, and the tables are what matters."""
    with open(path, "rb") as f:
        sql = b"".join(line for line in f
                       if not line.lower().startswith((b"grant ", b"flush privileges")))
    run = subprocess.run(["mariadb", f"--host={server['host']}", f"--port={server['port']}",
                          f"--user={server['user']}", f"--password={server['password']}",
                          "--default-character-set=utf8", database],
                         input=sql, capture_output=True, timeout=600)
    if run.returncode:
        raise RuntimeError(f"loading {path}: {run.stderr.decode(errors='replace').strip()}")


@pytest.fixture(scope="session")
def vicidial_db(mariadb) -> Site:
    """VICIdial's database as its installer makes it (333 tables, the first server's rows)."""
    missing = [p for p in (SCHEMA, FIRST_SERVER, STOCK_EXTENSIONS) if not os.path.exists(p)]
    if missing:
        pytest.skip(f"VICIdial's files are not here ({missing[0]}): VICIdial tier skipped")
    if shutil.which("mariadb") is None:
        pytest.skip("the mariadb client is not installed: VICIdial tier skipped")
    site = Site(server=mariadb, db_name=DB)
    admin = site.connect(database="")
    for name in (DB, PRISTINE):
        execute(admin, f"DROP DATABASE IF EXISTS `{name}`")
        execute(admin, f"CREATE DATABASE `{name}`")
    _client(mariadb, DB, SCHEMA)
    _client(mariadb, DB, FIRST_SERVER)
    for table in FEATURE_TABLES:
        execute(admin, f"CREATE TABLE `{PRISTINE}`.{table} LIKE `{DB}`.{table}")
    return site


@pytest.fixture
def vicidial(vicidial_db, tmp_path) -> Site:
    """The VICIdial database back as loaded (feature tables as VICIdial made them, an empty
    Custom Dialplan Entry, no rebuild pending), a config, an agi-bin, and an Asterisk directory
    with VICIdial's stock extensions.conf and the extensions-vicidial.conf it would generate."""
    site = vicidial_db
    conn = site.connect()
    for table in FEATURE_TABLES:
        execute(conn, f"DROP TABLE IF EXISTS {table}")
        execute(conn, f"CREATE TABLE {table} LIKE `{PRISTINE}`.{table}")
    execute(conn, "UPDATE system_settings SET custom_dialplan_entry = ''")
    execute(conn, "UPDATE servers SET rebuild_conf_files = 'N'")
    site.conf_path = site.write_conf(str(tmp_path / "astguiclient.conf"), str(tmp_path))
    site.agi_dir = str(tmp_path / "agi-bin")
    os.makedirs(site.agi_dir)
    site.asterisk_dir = str(tmp_path / "asterisk")
    os.makedirs(site.asterisk_dir)
    shutil.copyfile(STOCK_EXTENSIONS, os.path.join(site.asterisk_dir, "extensions.conf"))
    keepalive_rebuild(site)
    return site


# The `h` line the keepalive writes at the top of each context it generates (for Asterisk 18,
# VICIdial's stock version: ADMIN_keepalive_ALL.pl line 2997).
HANGUP_LINE = ("exten => h,1,AGI(agi://127.0.0.1:4577/call_log--HVcauses--PRI-----NODEBUG-----"
               "${HANGUPCAUSE}-----${DIALSTATUS}-----${DIALEDTIME}-----${ANSWEREDTIME}-----"
               "${HANGUPCAUSE(${HANGUPCAUSE_KEYS()},tech)}))")


def keepalive_text(entry: str, reload_timestamp: object) -> str:
    """extensions-vicidial.conf as VICIdial's keepalive writes it, as far as the Custom
    Dialplan Entry goes (ADMIN_keepalive_ALL.pl lines 4950-5002): after its own contexts,
    `[vicidial-auto-system-setting-custom]`, its `h` line, the comment `; System Setting
    Custom Dialplan`, the entry and a blank line, only when the entry is longer than 5
    characters; `[vicidial-auto]` includes that context only then; a footer with the reload
    time. (A model of the file's layout, not VICIdial's code: tier 4 runs the keepalive.)"""
    custom = include = ""
    if len(entry) > 5:
        custom = (f"[vicidial-auto-system-setting-custom]\n{HANGUP_LINE}\n"
                  f"; System Setting Custom Dialplan\n{entry}\n\n")
        include = "include => vicidial-auto-system-setting-custom\n"
    generated = "".join(f"[vicidial-auto-{name}]\n{HANGUP_LINE}\n\n"
                        for name in ("external", "internal", "phones"))
    return ("; WARNING- THIS FILE IS AUTO-GENERATED BY VICIDIAL, ANY EDITS YOU MAKE WILL BE "
            "LOST\n\n\n\n\n\n" + custom + generated
            + f"[vicidial-auto]\n{HANGUP_LINE}\n\ninclude => vicidial-auto-internal\n"
            "include => vicidial-auto-phones\ninclude => vicidial-auto-external\n"
            + include + f"\n\n; END OF FILE    Last Forced System Reload: {reload_timestamp}\n")


def keepalive_rebuild(site: Site) -> None:
    """What VICIdial's keepalive does for a server with rebuild_conf_files = 'Y': write
    extensions-vicidial.conf (`keepalive_text`), then clear the flag."""
    conn = site.connect()
    row = query(conn, "SELECT custom_dialplan_entry AS e, reload_timestamp AS t "
                      "FROM system_settings")[0]
    with open(os.path.join(site.asterisk_dir, "extensions-vicidial.conf"), "w") as f:
        f.write(keepalive_text(row["e"] or "", row["t"]))
    execute(conn, "UPDATE servers SET rebuild_conf_files = 'N'")

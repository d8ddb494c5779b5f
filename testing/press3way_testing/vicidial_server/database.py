"""VICIdial's database for the tier: its full schema and first-server rows, then this server
configured as an admin configures one (the Servers, Users and System Settings pages' columns),
and the rows of one logged-in agent with a customer.

VICIdial's .sql files are loaded with MariaDB's own client (they hold statements a naive split
on `;` would break), without their account statements (GRANT, flush privileges): the private
server has no `cron` user and the tier logs in as the server's own.
"""

from __future__ import annotations

import subprocess

from press3way.database import execute
from press3way.tables import FEATURE_TABLES
from press3way_testing.asterisk.configs import AMI_SECRET
from press3way_testing.site import Site
from press3way_testing.vicidial_server import vicidial_files
from press3way_testing.vicidial_server.dialplan import ROOMS, SESSION, server_dialplan

# VICIdial's pages insert '' into its AUTO_INCREMENT keys (manager_send.php 763): its install
# notes set MariaDB's sql_mode to this (no STRICT_TRANS_TABLES), and PHP 8's mysqli throws on
# the error a strict server returns
VICIDIAL_SQL_MODE = "NO_ENGINE_SUBSTITUTION"
DB_NAME = "press3way_vicidial_server"
CONF_SECRET = "loop1234"                 # servers.conf_secret: the ASTloop trunk's secret
AGENT_PASS = "1234"                      # first_server_install's agent 6666
WEB_SESSION = "press3way_agent_session_1"   # web_client_sessions.session_name (>= 12 chars)
SQL_TIMEOUT_S = 600


def new_site(server: dict) -> Site:
    return Site(server=server, db_name=DB_NAME, session=SESSION, conferences=ROOMS)


def load_sql(site: Site, relative: str) -> None:
    with open(vicidial_files.host(relative), "rb") as f:
        sql = b"".join(line for line in f
                       if not line.lower().startswith((b"grant ", b"flush privileges")))
    s = site.server
    run = subprocess.run(["mariadb", f"--host={s['host']}", f"--port={s['port']}",
                          f"--user={s['user']}", f"--password={s['password']}",
                          "--default-character-set=utf8", site.db_name],
                         input=sql, capture_output=True, timeout=SQL_TIMEOUT_S)
    if run.returncode:
        raise RuntimeError(f"loading {relative}: {run.stderr.decode(errors='replace').strip()}")


def create(site: Site) -> None:
    """A new database holding VICIdial's schema and its first server's rows."""
    admin = site.connect(database="")
    execute(admin, f"DROP DATABASE IF EXISTS `{site.db_name}`")
    execute(admin, f"CREATE DATABASE `{site.db_name}`")
    admin.close()
    load_sql(site, "MySQL_AST_CREATE_tables.sql")
    load_sql(site, "first_server_install.sql")


def configure_server(site: Site, ami_port: int, asterisk_version: str) -> None:
    """This server as the Servers page leaves it: its manager (VICIdial's four manager users),
    ConfBridge (its cleaner looking every second), a conf rebuild pending, its own
    dialplan; the agent API allowed for the
    agent; the rooms on this server."""
    conn = site.connect()
    execute(conn, "UPDATE servers SET telnet_host = '127.0.0.1', telnet_port = %s, "
            "ASTmgrUSERNAME = 'cron', ASTmgrSECRET = %s, ASTmgrUSERNAMEupdate = 'updatecron', "
            "ASTmgrUSERNAMElisten = 'listencron', ASTmgrUSERNAMEsend = 'sendcron', "
            "conf_engine = 'CONFBRIDGE', asterisk_version = %s, active_asterisk_server = 'Y', "
            "generate_vicidial_conf = 'Y', rebuild_conf_files = 'Y', ext_context = 'default', "
            "conf_secret = %s, custom_dialplan_entry = %s, conf_update_interval = 1 "
            "WHERE server_ip = %s",
            (ami_port, AMI_SECRET, asterisk_version, CONF_SECRET, server_dialplan(),
             site.server_ip))
    execute(conn, "UPDATE vicidial_users SET vdc_agent_api_access = '1' WHERE user = %s",
            (site.user,))
    execute(conn, "DELETE FROM vicidial_confbridges")
    for conf in (int(site.session), *site.conferences):
        execute(conn, "INSERT INTO vicidial_confbridges (conf_exten, server_ip, extension) "
                "VALUES (%s, %s, '')", (conf, site.server_ip))
    conn.close()


def seat_agent(site: Site) -> None:
    """Between scenarios: our tables and VICIdial's queue empty, every room free, and the agent
    logged in (its web session, its live-agent row, its session room taken) in a manual call
    with a customer (the call's caller code: the agent API wants one)."""
    conn = site.connect()
    for table in (*FEATURE_TABLES, "vicidial_manager", "vicidial_live_agents",
                  "web_client_sessions"):
        execute(conn, f"DELETE FROM {table}")
    execute(conn, "UPDATE vicidial_confbridges SET extension = '', leave_3way = '0', "
            "leave_3way_datetime = NULL")
    execute(conn, "UPDATE vicidial_confbridges SET extension = 'SIP/agent' WHERE conf_exten = %s",
            (site.session,))
    execute(conn, "INSERT INTO web_client_sessions (extension, server_ip, program, start_time, "
            "session_name) VALUES ('SIP/agent', %s, 'agc', NOW(), %s)",
            (site.server_ip, WEB_SESSION))
    execute(conn, "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, status, "
            "lead_id, callerid, campaign_id, extension, last_update_time) "
            "VALUES (%s, %s, %s, 'INCALL', %s, %s, 'TESTCAMP', 'SIP/agent', NOW())",
            (site.user, site.server_ip, site.session, site.lead_id,
             f"M{site.lead_id:019d}"))
    conn.close()

"""A VICIdial site in a database: the tables, the rows a 3-way call needs, and a config file.

Tests, the demo and the simulator all set up their database through this module.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import pymysql
import pymysql.cursors

from press3way.database import execute
from press3way.store import Store
from press3way.tables import FEATURE_TABLES

VICIDIAL_TABLES = ("servers", "system_settings", "vicidial_manager", "vicidial_live_agents",
                   "vicidial_conferences", "vicidial_confbridges", "live_channels",
                   "live_sip_channels")
# Just the columns of VICIdial's tables the feature reads, as VICIdial 2.14 defines them (the
# VICIdial tier loads VICIdial's own full schema instead).
VICIDIAL_TABLES_SQL = pathlib.Path(__file__).with_name("data") / "vicidial_tables.sql"


def vicidial_table_statements() -> list[str]:
    lines = VICIDIAL_TABLES_SQL.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


@dataclass
class Site:
    """One agent on one server, in a database of its own."""
    server: dict
    db_name: str
    server_ip: str = "10.10.10.15"
    user: str = "6666"
    session: str = "8600051"
    lead_id: int = 1234567
    conferences: tuple[int, ...] = (8600061, 8600062, 8600063)

    @property
    def caller_code(self) -> str:
        """The agent leg's caller id name, as VICIdial builds it for a 3-way call."""
        return f"DC{123456:06d}W{self.lead_id:010d}W"

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(host=self.server["host"], port=self.server["port"],
                               user=self.server["user"], password=self.server["password"],
                               database=self.db_name if database is None else database,
                               autocommit=True, cursorclass=pymysql.cursors.DictCursor)

    def create(self, engine: str = "InnoDB") -> None:
        """(Re)create the database with VICIdial's tables and ours (`engine` for ours)."""
        admin = self.connect(database="")
        execute(admin, f"DROP DATABASE IF EXISTS `{self.db_name}`")
        execute(admin, f"CREATE DATABASE `{self.db_name}`")
        admin.close()
        conn = self.connect()
        for statement in vicidial_table_statements():
            execute(conn, statement)
        Store(conn).create_tables(engine)
        conn.close()

    def reset(self, *, conf_engine: str = "MEETME", agi_output: str = "FILE",
              ami_port: int = 5038, calls_per_second: int = 20) -> None:
        """Empty every table and put back this server and one agent in a call with lead_id."""
        conn = self.connect()
        for table in VICIDIAL_TABLES + FEATURE_TABLES:
            execute(conn, f"DELETE FROM {table}")
        execute(conn, "INSERT INTO system_settings (version) VALUES ('2.14-press3way-sim')")
        conn.close()
        self.add_server(conf_engine=conf_engine, agi_output=agi_output, ami_port=ami_port,
                        calls_per_second=calls_per_second)
        self.add_agent()

    def add_server(self, *, conf_engine: str = "MEETME", agi_output: str = "FILE",
                   ami_port: int = 5038, calls_per_second: int = 20) -> None:
        """The `servers` row of this site's server_ip (one more Asterisk server of a cluster),
        its manager on loopback at `ami_port`."""
        conn = self.connect()
        execute(conn, "INSERT INTO servers (server_id, server_ip, telnet_host, "
                "telnet_port, ASTmgrUSERNAME, ASTmgrSECRET, ext_context, agi_output, conf_engine, "
                "outbound_calls_per_second) VALUES "
                "(%s, %s, '127.0.0.1', %s, 'cron', '1234', 'default', %s, %s, %s)",
                (f"sim{self.server_ip.rsplit('.', 1)[-1]}", self.server_ip, ami_port, agi_output,
                 conf_engine, calls_per_second))
        conn.close()

    def add_agent(self) -> None:
        """This agent's rows: its 3-way originate, its live-agent row, its free conferences."""
        conn = self.connect()
        execute(conn, "INSERT INTO vicidial_manager (entry_date, status, response, server_ip, "
                      "action, callerid, cmd_line_d) VALUES (NOW(), 'SENT', 'N', %s, "
                      "'Originate', %s, %s)",
                (self.server_ip, self.caller_code, f"Exten: {self.session}"))
        execute(conn, "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, status, "
                      "lead_id, campaign_id) VALUES (%s, %s, %s, 'INCALL', %s, 'TESTCAMP')",
                (self.user, self.server_ip, self.session, self.lead_id))
        conn.close()
        self.add_conferences()

    def add_conferences(self) -> None:
        """This agent's session (in use) and its free conferences, on its server."""
        conn = self.connect()
        for table in ("vicidial_conferences", "vicidial_confbridges"):
            for conf in (int(self.session), *self.conferences):
                execute(conn, f"INSERT INTO {table} (conf_exten, server_ip, extension) "
                              "VALUES (%s, %s, %s)",
                        (conf, self.server_ip, "SIP/agent" if conf == int(self.session) else ""))
        conn.close()

    def write_conf(self, path: str, logs_dir: str, sounds_dir: str = "") -> str:
        """An astguiclient.conf for this site (point PRESS3WAY_CONF at it)."""
        lines = [f"VARserver_ip => {self.server_ip}", f"VARDB_server => {self.server['host']}",
                 f"VARDB_database => {self.db_name}", f"VARDB_user => {self.server['user']}",
                 f"VARDB_pass => {self.server['password']}", f"VARDB_port => {self.server['port']}",
                 f"PATHlogs => {logs_dir}"]
        if sounds_dir:
            lines.append(f"PATHsounds => {sounds_dir}")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# written by press3way_testing.site\n" + "\n".join(lines) + "\n")
        return path

"""A throwaway MariaDB server in a temporary directory (for `press3way simulate` and the demo).

Uses pytest-mysql's executor (a well-kept wrapper of mysqld_safe + mysql_install_db) so the
tests and the simulator start MariaDB the same way.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pathlib
import shutil
import socket
import tempfile
from typing import Iterator


class MariaDBMissing(RuntimeError):
    """MariaDB's server binaries are not installed."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binaries() -> dict[str, str]:
    found = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
             for name in ("mysqld_safe", "mysql_install_db", "mysqladmin")}
    found["mysqld"] = (shutil.which("mariadbd",
                                    path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
                       or shutil.which("mysqld", path="/usr/sbin:/usr/bin"))
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise MariaDBMissing("MariaDB server binaries not found (" + ", ".join(missing) +
                             "): install them with `apt-get install -y mariadb-server`")
    return found  # type: ignore[return-value]


@contextlib.contextmanager
def throwaway_server(options: str = "") -> Iterator[dict]:
    """Start a private MariaDB on a free loopback port (`options`: more server options);
    yields its connection settings."""
    from pytest_mysql.executor import MySQLExecutor

    paths = binaries()
    base = tempfile.mkdtemp(prefix="press3way-mariadb-")
    port = _free_port()
    user = getpass.getuser()
    executor = MySQLExecutor(
        mysqld_safe=paths["mysqld_safe"], mysqld=paths["mysqld"], admin_exec=paths["mysqladmin"],
        logfile_path=os.path.join(base, "mariadb.log"),
        params=f"--skip-name-resolve --max-connections=1000 {options}",
        base_directory=pathlib.Path(base), user=user, host="127.0.0.1", port=port,
        install_db=paths["mysql_install_db"])
    executor.start()
    try:
        yield tcp_login(executor.unixsocket, port)
    finally:
        with contextlib.suppress(Exception):
            executor.stop()
        shutil.rmtree(base, ignore_errors=True)


def tcp_login(unix_socket: str, port: int) -> dict:
    """A fresh server only admits its OS user over the socket; make the password login the
    AGI scripts use (as VICIdial's `cron` user does), and return its settings."""
    import pymysql

    conn = pymysql.connect(unix_socket=unix_socket, user=getpass.getuser(), autocommit=True)
    with conn.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER IF NOT EXISTS 'press3way'@'{host}' IDENTIFIED BY 'press3way'")
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'press3way'@'{host}' WITH GRANT OPTION")
    conn.close()
    return {"host": "127.0.0.1", "port": port, "user": "press3way", "password": "press3way"}

"""`VARDB_ssl => 1` means TLS with the server's certificate verified, or no connection: never
plain text (PyMySQL 1.2's `ssl_disabled=False` alone tries TLS and falls back to plain text
when the server offers none), never a certificate nobody vouches for."""

from __future__ import annotations

import subprocess

import pytest

from press3way import config, database
from press3way_testing.mariadb import throwaway_server


def settings(mariadb, **extra) -> config.Config:
    return config.Config(server_ip="10.10.10.15", db_host=mariadb["host"],
                         db_port=int(mariadb["port"]), db_user=mariadb["user"],
                         db_pass=mariadb["password"] or "", db_name="mysql", **extra)


def test_without_vardb_ssl_the_connection_is_plain(mariadb):
    conn = database.connect(settings(mariadb))
    assert database.query(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0]["Value"] == ""
    conn.close()


def test_vardb_ssl_refuses_a_server_that_offers_no_tls_rather_than_talk_plain(mariadb):
    with pytest.raises(database.DatabaseError, match="SSL is required"):
        database.connect(settings(mariadb, db_ssl=True)).close()


def test_vardb_ssl_ca_names_the_authority_to_verify_by(mariadb, tmp_path):
    """A CA file that cannot be read fails the connection with a line saying so."""
    with pytest.raises(database.DatabaseError, match="cannot use VARDB_ssl_ca .*none.pem"):
        database.connect(settings(mariadb, db_ssl=True, db_ssl_ca=str(tmp_path / "none.pem")))


def test_the_config_reads_vardb_ssl_ca(tmp_path):
    path = tmp_path / "astguiclient.conf"
    path.write_text("VARserver_ip => 10.10.10.15\nVARDB_server => localhost\n"
                    "VARDB_database => asterisk\nVARDB_user => cron\nVARDB_ssl => 1\n"
                    "VARDB_ssl_ca => /etc/ssl/db-ca.pem\n")
    cfg = config.load(str(path))
    assert cfg.db_ssl and cfg.db_ssl_ca == "/etc/ssl/db-ca.pem"


def certificate(directory, name: str, san: str) -> tuple[str, str]:
    """A self-signed certificate for `san` (its own authority) and its key."""
    cert, key = str(directory / f"{name}.pem"), str(directory / f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory):
    """A second MariaDB that offers TLS with a certificate for 127.0.0.1 nobody vouches for
    (but its own file)."""
    cert, key = certificate(tmp_path_factory.mktemp("tls"), "db", "IP:127.0.0.1")
    with throwaway_server(f"--ssl-cert={cert} --ssl-key={key}") as server:
        yield server, cert


def test_vardb_ssl_refuses_a_certificate_no_authority_vouches_for(tls_mariadb):
    server, _ = tls_mariadb
    with pytest.raises(database.DatabaseError, match="CERTIFICATE_VERIFY_FAILED"):
        database.connect(settings(server, db_ssl=True)).close()


def test_vardb_ssl_ca_verifies_the_server_and_talks_tls(tls_mariadb):
    server, cert = tls_mariadb
    conn = database.connect(settings(server, db_ssl=True, db_ssl_ca=cert))
    assert database.query(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0]["Value"] != ""
    conn.close()


def test_vardb_ssl_refuses_a_certificate_for_another_name(tls_mariadb):
    """The authority is trusted, but the certificate is for 127.0.0.1, not for `localhost`."""
    server, cert = tls_mariadb
    with pytest.raises(database.DatabaseError, match="mismatch"):
        database.connect(settings({**server, "host": "localhost"}, db_ssl=True,
                                  db_ssl_ca=cert)).close()

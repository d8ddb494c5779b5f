"""The sweep's own parts can fail: the proxy really loses and stalls what it is told to, and
the invariants really catch a broken call."""

from __future__ import annotations

import dataclasses

import pymysql
import pytest

from press3way.database import execute, query
from press3way.tables import LIVE, LOG
from press3way_testing.faults import invariants
from press3way_testing.faults.cases import Case
from press3way_testing.faults.proxy import DROP_AFTER, DROP_BEFORE, STALL, Fault, FaultProxy
from press3way_testing.faults.statements import hint, normalise


def _client(server: dict, port: int, **kw) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user=server["user"],
                           password=server["password"], autocommit=True, ssl_disabled=True, **kw)


@pytest.fixture
def table(sweep_server):
    conn = _client(sweep_server, sweep_server["port"])
    execute(conn, "CREATE DATABASE IF NOT EXISTS press3way_proxytest")
    execute(conn, "CREATE OR REPLACE TABLE press3way_proxytest.t (v VARCHAR(20))")
    yield conn
    conn.close()


def _rows(conn) -> list[str]:
    return [r[0] for r in query(conn, "SELECT v FROM press3way_proxytest.t ORDER BY v")]


def test_normalise_and_hint():
    sql = "UPDATE x SET result = CONCAT(result, '|', 'Reserved', ': ') WHERE id = 'T1' AND n = 42"
    assert normalise(sql) == "UPDATE x SET result = CONCAT(result, ?, ?, ?) WHERE id = ? AND n = ?"
    assert hint(sql) == "Reserved"
    assert normalise("SELECT * FROM vicidial_3way_press_live") == \
        "SELECT * FROM vicidial_3way_press_live"


@pytest.mark.parametrize("action, applied", [(DROP_BEFORE, []), (DROP_AFTER, ["b"])])
def test_drop_loses_the_connection_before_or_after_the_write(sweep_server, table, action, applied):
    insert = "INSERT INTO press3way_proxytest.t VALUES (?)"
    with FaultProxy(sweep_server["host"], sweep_server["port"]) as proxy:
        proxy.reset(Fault(insert, action, occurrence=2))
        client = _client(sweep_server, proxy.port)
        execute(client, "INSERT INTO press3way_proxytest.t VALUES ('a')", in_transaction=True)
        with pytest.raises(Exception):
            execute(client, "INSERT INTO press3way_proxytest.t VALUES ('b')", in_transaction=True)
        trace = proxy.trace()
    assert _rows(table) == ["a"] + applied
    assert [s.occurrence for s in trace if s.normalised == insert] == [1, 2]
    assert proxy.fired is not None and proxy.fired.sql.endswith("('b')")
    assert (proxy.fired.applied_at is not None) == (action == DROP_AFTER)


@pytest.mark.parametrize("read_timeout, gives_up", [(None, False), (1, True)])
def test_stall_holds_the_statement_and_sees_a_client_give_up(sweep_server, table, read_timeout,
                                                              gives_up):
    with FaultProxy(sweep_server["host"], sweep_server["port"]) as proxy:
        proxy.reset(Fault("SELECT ?", STALL, stall_s=2))
        client = _client(sweep_server, proxy.port, read_timeout=read_timeout)
        with pytest.raises(pymysql.OperationalError):
            client.cursor().execute("SELECT 1")
    assert proxy.fired.applied_at is None
    assert (proxy.fired.gave_up_after is not None) == gives_up


def test_invariants_catch_a_broken_call(worker):
    outcome = worker.run(Case("InnoDB", "single", "none"))
    assert outcome.violations == [], outcome.report
    site, result = worker.site, outcome.result
    conn = site.connect()
    call_id = result.log_rows[0]["call_3way_id"]
    execute(conn, f"UPDATE {LOG} SET result = CONCAT(result, '|Hungup: 2026-01-01 00:00:00'), "
                  "call_transfer = 'N' WHERE call_3way_id = %s", (call_id,))
    execute(conn, f"INSERT INTO {LIVE} (caller_code, call_3way_id, status) "
                  "VALUES (%s, 'T2', 'NEW')", (site.caller_code,))
    execute(conn, "UPDATE vicidial_conferences SET extension = 'Local/83006666', leave_3way = '0' "
                  "WHERE conf_exten = 8600063")
    rows = query(conn, f"SELECT * FROM {LOG} WHERE caller_code = %s", (site.caller_code,))
    broken = dataclasses.replace(result, log_rows=rows + rows,
                                 calls={**result.calls, "agent": "hung up (test)"})
    found = "\n".join(invariants.check(broken, conn, worker.logs_dir, site.caller_code))
    conn.close()
    for expected in ("one call, 2 log rows", "2 terminal events", "call_transfer='N' but Transfer",
                     "live rows left", "conference left reserved",
                     "but the agent leg never joined"):
        assert expected in found

"""The FastAGI server's connection pool on the real MariaDB."""

from __future__ import annotations

from press3way import config
from press3way.database import execute, query
from press3way.fastagi.pool import Pool


def test_a_connection_left_inside_a_transaction_is_never_handed_out_in_it(site):
    cfg = config.load(site.conf_path)
    pool = Pool(cfg, limit=1)
    try:
        with pool.connection(cfg) as conn:
            execute(conn, "START TRANSACTION")      # a call whose ROLLBACK failed
            execute(conn, "SELECT 1")
        with pool.connection(cfg) as conn:
            assert query(conn, "SELECT @@in_transaction AS t")[0]["t"] == 0
    finally:
        pool.close()

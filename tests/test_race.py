"""Winner election under real concurrency: separate processes, one batch, one release instant.

Each trial starts a fresh batch of N calls; N worker processes (forked once, each a full
`accepted` stage run with its own database connection, as one AGI process per call would be)
wait on a barrier and press 1 at the same instant. Exactly one may log Accepted.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time

import pytest

from press3way import events as ev
from press3way import numbers
from press3way.legs import outside
from press3way.telephony.agi import Channel
from press3way.db import LIVE, LOG, Call, DatabaseError, Store, query
from tests.helpers import start_calls

CALLS = 10
TRIALS = int(os.environ.get("PRESS3WAY_RACE_TRIALS", "200"))


def _press_one(conf_path: str, call_id: str) -> None:
    """One `accepted` stage, Asterisk's replies canned: GET VARIABLE, then 200s."""
    env = (f"agi_request: agi-3way_press_outside.agi\nagi_channel: SIP/carrier-{call_id}\n"
           f"agi_arg_1: accepted---0\n\n")
    replies = f"200 result=1 ({call_id})\n" + "200 result=0\n" * 20
    os.environ["PRESS3WAY_CONF"] = conf_path
    outside.main(lambda: Channel(stdin=io.StringIO(env + replies), stdout=io.StringIO()))


def _worker(conf_path: str, index: int, start, done, call_ids) -> None:
    while True:
        start.wait()
        call_id = call_ids[index].value.decode()
        if not call_id:
            return
        _press_one(conf_path, call_id)
        done.wait()


@pytest.mark.parametrize("engine", ["InnoDB", "MyISAM"])
def test_exactly_one_winner_per_batch(request, engine, capsys):
    site = request.getfixturevalue("innodb_site" if engine == "InnoDB" else "myisam_site")
    site.reset()
    engine_seen = query(site.connect(), "SELECT ENGINE FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vicidial_3way_press_live'")
    assert engine_seen[0]["ENGINE"] == engine
    ctx = multiprocessing.get_context("fork")
    start, done = ctx.Barrier(CALLS + 1), ctx.Barrier(CALLS + 1)
    call_ids = [ctx.Array("c", 32) for _ in range(CALLS)]
    workers = [ctx.Process(target=_worker, args=(site.conf_path, i, start, done, call_ids))
               for i in range(CALLS)]
    for w in workers:
        w.start()
    outcomes, failures = [], []
    try:
        for trial in range(TRIALS):
            ids = start_calls(site, CALLS, caller_code=f"DC{trial:06d}W{site.lead_id:010d}W")
            for slot, cid in zip(call_ids, ids):
                slot.value = cid.encode()
            start.wait(timeout=20)      # all N press 1 now
            done.wait(timeout=20)
            rows = query(site.connect(), f"SELECT result FROM {LOG} WHERE caller_code = %s",
                         (f"DC{trial:06d}W{site.lead_id:010d}W",))
            accepted = sum(ev.ACCEPTED in r["result"] for r in rows)
            too_slow = sum(ev.TOO_SLOW in r["result"] for r in rows)
            outcomes.append((accepted, too_slow))
            if (accepted, too_slow) != (1, CALLS - 1):
                failures.append([r['result'] for r in rows])
    finally:
        for slot in call_ids:
            slot.value = b""
        start.wait(timeout=20)
        for w in workers:
            w.join(timeout=30)
    perfect = sum(1 for o in outcomes if o == (1, CALLS - 1))
    with capsys.disabled():
        print(f"\n[race] {engine}: {len(outcomes)} trials x {CALLS} processes: "
              f"{perfect} with exactly one Accepted and {CALLS - 1} Too Slow")
    assert len(outcomes) == TRIALS
    assert perfect == TRIALS, failures[:2]


AGENTS = 40


@pytest.mark.parametrize("engine", ["InnoDB", "MyISAM"])
def test_many_agents_start_their_batches_in_the_same_instant(request, engine):
    """40 agent legs (threads, a connection each) insert their 5 calls at once, their call
    ids all stamped in the same centisecond (adjacent in the call id index): every row is
    written, none is refused as a deadlock victim."""
    site = request.getfixturevalue("innodb_site" if engine == "InnoDB" else "myisam_site")
    site.reset()
    now = time.time()
    start = threading.Barrier(AGENTS)
    errors: list[str] = []

    def agent(n: int) -> None:
        lead = 3_000_000 + n
        code = f"DC123456W{lead:010d}W"
        calls = [Call(code, call_id, lead, f"72{n:04d}55{k:02d}", f"972{n:04d}55{k:02d}",
                      "7275550000", str(8000 + n), "8600051", site.server_ip)
                 for k, call_id in enumerate(numbers.call_ids(lead, 5, now))]
        conn = site.connect()
        store = Store(conn)
        start.wait(timeout=20)
        try:
            for call in calls:
                store.start_call(call)
        except DatabaseError as exc:
            errors.append(f"agent {n}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(AGENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for table in (LIVE, LOG):
        assert query(site.connect(), f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 5 * AGENTS

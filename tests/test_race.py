"""Winner election under real concurrency: N outside calls of one batch press 1 at the same
instant; exactly one may log Accepted, the others Too Slow.

Process mode: N worker processes (forked once, each a full `accepted` stage run with its own
database connection, as one AGI process per call would be) wait on a barrier and press at
once. FastAGI mode: N threads wait on a barrier, then each opens its connection to the one
FastAGI server, whose threads run the N calls at once on its pool's connections.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time

import pytest

from press3way import dialstrings
from press3way import events as ev
from press3way.database import DatabaseError, query
from press3way.legs import outside
from press3way.store import Call, Store
from press3way.tables import LIVE, LOG
from press3way.telephony.agi import Channel
from tests.helpers import start_calls

CALLS = 10
TRIALS = {"process": int(os.environ.get("PRESS3WAY_RACE_TRIALS", "200")),
          "fastagi": int(os.environ.get("PRESS3WAY_RACE_TRIALS_FASTAGI", "100"))}
WAIT_S = 20
pytestmark = pytest.mark.usefixtures("agi_mode")


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


class Processes:
    """N forked workers, kept between trials (forking per trial would spread the presses)."""

    def __init__(self, site):
        ctx = multiprocessing.get_context("fork")
        self.start, self.done = ctx.Barrier(CALLS + 1), ctx.Barrier(CALLS + 1)
        self.call_ids = [ctx.Array("c", 32) for _ in range(CALLS)]
        self.workers = [ctx.Process(target=_worker, args=(site.conf_path, i, self.start,
                                                          self.done, self.call_ids))
                        for i in range(CALLS)]

    def __enter__(self) -> Processes:
        for w in self.workers:
            w.start()
        return self

    def press(self, ids: list[str]) -> None:
        for slot, cid in zip(self.call_ids, ids):
            slot.value = cid.encode()
        self.start.wait(timeout=WAIT_S)      # all N press 1 now
        self.done.wait(timeout=WAIT_S)

    def __exit__(self, *exc: object) -> None:
        for slot in self.call_ids:
            slot.value = b""
        self.start.wait(timeout=WAIT_S)
        for w in self.workers:
            w.join(timeout=30)


class Connections:
    """N simultaneous FastAGI connections to the site's server, one `accepted` stage each."""

    def __init__(self, site):
        self.site = site

    def __enter__(self) -> Connections:
        return self

    def press(self, ids: list[str]) -> None:
        barrier = threading.Barrier(CALLS)
        codes: list[int | None] = []
        errors: list[BaseException] = []

        def call(cid: str) -> None:
            try:
                barrier.wait(timeout=WAIT_S)
                codes.append(self.site.outside("accepted---0", cid,
                                               channel_name=f"SIP/carrier-{cid}").exit_code)
            except BaseException as exc:     # noqa: BLE001 - reported by the test's thread
                errors.append(exc)
        threads = [threading.Thread(target=call, args=(cid,)) for cid in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=2 * WAIT_S + 60)
        assert not errors, errors
        assert sorted(codes) == [0] * CALLS, codes

    def __exit__(self, *exc: object) -> None:
        pass


def test_exactly_one_winner_per_batch(any_site, agi_mode, request, capsys):
    site, engine = any_site, request.node.callspec.params["any_site"]
    engine_seen = query(site.connect(), "SELECT ENGINE FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vicidial_3way_press_live'")
    assert engine_seen[0]["ENGINE"] == engine
    trials = TRIALS[agi_mode]
    outcomes, failures = [], []
    with (Connections if site.fastagi else Processes)(site) as pressers:
        for trial in range(trials):
            code = f"DC{trial:06d}W{site.lead_id:010d}W"
            pressers.press(start_calls(site, CALLS, caller_code=code))
            rows = query(site.connect(), f"SELECT result FROM {LOG} WHERE caller_code = %s",
                         (code,))
            accepted = sum(ev.ACCEPTED in r["result"] for r in rows)
            too_slow = sum(ev.TOO_SLOW in r["result"] for r in rows)
            outcomes.append((accepted, too_slow))
            if (accepted, too_slow) != (1, CALLS - 1):
                failures.append([r['result'] for r in rows])
    perfect = sum(1 for o in outcomes if o == (1, CALLS - 1))
    with capsys.disabled():
        print(f"\n[race] {engine} ({agi_mode}): {len(outcomes)} trials x {CALLS} "
              f"calls: {perfect} with exactly one Accepted and {CALLS - 1} Too Slow")
    assert len(outcomes) == trials
    assert perfect == trials, failures[:2]


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
                 for k, call_id in enumerate(dialstrings.call_ids(lead, 5, now))]
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

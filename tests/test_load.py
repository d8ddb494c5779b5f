"""Concurrent batches on one database: every batch decided, exactly one winner each.
(The 50 x 5 run lives in bench/bench_load.py; this is its small sibling for CI.) Each AGI
step a process, or every batch's steps through one FastAGI server and its pool."""

from __future__ import annotations

import pytest

from press3way import events as ev
from press3way.database import query
from press3way_testing.load import run_batches
from press3way_testing.sim import Timeouts

BATCH = ["7275551210:answer=0.3,press=1@prompt+0.1", "7275551211:answer=0.3,press=1@prompt+0.1",
         "7275551212:answer=0.3,press=5@prompt+0.05", "7275551213:noanswer"]
pytestmark = pytest.mark.usefixtures("agi_mode")


def test_concurrent_batches_each_get_one_winner(site, capsys):
    results = run_batches(site, site.conf_path, [BATCH] * 6,
                          timeouts=Timeouts(agent=30, dial=20, press=10, accept=20),
                          sound_scale=0.1, fastagi=site.fastagi)
    assert len(results) == 6
    for result in results:
        ends = [ev.terminal_event(r["result"]) for r in result.log_rows]
        assert len(ends) == len(BATCH) and ends.count(ev.TRANSFER) == 1, result.format()
        assert None not in ends
        assert result.calls["agent"].startswith("in conference")
    assert query(site.connect(), "SELECT * FROM vicidial_3way_press_live") == []
    confs = {r.calls["agent"] for r in results}
    assert len(confs) == 6                       # no two agents got the same conference
    with capsys.disabled():
        print(f"\n[load] {len(results)} concurrent batches of {len(BATCH)} calls: "
              f"each exactly one Transfer")

"""Deadlines that must hold whatever the pacing: the agent timeout runs from the agent leg's
start (placing the calls included), on whole simulated calls."""

from __future__ import annotations

import pytest

from press3way import events as ev
from press3way.database import execute
from press3way_testing.sim import Timeouts
from tests.helpers import play

pytestmark = pytest.mark.usefixtures("agi_mode")
NUMBERS = [f"72755512{n:02d}" for n in range(10)]


def _one_call_a_second(site) -> None:
    execute(site.connect(), "UPDATE servers SET outbound_calls_per_second = 1")


def test_agent_timeout_counts_the_time_spent_placing(site):
    """10 numbers at 1 call/s with a 4 s agent timeout: the reference (and our earlier agent
    leg) waited 4 s after the last originate, ~14 s in all. Now the batch ends at 4 s: the
    calls never placed are not logged, the placed ones end Timeout."""
    result = play(site, [f"{n}:noanswer" for n in NUMBERS],
                  timeouts=Timeouts(agent=4, dial=30, press=2, accept=5),
                  prepare=_one_call_a_second)
    assert result.live_rows == 0, result.format()
    placed = len(result.log_rows)
    assert 3 <= placed <= 6, result.format()
    assert {ev.terminal_event(r["result"]) for r in result.log_rows} == {ev.TIMEOUT}
    buzz = [t for t, who, text in result.timeline if who == "agent" and "buzz" in text]
    assert buzz and buzz[0] < 9, result.format()      # 14 s when the timeout began late


def test_a_stale_multi_call_list_is_not_dialled(site):
    """A list armed by hand and forgotten: the next 3-way call dials only its own number,
    the list is marked EXPIRED and the AGI log says why."""
    def stale_list(site) -> None:
        execute(site.connect(), "INSERT INTO vicidial_3way_press_multi (user, call_date, "
                                "phone_numbers, phone_numbers_ct, status) VALUES "
                                "(%s, NOW() - INTERVAL 10 MINUTE, "
                                "'7275559001,7275559002', 2, 'NEW')",
                (site.user,))
    result = play(site, ["7275551212:answer=0.3,press=1@0.8"],
                  timeouts=Timeouts(agent=8, dial=4, press=2, accept=5), prepare=stale_list)
    assert [r["phone_number"] for r in result.log_rows] == ["7275551212"], result.format()
    status = site.connect().cursor()
    status.execute("SELECT status FROM vicidial_3way_press_multi WHERE user = %s", (site.user,))
    assert status.fetchone()["status"] == "EXPIRED"
    assert "expired" in site.agi_log()

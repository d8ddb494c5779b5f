"""Every statement the legs send, lost or stalled; the agent leg hung up at each step; the
tables locked through each stage: after each whole call, every invariant of
press3way_testing.faults.invariants holds. (The cases come from tests/faults/conftest.py.)"""

from __future__ import annotations

import pytest

from press3way_testing.faults.proxy import ACTIONS


def test_fault_free_calls_are_sound(sweep_problem):
    problem, skip = sweep_problem
    if skip:
        pytest.skip(problem)
    assert problem == ""


def test_call_survives(case, sweep):
    outcome = sweep[case.id]
    assert outcome.violations == [], _explain(outcome)
    if case.kind in ACTIONS and outcome.fired is None:
        pytest.skip("the statement was not sent at this occurrence in this run")


def _explain(outcome) -> str:
    fired = f"\nfault hit: {outcome.fired.sql[:300]}" if outcome.fired else ""
    return (f"{outcome.case.id}: {len(outcome.violations)} invariant violations{fired}\n  "
            + "\n  ".join(outcome.violations) + "\n" + outcome.report)

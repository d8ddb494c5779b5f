"""What every scenario checks: the log rows' events, no live rows left, where channels ended."""

from __future__ import annotations

from press3way import events as ev
from press3way_testing.asterisk.scene import Scene

CONF = "8600061"            # the first free 3-way conference of the Site
LOSERS = (ev.DEFEATED, ev.TOO_SLOW)


def results(scene: Scene) -> dict[str, list[str]]:
    """phone number -> the events of its log row, oldest first (one row per number)."""
    rows = scene.log_rows()
    by_number = {r["phone_number"]: [e for e, _ in ev.parse_result(r["result"])] for r in rows}
    assert len(by_number) == len(rows), f"more than one row per number: {rows}"
    return by_number


def batch_over(scene: Scene) -> dict[str, list[str]]:
    """The rows once the batch is over: no live rows, one terminal event per row; the rows."""
    assert scene.live_rows() == []
    found = results(scene)
    for number, events in found.items():
        assert events[0] == ev.STARTED, (number, events)
        assert len(events) == len(set(events)), (number, events)
        terminal = [e for e in events if e in ev.TERMINAL]
        assert len(terminal) == 1 and events[-1] == terminal[0], (number, events)
    return found


def hung_up_in(scene: Scene, channel: str, *contexts: str) -> None:
    ending = scene.ending(channel)
    assert ending.hung_up, f"{channel} is still up"
    if contexts:
        assert ending.context in contexts, ending


def agent_and_customer_stay(scene: Scene) -> None:
    """The agent and the customer are still in the agent's session, whatever happened."""
    members = scene.members(scene.site.session)
    assert {m for m in members if m.startswith("Local/person@")} and len(
        [m for m in members if m.startswith("Local/person@")]) == 2, members


WON = [ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED, ev.TRANSFER]


def bridged(scene: Scene, number: str) -> None:
    """`number` won: its row tells the whole story, its outside leg and the agent leg are the
    3-way conference, and the agent leg's other end is still in the agent's session with the
    agent and the customer."""
    assert results(scene)[number] == WON, results(scene)
    assert scene.members(CONF) == {scene.outside_leg(number), scene.agent_leg()}
    session = scene.members(scene.site.session)
    assert any(m.startswith(f"Local/{scene.site.session}@") for m in session), session
    agent_and_customer_stay(scene)


def failed_to_buzz(scene: Scene) -> None:
    """No winner: the agent leg played buzz and hung up; nobody is in a 3-way conference."""
    agent_leg = scene.agent_leg()
    assert scene.events("AGIExecStart", Channel=agent_leg, Command="STREAM FILE buzz*"), \
        "the agent leg never played buzz"
    hung_up_in(scene, agent_leg)
    assert scene.members(CONF) == set()
    agent_and_customer_stay(scene)

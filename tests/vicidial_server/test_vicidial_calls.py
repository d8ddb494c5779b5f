"""Whole 3-way calls on a VICIdial server: VICIdial's agent screen post (manager_send.php) and
agent API (api.php) start them, VICIdial's daemon sends them, VICIdial's dialplan (its stock
extensions.conf and the keepalive's rebuild of our Custom Dialplan Entry) carries them over
the IAX2 loop, VICIdial's logger logs every hang-up and its cleaner watches the rooms. Each
test runs with a process per AGI step and through the FastAGI server.

Flags (conftest): agent 12 s, dial 6 s, press 4 s, accept 5 s; the prompts last 3.0 s.
"""

from __future__ import annotations

from press3way import events as ev
from press3way_testing.asterisk.parties import Party

from .judge import (
    LOSERS,
    after_everybody_hung_up,
    bridged,
    one_terminal_event_each,
    queued_by_vicidial,
    rooms_hold_no_strangers,
)

A, B, C = "7275551212", "7275551213", "7275551214"
PROMPTS_S = 3.0


def test_the_agent_leg_runs_on_vicidials_iax2_loop(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    assert scene.agent_leg().startswith("IAX2/ASTloop-"), scene.agent_leg()
    queued_by_vicidial(scene)


def test_single_accept(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    queued_by_vicidial(scene)
    bridged(scene, A)
    scene.await_cleaner()
    rooms_hold_no_strangers(scene)
    assert after_everybody_hung_up(scene)[A][-1] == ev.TRANSFER


def test_multi_call_first_press_wins(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2), Party(B, press_at=PROMPTS_S + 0.8),
               Party(C))
    scene.wait_settled(outside=3)
    queued_by_vicidial(scene)
    bridged(scene, A)
    scene.await_cleaner()
    rooms_hold_no_strangers(scene)
    found = after_everybody_hung_up(scene)
    assert found[A][-1] == ev.TRANSFER and found[B][-1] in LOSERS, found
    assert found[C][-1] == ev.DEFEATED, found


def test_no_press(scene):
    scene.call(Party(A))
    scene.wait_settled(outside=1)
    queued_by_vicidial(scene)
    assert one_terminal_event_each(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.DECLINED]}
    assert after_everybody_hung_up(scene)[A][-1] == ev.DECLINED


def test_hang_up_before_pressing(scene):
    scene.call(Party(A, hangup_at=1.5))
    scene.wait_settled(outside=1)
    queued_by_vicidial(scene)
    assert one_terminal_event_each(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.HUNGUP]}
    assert after_everybody_hung_up(scene)[A][-1] == ev.HUNGUP


def test_winner_stops_waiting_after_the_agent_leg_joined_the_room(scene):
    """A presses; the moment the agent leg joins a 3-way room, A hangs up."""
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    agent_leg = scene.wait_agent_leg()
    scene.rec.wait_event("ConfbridgeJoin", 20, since=scene.since, Channel=agent_leg)
    scene.hang_up(scene.party_channel(A))
    scene.wait_settled(outside=1)
    queued_by_vicidial(scene)
    scene.await_cleaner()
    rooms_hold_no_strangers(scene)
    after_everybody_hung_up(scene)


def test_single_accept_on_a_server_whose_ext_context_is_not_default(scene_elsewhere):
    """VICIdial originates the 3-way call in servers.ext_context (issue 16 item 5), here a
    context that reaches nothing of [default]."""
    scene = scene_elsewhere
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    queued_by_vicidial(scene)
    bridged(scene, A)
    assert after_everybody_hung_up(scene)[A][-1] == ev.TRANSFER

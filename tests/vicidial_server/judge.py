"""How the tier judges a scenario: from AMI events and the tables, with VICIdial's programs
(call logger, manager sender, ConfBridge cleaner) running.

- the agent's 3-way call went through VICIdial's queue: its vicidial_manager row, as
  manager_send.php queued it (Local/49907...@default to the agent's session), was SENT by
  AST_manager_send.pl (then maybe UPDATED by AST_manager_listen.pl);
- no channel is in a room that vicidial_confbridges calls free, neither while the call is on
  nor after VICIdial's cleaner looked;
- once everybody hung up and the cleaner looked: every room is free, or held by VICIdial's
  own leave-3way bookkeeping (leave_3way='1', which the cleaner ends), and every call's log
  row holds exactly one terminal event (VICIdial's logger appends none).
"""

from __future__ import annotations

from press3way import events as ev
from press3way_testing.vicidial_server.scene import VicidialScene

LOSERS = (ev.DEFEATED, ev.TOO_SLOW)
WON = [ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED, ev.TRANSFER]


def queued_by_vicidial(scene: VicidialScene) -> None:
    row = scene.manager_row
    assert row["status"] in ("SENT", "UPDATED") and row["action"] == "Originate", row
    assert row["cmd_line_b"].startswith("Channel: Local/49907") and \
        row["cmd_line_b"].endswith(f"@{scene.ext_context}"), row
    assert row["cmd_line_c"] == f"Context: {scene.ext_context}", row
    assert row["cmd_line_d"] == f"Exten: {scene.site.session}", row
    assert row["callerid"] == scene.site.caller_code, row


def rooms_hold_no_strangers(scene: VicidialScene) -> None:
    """No channel in a room the table calls free (another agent could be given it)."""
    for conf, room in scene.rooms().items():
        if not room["extension"]:
            assert scene.members(conf) == set(), (conf, room, scene.members(conf))


def results(scene: VicidialScene) -> dict[str, list[str]]:
    rows = scene.log_rows()
    found = {r["phone_number"]: [e for e, _ in ev.parse_result(r["result"])] for r in rows}
    assert len(found) == len(rows), f"more than one row per number: {rows}"
    return found


def one_terminal_event_each(scene: VicidialScene) -> dict[str, list[str]]:
    found = results(scene)
    for number, events in found.items():
        assert events[0] == ev.STARTED, (number, events)
        terminal = [e for e in events if e in ev.TERMINAL]
        assert len(terminal) == 1 and events[-1] == terminal[0], (number, events)
    return found


def logged_by_vicidial(scene: VicidialScene, number: str) -> None:
    """VICIdial's call logger was called for the hang-up of the outside call to `number` (the
    far half, in the `h` line the keepalive writes), with our call id as its caller id name:
    the logger had its chance to append to our row."""
    far = scene.party_channel(number)
    logged = [e for e in scene.events("Newexten", Channel=far, Exten="h", Application="AGI")
              if e["AppData"].startswith("agi://127.0.0.1:4577/call_log")]
    assert logged, f"VICIdial's logger never saw {far} hang up"
    assert logged[0]["CallerIDName"].startswith("T"), logged[0].fields


def after_everybody_hung_up(scene: VicidialScene) -> dict[str, list[str]]:
    """Everybody hangs up, VICIdial's cleaner looks; the judgement of the end; the rows."""
    scene.hang_up_all()
    scene.await_cleaner()
    rooms_hold_no_strangers(scene)
    for conf, room in scene.rooms().items():
        if conf != scene.site.session:
            assert room["extension"] in ("", None) or room["leave_3way"] == "1", (conf, room)
    assert scene.live_rows() == []
    found = one_terminal_event_each(scene)
    for number in found:
        logged_by_vicidial(scene, number)
    return found


def bridged(scene: VicidialScene, number: str) -> str:
    """`number` won: its outside leg and the agent leg are in one 3-way room; that room."""
    assert results(scene)[number] == WON, results(scene)
    outside = scene.outside_leg(number)
    rooms = [conf for conf in scene.rooms() if outside in scene.members(conf)]
    assert len(rooms) == 1 and scene.members(rooms[0]) == {outside, scene.agent_leg()}, rooms
    return rooms[0]

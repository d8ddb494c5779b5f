"""The scenario catalogue: whole 3-way calls, each described once, with its outcome, played by
the simulator (tests/test_scenarios.py) and by the real Asterisk 22 (tests/asterisk/
test_calls.py), in both AGI modes.

A scenario's parties are in the simulator's party language (`sim.parse_party`): `answer=S`
(rings S seconds, then answers), `noanswer`, `busy`, `hangup=S` and `press=D@S` (S seconds
after it starts ringing), `press=D@prompt_start+S` (S seconds into the prompts),
`press=D@prompt+S` (S seconds after the prompts end, as a person presses after "now"),
`press=D@together+S` (S seconds after every party pressing together heard the prompts end).
Both runners play it as written: the real Asterisk puts the times counted from ringing in the
party's AstDB schedule and makes a prompt press S seconds after the outside leg starts
BackGround or WaitExten (asterisk/parties.py). What a runner cannot play, the scenario says,
with why; a scenario no runner plays is an error (tests/test_scenarios.py).

The outcome: each call's events (its log row), or the terminal events a race leaves open, and
what became of the agent leg (the 3-way transfer, buzz, or hung up by the agent); a runner
that played a scenario also holds that no live row is left.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from press3way import events as ev
from press3way.database import execute
from press3way_testing.site import Site

TRANSFER, BUZZ, AGENT_GONE = "transfer", "buzz", "agent gone"     # the agent leg's end
AMI_DOWN, AMI_REFUSES, NO_FREE_CONFERENCE = "AMI unreachable", "AMI refuses login", \
    "no free conference"
WON = (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED, ev.TRANSFER)
LOSERS = (ev.DEFEATED, ev.TOO_SLOW)
A, B, C, D, E = "7275551212", "7275551213", "7275551214", "7275551215", "7275551216"
NO_MEETME = ("the tier's Asterisk 22 has no MeetMe (app_meetme needs DAHDI timing): its "
             "3-way conferences are ConfBridges")


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    parties: tuple[str, ...]
    events: dict[str, tuple[str, ...]]          # number -> its log row's events, all of them
    ends: dict[str, tuple[str, ...]] = field(default_factory=dict)   # a race decides: the
    # number's terminal event is one of these
    agent: str = BUZZ                           # TRANSFER, BUZZ or AGENT_GONE
    timeouts: dict[str, int] = field(default_factory=dict)   # the ones the outcome depends
    # on (agent, dial, press, accept); the others are the runner's short ones
    agent_hangup: float | None = None           # the agent hangs up S seconds after starting
    site: str = ""                              # AMI_DOWN, AMI_REFUSES or NO_FREE_CONFERENCE
    dialstring: str | None = None               # what the agent dials (default 91<number>)
    conf_engine: str = "CONFBRIDGE"
    engine: str = "InnoDB"
    real_sounds: bool = False                   # its presses fall at points of the prompts'
    # real lengths: the simulator plays them at full length too (else ten times faster)
    per_call_only: str = ""                     # why it is not played through FastAGI
    not_simulated: str = ""                     # why the simulator does not play it
    not_on_asterisk: str = ""                   # why the real Asterisk does not play it

    @property
    def dials(self) -> bool:
        """Does the agent leg get as far as originating the calls?"""
        return self.site not in (AMI_DOWN, AMI_REFUSES)

    def prepare(self, site: Site) -> None:
        """The site as the scenario needs it, after the runner's reset."""
        conn = site.connect()
        if self.site == AMI_DOWN:
            execute(conn, "UPDATE servers SET telnet_port = %s", (closed_port(),))
        elif self.site == AMI_REFUSES:
            execute(conn, "UPDATE servers SET ASTmgrSECRET = 'not-1234'")
        elif self.site == NO_FREE_CONFERENCE:      # all taken; the agent's session stays his
            for table in ("vicidial_conferences", "vicidial_confbridges"):
                execute(conn, f"UPDATE {table} SET extension = 'SIP/other' "
                              "WHERE conf_exten <> %s", (site.session,))
        conn.close()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CATALOGUE = (
    Scenario("single_accept", "The party presses 1 after the prompts: the 3-way transfer.",
             (f"{A}:answer=0.3,press=1@prompt+0.2",), {A: WON}, agent=TRANSFER),
    Scenario("single_accept_meetme", "The same with VICIdial's MeetMe conferences.",
             (f"{A}:answer=0.3,press=1@prompt+0.2",), {A: WON}, agent=TRANSFER,
             conf_engine="MEETME", not_on_asterisk=NO_MEETME),
    Scenario("press_as_the_prompts_start", "A press at once when BackGround starts is kept.",
             (f"{A}:answer=0.3,press=1@prompt_start+0",), {A: WON}, agent=TRANSFER),
    Scenario("press_while_the_prompts_play",
             "A press in the middle of BackGround(outside-sales&press-1&now) dials 1 at once; "
             "WaitExten never runs.",
             (f"{A}:answer=0.3,press=1@prompt_start+1.8",), {A: WON}, agent=TRANSFER,
             real_sounds=True),
    Scenario("press_while_the_answered_agi_runs_is_thrown_away",
             "res_agi throws away digits that arrive while a script runs: a press 10 ms after "
             "answering lands in the `answered` stage, which the dialplan never hears.",
             (f"{A}:answer=0.3,press=1@0.31",), {A: (ev.STARTED, ev.ANSWERED, ev.DECLINED)},
             per_call_only="through FastAGI the answered stage can be over within 10 ms: "
                           "nothing left to throw the press away",
             not_on_asterisk="there the answered stage is over in about 60 ms, and the "
                             "party's SendDTMF sends its first digit 100 ms after it starts: "
                             "the press lands in BackGround; the rule itself is checked in "
                             "test_facts (a digit between AGI commands is thrown away)"),
    Scenario("no_press", "WaitExten times out and continues at Goto(t,1): declined, buzz.",
             (f"{A}:answer=0.3",), {A: (ev.STARTED, ev.ANSWERED, ev.DECLINED)}),
    Scenario("wrong_key", "Any key but 1 goes to i: declined, buzz.",
             (f"{A}:answer=0.3,press=5@prompt+0.2",),
             {A: (ev.STARTED, ev.ANSWERED, ev.DECLINED)}),
    Scenario("hang_up_before_pressing", "The party hangs up 1.5 s after answering.",
             (f"{A}:answer=0.3,hangup=1.8",), {A: (ev.STARTED, ev.ANSWERED, ev.HUNGUP)}),
    Scenario("no_answer", "Nobody answers within the dial timeout.",
             (f"{A}:noanswer",), {A: (ev.STARTED, ev.HUNGUP)}, timeouts={"dial": 2}),
    Scenario("busy", "The line is busy.", (f"{A}:busy",), {A: (ev.STARTED, ev.HUNGUP)}),
    Scenario("multi_first_press_wins",
             "Three numbers; the first to press wins, the later presser and the one still "
             "ringing lose.",
             (f"{A}:answer=0.2,press=1@prompt+0.2", f"{B}:answer=0.2,press=1@prompt+0.7",
              f"{C}:noanswer"), {A: WON}, ends={B: LOSERS, C: (ev.DEFEATED,)}, agent=TRANSFER),
    Scenario("five_presses_one_winner", "Five parties press together: exactly one wins.",
             tuple(f"{n}:answer=0.2,press=1@together+0.1" for n in (A, B, C, D, E)), {},
             ends={n: (ev.TRANSFER, *LOSERS) for n in (A, B, C, D, E)}, agent=TRANSFER),
    Scenario("multi_on_myisam", "A multi-call on MyISAM feature tables.",
             (f"{A}:answer=0.3,press=1@prompt+0.2", f"{B}:answer=0.3"), {A: WON},
             ends={B: (ev.DEFEATED,)}, agent=TRANSFER, engine="MyISAM"),
    Scenario("agent_hangs_up_while_calls_ring",
             "The agent hangs up while every call still rings: each is cut unanswered.",
             (f"{A}:noanswer", f"{B}:noanswer", f"{C}:noanswer"),
             {n: (ev.STARTED, ev.AGENT_GONE) for n in (A, B, C)}, agent=AGENT_GONE,
             agent_hangup=2.5),
    Scenario("too_slow_while_the_winner_waits_for_a_conference",
             "No conference is free: A holds the win and waits; B presses meanwhile and is Too "
             "Slow; A gives up after its accept timeout (Agent Gone).",
             (f"{A}:answer=0.3,press=1@prompt+0.2", f"{B}:answer=0.3,press=1@prompt+1.2"),
             {A: (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.AGENT_GONE),
              B: (ev.STARTED, ev.ANSWERED, ev.TOO_SLOW)},
             timeouts={"accept": 2}, site=NO_FREE_CONFERENCE),   # and agent > accept + prompts
    Scenario("no_free_conference_the_agent_leg_gives_up",
             "No conference is free and the agent timeout ends first: Timeout.",
             (f"{A}:answer=0.3,press=1@prompt+0.2",),
             {A: (ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.TIMEOUT)},
             timeouts={"agent": 5, "accept": 10}, site=NO_FREE_CONFERENCE),
    Scenario("agent_timeout", "Nobody presses before the agent timeout: Timeout.",
             (f"{A}:answer=0.3",), {A: (ev.STARTED, ev.ANSWERED, ev.TIMEOUT)},
             timeouts={"agent": 3, "press": 20}),
    Scenario("ami_unreachable", "The manager is down: buzz at once, nothing dialled.",
             (f"{A}:answer=0.3,press=1@prompt+0.2",), {A: (ev.STARTED, ev.HUNGUP)},
             site=AMI_DOWN),
    Scenario("ami_refuses_login", "The manager refuses our login: buzz, nothing dialled.",
             (f"{A}:answer=0.3",), {A: (ev.STARTED, ev.HUNGUP)}, site=AMI_REFUSES),
    Scenario("dialstring_with_non_digits_rings_its_digits",
             "A quote in the dialstring: the dialplan's FILTER lets only its digits through, "
             "so the number rings and the call goes on as dialled without it.",
             (f"{A}:answer=0.3,press=1@prompt+0.2",), {A: WON}, agent=TRANSFER,
             dialstring="9172755'51212",
             not_on_asterisk="the tier's party answers and hangs up at once on this dial "
                             "(a harness limit, not yet found); test_dial_filter.py proves "
                             "the FILTER on the real Asterisk"),
)
BY_NAME = {s.name: s for s in CATALOGUE}


def unplayed() -> list[str]:
    """Scenarios that no runner plays (should be none)."""
    return [s.name for s in CATALOGUE if s.not_simulated and s.not_on_asterisk]


# --- what a runner saw, and the check every runner makes -----------------------------------
@dataclass
class Played:
    rows: dict[str, list[str]]          # number -> the events of its log row, oldest first
    live_rows: int
    agent: str                          # TRANSFER, BUZZ, AGENT_GONE, or what else it saw
    bridged: str = ""                   # the number in the 3-way conference with the agent leg
    story: str = ""                     # the run, for failure messages


def row_events(rows: list[dict]) -> dict[str, list[str]]:
    """phone number -> the events of its log row (one row per number)."""
    found = {r["phone_number"]: [e for e, _ in ev.parse_result(r["result"])] for r in rows}
    assert len(found) == len(rows), f"more than one row per number: {rows}"
    return found


def check(scenario: Scenario, played: Played) -> None:
    """The outcome the catalogue gives, and what every batch keeps: no live row left, each
    row starts with Started and ends with its one terminal event."""
    why = f"\n{scenario.name}: {scenario.about}\n{played.story}"
    assert played.live_rows == 0, why
    assert set(played.rows) == set(scenario.events) | set(scenario.ends), why
    for number, events in played.rows.items():
        terminal = [e for e in events if e in ev.TERMINAL]
        assert events[0] == ev.STARTED and len(events) == len(set(events)), why
        assert len(terminal) == 1 and events[-1] == terminal[0], why
        if number in scenario.events:
            assert tuple(events) == scenario.events[number], why
        else:
            assert events[-1] in scenario.ends[number], why
    winners = [n for n, events in played.rows.items() if events[-1] == ev.TRANSFER]
    assert played.agent == scenario.agent, why
    assert winners == ([played.bridged] if scenario.agent == TRANSFER else []), why

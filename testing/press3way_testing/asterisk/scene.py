"""One 3-way call on the real Asterisk, seen from the test: set up, start, await, inspect.

Channels of a call: the agent leg's AGI runs on `Local/49949907<dialstring>@default-...;2`;
each outside leg on `Local/<dialstring>@default-...;1` (uniqueid: what the agent leg's
Originate set), its party on the `;2` half. A call has settled when the agent leg and every
outside leg have either hung up or joined a conference.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Iterable

from press3way.fastagi.dialplan_urls import SCRIPTS
from press3way.store import Store
from press3way_testing.asterisk import manager, parties
from press3way_testing.asterisk.instance import Instance
from press3way_testing.asterisk.modes import FASTAGI, PER_CALL, FastAGIMode, switched
from press3way_testing.asterisk.recorder import Event, Recorder
from press3way_testing.site import Site

AGENT_LEG_PREFIX = "Local/49949907"
DIAL_PREFIX = "9"                 # what the agent dials before the number (test [default]: _9X.)
SETTLE_TIMEOUT_S = 60.0
QUIET_TIMEOUT_S = 15.0


@dataclass
class Ending:
    """Where a channel ended: hung up (with its cause and last place) or still in a conference."""
    channel: str
    hung_up: bool
    cause: str = ""
    context: str = ""
    exten: str = ""


class Scene:
    def __init__(self, instance: Instance, site: Site, fastagi: FastAGIMode | None = None):
        """`fastagi`: the scene's AGI steps go to that server, else a process each."""
        self.instance, self.site, self.fastagi = instance, site, fastagi
        self.since = 0.0
        self.log_offset = 0
        self.threeway_id = ""
        self.fastagi_ended = 0           # the server's finished calls when the scene began
        self.fastagi_from = 0            # and its number of log lines

    @property
    def mode(self) -> str:
        return FASTAGI if self.fastagi is not None else PER_CALL

    def load_block(self, block: str) -> None:
        """Our dialplan `block` (flags of the test's choosing) in the scene's mode."""
        self.instance.load_block(switched(block, self.fastagi))

    @property
    def rec(self) -> Recorder:
        return self.instance.recorder

    # --- setting up ---------------------------------------------------------------------------
    def begin(self, engine_site: Site | None = None, ami_port: int = 0) -> Scene:
        """Empty tables, empty AGI log, a fresh event window; agent and customer seated.
        `ami_port` other than the instance's puts a port nobody listens on in `servers`."""
        if engine_site is not None:
            self.site = engine_site
        self.reset_site(ami_port or self.instance.ami_port)
        if self.fastagi is not None:
            self.fastagi.follow(self.site)
            self.fastagi_ended = self.fastagi.calls_ended()
            self.fastagi_from = len(self.fastagi.lines())
        self.clear_agi_log()
        self.rec.forget()
        self.since = self.rec.now()
        self.log_offset = self.instance.log_size()
        manager.seat_agent_and_customer(self.rec, self.site.session)
        return self

    def reset_site(self, ami_port: int) -> None:
        """The site's tables as a call finds them, and the scripts' config."""
        self.site.reset(conf_engine="CONFBRIDGE", ami_port=ami_port)
        self.site.write_conf(str(self.instance.host(self.instance.conf_path)),
                             self.instance.agi_logs)

    def clear_agi_log(self) -> None:
        logs = self.instance.host(self.instance.agi_logs)
        shutil.rmtree(logs, ignore_errors=True)
        os.makedirs(logs)

    def call(self, *people: parties.Party, dialstring: str | None = None) -> str:
        """Start the agent's 3-way call to the parties (two or more: a multi-call);
        `dialstring`: what the agent dials instead of 9<the first number>."""
        parties.arrange(self.rec, *people)
        if len(people) > 1:                  # what the agent API's multi_dial_phones does
            with self.site.connect() as conn:
                Store(conn).arm_multi(self.site.user, [p.number for p in people])
        self.threeway_id = manager.start_three_way(self.rec, self.site.session,
                                                   dialstring or DIAL_PREFIX + people[0].number,
                                                   self.site.caller_code)
        return self.threeway_id

    def occupy_conferences(self) -> None:
        """Every 3-way conference taken by somebody else: none can be reserved."""
        with self.site.connect() as conn, conn.cursor() as cur:
            cur.execute("UPDATE vicidial_confbridges SET extension = 'SIP/other' "
                        "WHERE conf_exten <> %s", (self.site.session,))

    def press(self, number: str, digit: str = "1") -> None:
        """The party of `number` presses `digit` now."""
        parties.press(self.rec, self.party_channel(number), digit)

    def press_together(self, numbers: Iterable[str]) -> None:
        """The parties of `numbers` press 1 at the same moment."""
        parties.press_together(self.rec, [self.party_channel(n) for n in numbers])

    def hang_up(self, channel: str) -> None:
        """AMI Hangup by channel name or uniqueid; refused is a test failure."""
        reply = self.rec.action("Hangup", Channel=channel)
        if reply.get("Response") != "Success":
            raise AssertionError(f"Hangup {channel} refused: {reply.get('Message')}")

    def hang_up_agent(self) -> None:
        """The agent's side of the 3-way call goes away (VICIdial hangs up its Local)."""
        self.hang_up(self.threeway_id)

    # --- what happened --------------------------------------------------------------------------
    def events(self, name: str, **match: str) -> list[Event]:
        return self.rec.find(name, self.since, **match)

    def channels_created(self, prefix: str) -> list[str]:
        return [e["Channel"] for e in self.events("Newchannel", Channel=prefix + "*")]

    def outside_legs(self) -> list[str]:
        return [c for c in self.channels_created("Local/9") if c.endswith(";1")]

    def party_channel(self, number: str) -> str:
        """The party's own half (`;2`) of the call to `number`."""
        found = [c for c in self.channels_created("Local/9") if c.endswith(";2")
                 and c.split("@")[0].endswith(number)]
        if not found:
            raise AssertionError(f"no call reached {number}")
        return found[-1]

    def outside_leg(self, number: str) -> str:
        return self.party_channel(number)[:-1] + "1"

    def wait_app(self, channel: str, application: str, timeout: float = 20.0,
                 count: int = 1) -> list[Event]:
        """Await `channel` starting a dialplan application (Newexten)."""
        return self.rec.wait_event("Newexten", timeout, since=self.since, count=count,
                                   Channel=channel, Application=application)

    def wait_agi(self, channel: str, command: str, timeout: float = 20.0) -> Event:
        """Await `channel`'s AGI script starting an AGI command (`STREAM FILE hold_tone`...)."""
        return self.rec.wait_event("AGIExecStart", timeout, since=self.since, Channel=channel,
                                   Command=command)[0]

    def wait_channels(self, prefix: str, count: int, timeout: float = 20.0) -> list[str]:
        self.rec.wait_event("Newchannel", timeout, since=self.since, count=count,
                            Channel=prefix + "*")
        return self.channels_created(prefix)

    def agent_leg(self) -> str:
        legs = [c for c in self.channels_created(AGENT_LEG_PREFIX) if c.endswith(";2")]
        return legs[0] if legs else ""

    def members(self, conference: str) -> set[str]:
        """Channels in a conference now, from the Join and Leave events."""
        inside: set[str] = set()
        for e in [e for e in self.rec.events if e.at >= self.since
                  and e.name in ("ConfbridgeJoin", "ConfbridgeLeave")
                  and e["Conference"] == conference]:
            (inside.add if e.name == "ConfbridgeJoin" else inside.discard)(e["Channel"])
        return inside

    def ending(self, channel: str) -> Ending:
        hangups = self.events("Hangup", Channel=channel)
        if hangups:
            h = hangups[-1]
            return Ending(channel, True, h["Cause-txt"], h["Context"], h["Exten"])
        return Ending(channel, False)

    def _ended_or_joined(self, channel: str) -> bool:
        return bool(self.events("Hangup", Channel=channel)) or any(
            channel in self.members(e["Conference"]) for e in self.events("ConfbridgeJoin",
                                                                          Channel=channel))

    def settled(self, outside: int) -> bool:
        legs = self.outside_legs()
        agent = self.agent_leg()
        return bool(agent) and self._ended_or_joined(agent) and len(legs) >= outside and all(
            self._ended_or_joined(c) for c in legs)

    def wait_settled(self, outside: int, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Await the end of the batch: the agent leg and `outside` outside legs done."""
        self.rec.wait(lambda: self.settled(outside), timeout,
                      f"the agent leg and {outside} outside leg(s) to hang up or join a conference")

    # --- the database -------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict]:
        with self.site.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY call_3way_id")
            return list(cur.fetchall())

    def log_rows(self) -> list[dict]:
        return self.rows("vicidial_3way_press_log")

    def live_rows(self) -> list[dict]:
        return self.rows("vicidial_3way_press_live")

    def agi_log(self) -> str:
        logs = self.instance.host(self.instance.agi_logs)
        return "".join(open(logs / n, encoding="utf-8").read() for n in sorted(os.listdir(logs)))

    def fastagi_log(self) -> list[str]:
        """The FastAGI server's lines since the scene began (none in per-call mode)."""
        return self.fastagi.lines(self.fastagi_from) if self.fastagi is not None else []

    def asterisk_log(self) -> str:
        return self.instance.log_text(self.log_offset)

    # --- afterwards --------------------------------------------------------------------------
    def end(self, timeout: float = QUIET_TIMEOUT_S) -> None:
        """Hang up every channel left and await silence (and the end of every call the
        FastAGI server was sent), so the next test starts empty."""
        self.rec.action("Hangup", Channel="/.*/")     # refused only when none is left
        self.rec.wait(lambda: not self._channels_up(), timeout, "every channel to end")
        runs = [e for e in self.events("Newexten", Application="AGI")     # our scripts' runs
                if re.search(SCRIPTS, e["AppData"])]
        sent = [e for e in runs if e["AppData"].startswith("agi://")]
        if len(sent) != (len(runs) if self.fastagi is not None else 0):   # the mode it claims
            raise AssertionError(f"{self.mode} scene ran AGI() as "
                                 f"{sorted({e['AppData'] for e in runs})}")
        if self.fastagi is not None:
            self.fastagi.await_calls(self.fastagi_ended, len(sent))

    def hang_up_all(self, timeout: float = QUIET_TIMEOUT_S) -> None:
        """Hang up every channel left and await the end of each."""
        self.rec.action("Hangup", Channel="/.*/")     # refused only when none is left
        self.rec.wait(lambda: not self._channels_up(), timeout, "every channel to end")

    def _channels_up(self) -> set[str]:
        up: set[str] = set()
        for e in self.rec.events:
            if e.name == "Newchannel":
                up.add(e["Uniqueid"])
            elif e.name == "Hangup":
                up.discard(e["Uniqueid"])
        return up

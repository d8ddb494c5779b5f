"""The agent leg acts over AMI only on channels it created: an outside call is hung up by the
uniqueid the agent leg's own Originate gave it, never by the channel name its `answered` stage
reported (whoever ran that stage chose the name; AMI's Hangup reads `/.../` as a pattern);
and of the agent's caller id only what Asterisk takes as a number goes into its Originate.

Whole calls in the simulator against the fake AMI (real wire format), in both AGI modes."""

from __future__ import annotations

import pytest

from press3way.telephony.ami import AMIClient, AMIError
from press3way_testing.demo import dialplan_text
from press3way_testing.sim import Simulation, parse_party
from press3way_testing.standins.fakeami import FakeAMI

WINNER, LOSER = "7275551212", "7275551213"
PATTERN = "/.*/"


class LoserReportsAPattern(Simulation):
    """The losing party's outside leg runs on a channel named `/.*/`: its `answered` stage
    reports that name as the call's channel (what a forged AGI environment would send)."""

    def _channel(self, label, name, **kw):
        return super()._channel(label, PATTERN if label == LOSER else name, **kw)


@pytest.mark.usefixtures("agi_mode")
def test_a_defeated_call_is_hung_up_by_its_own_uniqueid_not_by_the_name_it_reported(site):
    sim = LoserReportsAPattern(
        site, site.conf_path,
        [parse_party(f"{WINNER}:answer=0.3,press=1@prompt+0.2"),
         parse_party(f"{LOSER}:answer=0.2")],
        dialplan_text=dialplan_text(), fastagi=site.fastagi, sound_scale=0.1)
    result = sim.run()
    loser_row = next(r for r in result.log_rows if r["phone_number"] == LOSER)
    assert loser_row["call_channel"] == PATTERN, result.format()       # the stage did report it
    actions = sim.ami.actions
    channel_ids = {a["ChannelId"] for a in actions if a.get("Action") == "Originate"}
    hung_up = [a["Channel"] for a in actions if a.get("Action") == "Hangup"]
    assert hung_up and set(hung_up) <= channel_ids, (hung_up, channel_ids)
    # nobody else was cut: agent and winner are in the conference, the loser alone hung up
    assert result.calls["agent"].startswith("in conference"), result.format()
    assert result.calls[WINNER].startswith("in conference"), result.format()
    assert "hung up" in result.calls[LOSER], result.format()


def test_the_ami_client_never_sends_a_pattern_to_hangup():
    with FakeAMI() as ami, AMIClient(ami.host, ami.port) as client:
        client.connect().login("cron", "1234")
        with pytest.raises(AMIError, match="a pattern"):
            client.hangup(PATTERN)
        assert not [a for a in ami.actions if a.get("Action") == "Hangup"]


class AgentWithCallerId(Simulation):
    """The agent leg's channel carries caller id number `text` (agi_callerid)."""
    caller_id = ""

    def _add(self, call):
        if call.label == "agent":
            call.caller_number = self.caller_id
        super()._add(call)


@pytest.mark.parametrize("caller_id, number", [
    ('+1 (727) 555-0000 x<9>"', "172755500009"), ("unknown", ""), ("7" * 40, "7" * 20)])
def test_originate_takes_only_the_digits_of_the_agents_caller_id(site, caller_id, number):
    sim = AgentWithCallerId(site, site.conf_path, [parse_party(f"{WINNER}:busy")],
                            dialplan_text=dialplan_text(), sound_scale=0.1)
    sim.caller_id = caller_id
    result = sim.run()
    originate = next(a for a in sim.ami.actions if a.get("Action") == "Originate")
    (row,) = result.log_rows
    assert originate["CallerID"] == f'"{row["call_3way_id"]}" <{number}>'
    assert row["outbound_cid"] == number

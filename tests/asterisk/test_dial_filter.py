"""What a phone dials after 49907 reaches Dial() filtered (`${FILTER(0-9*#,...)}`), on the
real Asterisk 22: an `&` adds no channel, a `,` sets no Dial option; the call goes on as the
digits alone would have it. Asterisk's own behaviour: checked once, per-call."""

import pytest

from press3way_testing.asterisk import manager, parties
from press3way_testing.asterisk.modes import PER_CALL
from press3way_testing.asterisk.parties import Party
from press3way_testing.asterisk.scene import DIAL_PREFIX

from .expect import bridged

pytestmark = pytest.mark.parametrize("agi_mode", [PER_CALL], indirect=True)

A = "7275551212"
PROMPTS_S = 3.0
# the loop dial of the digits alone: Local/ (the test's TRUNKloop) + 499 + 49907 + dialstring
FILTERED_DIAL = f"Local/49949907{DIAL_PREFIX}{A},,to"


@pytest.mark.parametrize("injected", ["&Local/person@default", ",,A(beep)"])
def test_a_dial_with_an_added_channel_or_option_places_one_call_with_no_option(scene,
                                                                               injected):
    parties.arrange(scene.rec, Party(A, press_at=PROMPTS_S + 0.2))
    since = scene.rec.now()                 # after the agent and the customer sat down
    scene.threeway_id = manager.start_three_way(scene.rec, scene.site.session,
                                                DIAL_PREFIX + A + injected,
                                                scene.site.caller_code)
    scene.wait_settled(outside=1)
    dials = scene.rec.find("Newexten", since, Application="Dial")
    assert [d["AppData"] for d in dials] == [FILTERED_DIAL], [d.fields for d in dials]
    placed = scene.rec.find("DialBegin", since, Channel=dials[0]["Channel"])
    assert [d["DialString"] for d in placed] == [f"49949907{DIAL_PREFIX}{A}"], placed
    assert not scene.rec.find("Newchannel", since, Channel="Local/person@*")
    bridged(scene, A)

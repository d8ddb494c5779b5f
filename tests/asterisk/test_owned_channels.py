"""On the real Asterisk 22: the agent leg hangs up an outside call by the uniqueid its own
Originate gave it, never by the channel name stored for the call (which the `answered` stage
reported, and AMI's Hangup reads `/.../` as a pattern of names: every call on the server)."""

import pytest

from press3way import events as ev
from press3way_testing.asterisk.modes import PER_CALL
from press3way_testing.asterisk.parties import Party

from .expect import batch_over, bridged, hung_up_in

pytestmark = pytest.mark.parametrize("agi_mode", [PER_CALL], indirect=True)

A, B = "7275551212", "7275551213"
ANSWERED_TIMEOUT_S = 20.0


def test_a_defeated_call_whose_stored_channel_is_a_pattern_cuts_only_itself(scene):
    scene.call(Party(A), Party(B))

    def answered(number: str) -> bool:
        return any(r["phone_number"] == number and r["status"] == "ANSWERED"
                   for r in scene.live_rows())
    scene.rec.wait(lambda: answered(A) and answered(B), ANSWERED_TIMEOUT_S,
                   "both outside calls answered")
    # what a forged `answered` stage would have stored for B
    with scene.site.connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE vicidial_3way_press_live SET call_channel = '/.*/' "
                    "WHERE phone_number = %s", (B,))
    scene.press(A)
    scene.wait_settled(outside=2)
    found = batch_over(scene)
    assert found[A][-1] == ev.TRANSFER and found[B][-1] == ev.DEFEATED, found
    bridged(scene, A)                    # agent, customer and A are all still up
    hung_up_in(scene, scene.outside_leg(B))

"""The first proof: one single-accept 3-way call bridged on the real Asterisk."""

from press3way.testing.asterisk.parties import Party

CONF = "8600061"     # the first free 3-way conference of the Site


def test_single_accept_is_bridged(scene):
    scene.call(Party("7275551212", ring=0.3, press_at=3.2))
    scene.wait_settled(outside=1)
    outside, agent_leg = scene.outside_legs()[0], scene.agent_leg()
    assert scene.members(CONF) == {outside, agent_leg}
    rows = scene.log_rows()
    assert len(rows) == 1
    assert [e.split(":")[0] for e in rows[0]["result"].split("|")] == [
        "Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert rows[0]["call_transfer"] == "Y"
    assert scene.live_rows() == []

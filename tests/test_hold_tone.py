"""A press during the agent leg's hold tone never waits for the tone to play out, even when
AMI's stop lands before the playback has begun (on a busy Asterisk it stops nothing then)."""

from __future__ import annotations

from press3way_testing.demo import dialplan_text
from press3way_testing.sim import Simulation, Timeouts, parse_party
from press3way_testing.standins import sounds

TONE_S = 5.0        # long enough that the press lands inside it, whatever the machine's speed


class FirstStopMisses(Simulation):
    """The first ControlPlayback stop arrives before the tone's playback has started."""

    missed = False

    def ami_control_playback(self, target: str, control: str) -> bool:
        if control == "stop" and not self.missed:
            self.missed = True
            self.note("agent", f"AMI ControlPlayback {control} (landed before the playback began)")
            return bool(self._named(target))
        return super().ami_control_playback(target, control)


def test_a_stop_that_lands_before_the_tone_began_is_sent_again(site, tmp_path, monkeypatch):
    (tmp_path / "hold_tone.sln").write_bytes(b"\0" * int(TONE_S * 16000))
    monkeypatch.setenv("PRESS3WAY_SOUNDS", str(tmp_path))
    sounds.seconds.cache_clear()
    try:
        result = FirstStopMisses(
            site, site.conf_path, [parse_party("7275551212:answer=0.2,press=1@6.8")],
            dialplan_text=dialplan_text(), timeouts=Timeouts(agent=30, dial=10, press=20),
            sound_scale=1.0).run()
    finally:
        sounds.seconds.cache_clear()
    stops = [text for _, who, text in result.timeline if "AMI ControlPlayback stop" in text]
    assert stops[0].endswith("(landed before the playback began)"), result.format()
    assert "AMI ControlPlayback stop (stopped the sound)" in stops, result.format()
    assert "in conference" in result.calls["agent"], result.format()

"""What `press3way simulate` prints: the timeline once as it happens, or not at all with
--quiet; then where each channel ended and the batch's log rows."""

from __future__ import annotations

from tests.helpers import cli

PARTIES = ["--party", "7275551212:answer=0.3,press=1@prompt+0.2", "--party",
           "7275551213:noanswer", "--sound-scale", "0.2"]


def simulate(site, *args: str):
    server = site.server
    result = cli(site.conf_path, "simulate", *PARTIES, "--server",
                 f"{server['host']}:{server['port']}:{server['user']}:{server['password']}",
                 *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_simulate_prints_its_timeline_once(innodb_site):
    text = simulate(innodb_site)
    assert text.count("Timeline (seconds):") == 1
    assert text.count("7275551212   answered") == 1
    assert text.index("Timeline (seconds):") < text.index("Where each channel ended:")
    assert "transfer=Y" in text and text.rstrip().endswith("live rows left: 0")


def test_simulate_quiet_prints_only_the_outcome(innodb_site):
    text = simulate(innodb_site, "--quiet")
    assert text.startswith("Where each channel ended:\n")
    assert "Timeline" not in text and "answered" not in text.split("vicidial_3way")[0]
    assert "transfer=Y" in text

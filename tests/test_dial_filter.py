"""The dialplan lets only digits, `*` and `#` of what a phone dialled after 49907 into Dial()
(`${FILTER(0-9*#,...)}`): the simulator runs our dialplan as Asterisk would (the real
Asterisk's proof: tests/asterisk/test_dial_filter.py)."""

from __future__ import annotations

import pytest

from press3way_testing.sim import asterisk_filter
from tests.helpers import play

A = "7275551212"


@pytest.mark.parametrize("injected", ["&Local/person@default", ",,A(beep)"])
def test_a_dial_with_an_added_channel_or_option_rings_only_the_number(site, injected):
    result = play(site, [f"{A}:answer=0.3,press=1@prompt+0.2"], dialstring=f"91{A}{injected}")
    assert [r["phone_number"] for r in result.log_rows] == [A], result.format()
    assert result.calls["agent"].startswith("in conference"), result.format()
    dials = [text for _, who, text in result.timeline if who == "agent" and "Dial(" in text]
    assert dials == [f"default,4990791{A}{injected},1 Dial(TRUNKloop/4994990791{A},,to)"], dials


def test_the_simulators_filter_takes_ranges_and_single_characters():
    assert asterisk_filter("0-9*#", "9*1#a&,/@Z") == "9*1#"
    assert asterisk_filter("a-c,", "abcd,") == "abc,"

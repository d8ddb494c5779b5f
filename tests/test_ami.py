"""The AMI client against the fake AMI server, on the real wire format over loopback."""

from __future__ import annotations

import socket

import pytest

from press3way.ami import AMIClient, AMIError
from press3way.testing.fakeami import FakeAMI


def test_login_originate_response_hangup_logoff():
    hung = []
    with FakeAMI(on_hangup=lambda ch: hung.append(ch) or True) as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        first = client.originate("Local/917275551212@default", "xfer_press_dialplan", "s", 1,
                                 '"T1" <7275550000>', 30000, {"__lead_id": "7"}, ("1764000000.91", "1764000000.92"))
        second = client.originate("Local/917275551213@default", "xfer_press_dialplan", "s", 1,
                                  '"T2" <7275550000>', 30000, {"__lead_id": "7"}, ("1764000001.91", "1764000001.92"))
        assert first != second
        while len(client.originates) < 2:
            client.poll(1)
        assert client.originates[first].success
        assert client.originates[first].channel.startswith("Local/917275551212@default")
        assert client.hangup("1764000001.91")
        assert client.redirect("SIP/x-1", "default", "78600061")
        client.logoff()
    originate = next(a for a in ami.actions if a["Action"] == "Originate")
    assert originate["Async"] == "true" and originate["CallerID"] == '"T1" <7275550000>'
    assert originate["Timeout"] == "30000" and originate["ChannelId"] == "1764000000.91"
    assert originate["OtherChannelId"] == "1764000000.92"
    assert hung == ["1764000001.91"]
    assert ami.actions[-1]["Action"] == "Logoff"


def test_failed_originate_is_reported():
    with FakeAMI(on_originate=lambda o: o.respond(False, reason="5")) as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        action = client.originate("Local/9@default", "c", "s", 1, "x", 1000, {}, ("1.1", "1.2"))
        client.poll(1)
        assert not client.originates[action].success and client.originates[action].reason == "busy"


def test_refused_login():
    with FakeAMI(users={"cron": "other"}) as ami:
        with pytest.raises(AMIError, match="login as 'cron' refused"):
            AMIClient(ami.host, ami.port).connect().login("cron", "1234")


def test_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AMIError, match="unreachable"):
        AMIClient("127.0.0.1", port, timeout=0.5).connect()


def test_silent_server_times_out():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with pytest.raises(AMIError, match="no banner"):
            AMIClient("127.0.0.1", server.getsockname()[1], timeout=0.3).connect()


def test_socket_closed_mid_originate():
    with FakeAMI(close_on_action="Originate") as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        with pytest.raises(AMIError, match="closed"):
            client.originate("Local/9@default", "c", "s", 1, "x", 1000, {}, ("1.1", "1.2"))

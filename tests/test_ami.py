"""The AMI client against the fake AMI server, on the real wire format over loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from press3way.telephony import hangup
from press3way.telephony.ami import AMIClient, AMIError
from press3way_testing.standins.fakeami import FakeAMI


def test_login_originate_response_hangup_logoff():
    hung = []
    with FakeAMI(on_hangup=lambda ch: hung.append(ch) or True) as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        first = client.originate("Local/917275551212@default", "xfer_press_dialplan", "s", 1,
                                 '"T1" <7275550000>', 30000, {"__lead_id": "7"},
                                 ("1764000000.91", "1764000000.92"))
        second = client.originate("Local/917275551213@default", "xfer_press_dialplan", "s", 1,
                                  '"T2" <7275550000>', 30000, {"__lead_id": "7"},
                                  ("1764000001.91", "1764000001.92"))
        assert first != second
        while len(client.originates) < 2:
            client.poll(1)
        assert client.originates[first].success
        assert client.originates[first].channel.startswith("Local/917275551212@default")
        assert client.hangup("1764000001.91")
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
            AMIClient("127.0.0.1", server.getsockname()[1], connect_timeout=0.3).connect()


def test_a_starved_managers_late_banner_and_login_still_get_in():
    """A machine whose two cores are busy: the banner comes after the reply timeout."""
    with FakeAMI(banner_delay=2.5) as ami:
        client = AMIClient(ami.host, ami.port, timeout=2.0).connect()
        client.login("cron", "1234")
        assert client.banner.startswith("Asterisk Call Manager")
        client.logoff()


def test_socket_closed_mid_originate():
    with FakeAMI(close_on_action="Originate") as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        with pytest.raises(AMIError, match="closed"):
            client.originate("Local/9@default", "c", "s", 1, "x", 1000, {}, ("1.1", "1.2"))


class RawSession:
    """A manager session read message by message (to see events the client does not keep)."""

    def __init__(self, ami: FakeAMI, events: str):
        self.sock = socket.create_connection((ami.host, ami.port), timeout=5)
        self.file = self.sock.makefile("rb")
        self.file.readline()                                   # banner
        self.send(f"Action: Login\r\nUsername: cron\r\nSecret: 1234\r\nEvents: {events}")
        assert self.until(lambda m: "Response" in m)["Response"] == "Success"

    def send(self, text: str) -> None:
        self.sock.sendall((text + "\r\n\r\n").encode())

    def message(self) -> dict[str, str]:
        found = {}
        while (line := self.file.readline().decode().rstrip("\r\n")) or not found:
            if line:
                key, _, value = line.partition(": ")
                found[key] = value
        return found

    def until(self, wanted, seen: list | None = None) -> dict[str, str]:
        """Read until a message `wanted` accepts (every message read goes into `seen`)."""
        for _ in range(50):
            message = self.message()
            if seen is not None:
                seen.append(message)
            if wanted(message):
                return message
        raise AssertionError("the message never came")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_every_call_event_goes_to_every_session_that_takes_call_events():
    """Real AMI broadcasts: a session sees other sessions' OriginateResponse events."""
    with FakeAMI() as ami:
        deaf = RawSession(ami, "off")                       # first: the event reaches it first
        other = RawSession(ami, "call")
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        action = client.originate("Local/917275551212@default", "xfer_press_dialplan", "s", 1,
                                  '"T1" <7275550000>', 30000, {},
                                  ("1764000000.17", "1764000000.18"))
        while action not in client.originates:
            client.poll(1)
        event = other.until(lambda m: m.get("Event") == "OriginateResponse")
        assert event["ActionID"] == action and event["Uniqueid"] == "1764000000.17"
        assert event["Privilege"] == "call,all"
        seen: list = []
        deaf.send("Action: Ping\r\nActionID: after")
        deaf.until(lambda m: m.get("ActionID") == "after", seen)
        assert [m for m in seen if "Event" in m] == []
        client.logoff()
        other.close()
        deaf.close()


def test_channel_ids_of_an_originate():
    """ChannelId is the new channel's uniqueid; the Local channel's other half gets
    OtherChannelId, by default ChannelId + ';2'; without either Asterisk makes `epoch.n`."""
    received = []
    with FakeAMI(on_originate=received.append) as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        client.request("Originate", [("Channel", "Local/91@default"), ("Context", "c"),
                                     ("Exten", "s"), ("Priority", "1"), ("Async", "true"),
                                     ("ChannelId", "1764000000.1")])
        client.originate("Local/92@default", "c", "s", 1, "x", 1000, {},
                         ("1764000000.2", "1764000000.3"))
        client.request("Originate", [("Channel", "Local/93@default"), ("Context", "c"),
                                     ("Exten", "s"), ("Priority", "1"), ("Async", "true")])
        client.logoff()
    assert [(o.uniqueid, o.other_uniqueid) for o in received[:2]] == [
        ("1764000000.1", "1764000000.1;2"), ("1764000000.2", "1764000000.3")]
    epoch, _, serial = received[2].uniqueid.partition(".")
    assert epoch.isdigit() and serial.isdigit()
    assert received[2].other_uniqueid != received[2].uniqueid


def test_control_playback_and_redirect_replies():
    controls = []
    with FakeAMI(on_control_playback=lambda ch, c: controls.append((ch, c)) or ch == "SIP/x-1",
                 on_redirect=lambda ch, *target: ch == "SIP/x-1") as ami:
        client = AMIClient(ami.host, ami.port).connect()
        client.login("cron", "1234")
        stop = client.request("ControlPlayback", [("Channel", "SIP/x-1"), ("Control", "stop")])
        unknown = client.request("ControlPlayback", [("Channel", "SIP/y-2"), ("Control", "stop")])
        no_control = client.request("ControlPlayback", [("Channel", "SIP/x-1")])
        moved = client.request("Redirect", [("Channel", "SIP/x-1"), ("Context", "default"),
                                            ("Exten", "78600061"), ("Priority", "1")])
        unmoved = client.request("Redirect", [("Channel", "SIP/y-2"), ("Context", "default"),
                                              ("Exten", "78600061"), ("Priority", "1")])
        client.logoff()
    assert stop["Response"] == "Success" and moved["Response"] == "Success"
    assert unknown["Message"] == "No such channel" and unmoved["Response"] == "Error"
    assert no_control["Message"] == "Control not specified"
    assert controls == [("SIP/x-1", "stop"), ("SIP/y-2", "stop")]


def test_a_leg_hung_up_before_its_originate_places_nothing():
    """A busy machine: the SIGHUP lands between the live row's INSERT and the originate,
    outside any blocking wait, so only a flag records it; the originate must see it."""
    outcome = []

    def leg() -> None:      # a thread of its own: the hang-up state is per thread
        with FakeAMI() as ami:
            client = AMIClient(ami.host, ami.port).connect()
            client.login("cron", "1234")
            hangup.note()
            try:
                client.originate("Local/917275551212@default", "xfer_press_dialplan", "s", 1,
                                 '"T1" <7275550000>', 4000, {}, ("1.1", "1.2"))
                outcome.append("placed")
            except hangup.Hangup:
                outcome.append("refused")
            outcome.append([a for a in ami.actions if a.get("Action") == "Originate"])
    thread = threading.Thread(target=leg)
    thread.start()
    thread.join(10)
    assert outcome == ["refused", []]

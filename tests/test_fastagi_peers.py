"""Hostile FastAGI peers against a real `press3way fastagi` process and the real MariaDB: a
local user who is not Asterisk's, and peers of Asterisk's own user that break the bounds (an
endless line, too many lines, a slow environment, silence after it, a call over the cap).
Each is refused or cut, while real calls through the same server still pass; under 500 idle
or silent peers the database connections and the server's memory stay bounded.

Peers of another user run as `nobody` in processes of their own (the suite runs as root);
peers of Asterisk's user (here the suite's own) are sockets of this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import select
import shutil
import socket
import subprocess
import sys
import time

import psutil
import pytest

from press3way.admin import mode
from press3way.database import query
from press3way.fastagi import request
from press3way.legs import agent, outside
from press3way_testing.fastagi import FastAGIServer
from tests.helpers import events, start_calls

# the system's Python: the test's own may live where nobody cannot read (a root-only pyenv)
PEER_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run peers as nobody"),
              pytest.mark.skipif(PEER_PYTHON is None, reason="no /usr/bin/python3 for the peers")]
WAIT_S = 30
MAX_CALLS, MAX_DB, REPLY_S = 50, 8, 3
PEERS = 500

# A peer of its own process, as `nobody`: opens `count` connections, sends `send` (hex) on
# each (`close`: and closes at once), says "ready", holds them until its stdin ends (`hold`),
# then reports what each received and whether the server closed it.
PEER = r"""
import json, select, socket, sys
args = json.loads(sys.argv[1])
socks = []
for _ in range(args["count"]):
    if args.get("mapped"):          # an IPv6 socket, to 127.0.0.1 as ::ffff:127.0.0.1
        s = socket.socket(socket.AF_INET6)
        s.connect(("::ffff:127.0.0.1", args["port"]))
    else:
        s = socket.create_connection(("127.0.0.1", args["port"]), timeout=10)
    try:
        s.sendall(bytes.fromhex(args["send"]))
    except OSError:
        pass
    if args.get("close"):
        s.close()
    else:
        socks.append(s)
print("ready", flush=True)
if args.get("hold"):
    sys.stdin.read()
out = []
for s in socks:
    got, closed = b"", False
    while select.select([s], [], [], 10)[0]:
        try:
            chunk = s.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            closed = True
            break
        got += chunk
    out.append({"got": got.decode("utf-8", "replace"), "closed": closed})
print(json.dumps(out), flush=True)
"""


def nobody_peer(port: int, send: bytes, count: int = 1, hold: bool = False,
                close: bool = False, mapped: bool = False) -> subprocess.Popen:
    """A peer process of user nobody; returns once its connections are made."""
    args = json.dumps({"port": port, "count": count, "send": send.hex(), "hold": hold,
                       "close": close, "mapped": mapped})
    peer = subprocess.Popen([PEER_PYTHON, "-I", "-c", PEER, args], user="nobody",
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline() == "ready\n"
    return peer


def peer_results(peer: subprocess.Popen) -> list[dict]:
    out, _ = peer.communicate(timeout=WAIT_S + 20)
    return json.loads(out)


def environment(script: str, port: int, **pairs: str) -> bytes:
    env = {"agi_network": "yes", "agi_network_script": script,
           "agi_request": f"agi://127.0.0.1:{port}/{script}", "agi_uniqueid": "1700000000.9",
           **pairs}
    return ("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode()


def agent_environment(site, port: int) -> bytes:
    """What Asterisk sends for an agent's 3-way call: with a live caller code, this would log
    into AMI and originate to the number the peer chose."""
    return environment(agent.SCRIPT, port, agi_channel="Local/8600051@default-1;2",
                       agi_calleridname=site.caller_code, agi_callerid="7275550000",
                       agi_extension="49907919005551212", agi_arg_1="start---5---5")


def outside_environment(port: int, stage: str = "answered") -> bytes:
    return environment(outside.SCRIPT, port, agi_channel="SIP/carrier-66", agi_arg_1=stage)


def connect(port: int, send: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if send:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):   # cut already
            sock.sendall(send)
    return sock


def read_to_close(sock: socket.socket, timeout: float = WAIT_S) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection: (bytes, closed in time)."""
    got = b""
    deadline = time.monotonic() + timeout
    while select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
        try:
            chunk = sock.recv(65536)
        except OSError:                 # reset: cut with our bytes unread
            return got, True
        if not chunk:
            return got, True
        got += chunk
    return got, False


def threads_connected(conn) -> int:
    return int(query(conn, "SHOW STATUS LIKE 'Threads_connected'")[0]["Value"])


@pytest.fixture
def server(site, tmp_path):
    with FastAGIServer(site.conf_path, max_calls=MAX_CALLS, options=(
            "--max-db-connections", str(MAX_DB), "--reply-timeout", str(REPLY_S))) as running:
        site.fastagi = running
        yield running
    site.fastagi = None


def real_call_passes(site) -> None:
    (cid,) = start_calls(site)
    result = site.outside("answered", cid)
    assert result.exit_code == 0 and events(site, cid) == ["Started", "Answered"]


def test_a_peer_of_another_user_gets_no_command_and_no_call(site, server):
    peer = nobody_peer(server.port, agent_environment(site, server.port))
    assert peer_results(peer) == [{"got": "", "closed": True}]
    assert server.wait_for_line(r"refused a connection from nobody \(uid 65534\): not "
                                r"Asterisk's user", WAIT_S)
    assert not server.find(r"\|call ")                          # no leg ran
    db = site.connect()
    assert query(db, "SELECT * FROM vicidial_3way_press_live") == []
    assert query(db, "SELECT * FROM vicidial_3way_press_log") == []
    real_call_passes(site)


def test_a_peer_of_another_user_on_an_ipv6_socket_is_refused_too(site, server):
    if not socket.has_ipv6 or not os.path.exists("/proc/net/tcp6"):
        pytest.skip("no IPv6 in this kernel")
    peer = nobody_peer(server.port, agent_environment(site, server.port), mapped=True)
    assert peer_results(peer) == [{"got": "", "closed": True}]
    assert server.wait_for_line(r"refused a connection from nobody \(uid 65534\)", WAIT_S)
    assert not server.find(r"\|call ")


def test_a_peer_that_sends_its_request_and_closes_is_not_taken_for_root(site, server):
    """Once closed, its socket is a time-wait entry that the kernel's table shows as root's."""
    nobody_peer(server.port, agent_environment(site, server.port), close=True).communicate(
        timeout=WAIT_S)
    assert server.wait_for_line(r"refused a connection from (nobody|a peer already gone)",
                                WAIT_S)
    assert not server.find(r"\|call ")
    assert query(site.connect(), "SELECT * FROM vicidial_3way_press_log") == []


def test_an_endless_line_is_cut_at_4_kib_and_costs_the_server_no_memory(site, server):
    rss = psutil.Process(server.proc.pid)
    before = rss.memory_info().rss
    sock = connect(server.port, b"agi_network: yes\nagi_channel: ")
    sent, cut = 0, False
    try:
        while sent < 64 << 20:                                  # 64 MiB without a newline
            sent += sock.send(b"x" * 65536)
    except OSError:                                             # reset by the server
        cut = True
    assert cut and sent < 64 << 20
    assert server.wait_for_line(r"cannot read the AGI environment: an environment line "
                                rf"longer than {request.MAX_LINE} bytes", WAIT_S)
    assert rss.memory_info().rss - before < 8 << 20
    sock.close()
    real_call_passes(site)


def test_too_many_lines_are_cut_without_a_command(server):
    lines = "".join(f"agi_x{n}: y\n" for n in range(request.MAX_LINES * 5)).encode()
    sock = connect(server.port, lines)
    got, closed = read_to_close(sock)
    assert got == b"" and closed
    assert server.wait_for_line(rf"more than {request.MAX_LINES} environment lines", WAIT_S)


def test_a_slow_environment_is_cut_at_its_deadline(server):
    """A line a second: each read is quick, but the whole environment is late."""
    lines = outside_environment(server.port).splitlines(keepends=True)
    sock = connect(server.port)
    sent = 0
    for line in lines:
        if select.select([sock], [], [], 1.0)[0]:               # closed by the server
            break
        sock.sendall(line)
        sent += 1
    assert sent < len(lines)
    got, closed = read_to_close(sock)
    assert got == b"" and closed
    assert server.wait_for_line(r"no complete environment within 5 s", WAIT_S)


def test_a_peer_silent_after_its_environment_is_cut_after_the_reply_deadline(site, server):
    (cid,) = start_calls(site)
    sock = connect(server.port, outside_environment(server.port))
    got, closed = read_to_close(sock)
    assert closed and got.startswith(b"GET VARIABLE")           # asked, never answered
    assert server.wait_for_line(r"\|call 1700000000\.9 .*: status 0 after", WAIT_S)
    assert "channel hung up: connection to Asterisk lost: timed out" in site.agi_log()
    real_call_passes(site)


def test_a_call_refused_for_capacity_is_ended_promptly(site, tmp_path):
    with FastAGIServer(site.conf_path, max_calls=1,
                       options=("--reply-timeout", str(REPLY_S))) as server:
        holder = connect(server.port)                          # takes the only slot
        refused = connect(server.port, outside_environment(server.port))
        got, closed = read_to_close(refused)
        assert closed and got == b"SET EXTENSION i\n"           # the i path, then cut
        assert server.find(r"refused a call: 1 calls in progress")
        holder.close()


def test_500_idle_or_silent_peers_leave_connections_and_memory_bounded(site, server):
    db = site.connect()
    real_call_passes(site)                                      # the pool has its first one
    connections_before = threads_connected(db)
    memory = psutil.Process(server.proc.pid)
    rss_before = memory.memory_info().rss
    strangers = nobody_peer(server.port, outside_environment(server.port), PEERS // 2,
                            hold=True)
    assert server.wait_for_line(r"refused a connection from nobody", WAIT_S, PEERS // 2)
    real_call_passes(site)                                      # strangers take no slot
    ours = [connect(server.port, outside_environment(server.port) if n % 2 else b"")
            for n in range(PEERS // 2)]                         # silent, or idle
    peak_connections, peak_rss = 0, 0
    open_peers = list(ours)
    deadline = time.monotonic() + WAIT_S
    while open_peers and time.monotonic() < deadline:          # sampled until all are cut
        peak_connections = max(peak_connections, threads_connected(db))
        peak_rss = max(peak_rss, memory.memory_info().rss)
        readable = select.select(open_peers, [], [], 0.2)[0]
        for sock in readable:
            got, closed = read_to_close(sock, 0)
            if closed:
                open_peers.remove(sock)
                sock.close()
    assert not open_peers, f"{len(open_peers)} peers still open after {WAIT_S} s"
    assert all(r == {"got": "", "closed": True} for r in peer_results(strangers))
    print(f"\n{PEERS} peers: database connections {connections_before} -> peak "
          f"{peak_connections}; server RSS {rss_before >> 20} -> peak {peak_rss >> 20} MiB")
    assert peak_connections - connections_before <= MAX_DB
    assert peak_rss - rss_before < 64 << 20
    real_call_passes(site)


# --- the port: our server recognised, never "something accepted a connection" -------------
def listener_program(answer: str) -> str:
    """A program that takes the port: says nothing, says something, or imitates our probe's
    answer from what the probe sent."""
    return rf"""
import socket, sys
l = socket.create_server(("127.0.0.1", 0))
print(l.getsockname()[1], flush=True)
while True:
    c, _ = l.accept()
    data = c.recv(4096).decode()
    nonce = [x.split(": ")[1] for x in data.splitlines() if x.startswith("agi_arg_1")]
    answer = {answer!r}
    if answer == "imitate" and nonce:
        c.sendall(('VERBOSE "press3way fastagi ' + nonce[0] + '" 1\n').encode())
    elif answer not in ("", "imitate"):
        c.sendall(answer.encode())
    c.close()
"""


@pytest.mark.parametrize("answer, why", [
    ("", "something accepted the connection and closed it without answering"),
    ("200 result=0\n", "something answered that is not press3way's server"),
    ('VERBOSE "press3way fastagi 0123" 1\n', "something answered that is not press3way's"),
    ("imitate", "its socket is nobody (uid 65534)'s, neither Asterisk's user nor root"),
], ids=["silent", "agi reply", "stale nonce", "imitation by another user"])
def test_a_listener_that_is_not_our_server_is_never_taken_for_it(answer, why):
    program = subprocess.Popen([PEER_PYTHON, "-I", "-c", listener_program(answer)],
                               user="nobody", stdout=subprocess.PIPE, text=True)
    try:
        port = int(program.stdout.readline())
        assert why in (mode.probe(port) or "")
        assert not mode.server_result(port).ok
    finally:
        program.kill()
        program.wait()


def test_our_server_is_recognised_and_a_second_one_says_who_holds_the_port(server, site):
    assert mode.probe(server.port) is None
    assert mode.server_result(server.port).ok
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "press3way"),
                             "fastagi", "--port", str(server.port), "--config", site.conf_path],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 1
    me = pwd.getpwuid(os.getuid()).pw_name
    assert result.stderr.strip() == (f"Error: cannot start the FastAGI server: 127.0.0.1:"
                                     f"{server.port} is in use: another press3way fastagi "
                                     f"serves it (run by {me} (uid {os.getuid()}))")

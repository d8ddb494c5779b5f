"""Who is on the other end of a FastAGI connection: the Linux user that owns the peer's socket,
asked of the kernel for that one socket (a sock_diag query over netlink, as `ss` makes them).

Why a uid and not a secret in the `agi://` URL: the URL lives in the dialplan, and on a VICIdial
server that is System Settings' Custom Dialplan Entry, which every user of VICIdial's admin
pages can read, and extensions-vicidial.conf, which VICIdial's keepalive rewrites from it
without caring who may read the file. A secret there would be known to every admin-page user
and to whoever reads the Asterisk directory. The kernel, instead, records which user created
each socket, and no user can make a socket that belongs to another: a connection whose socket
belongs to Asterisk's user comes from Asterisk (or from root).

Whom we accept: root always (root can read astguiclient.conf and the AMI secret itself, so
refusing it would protect nothing; and Asterisk runs as root on many VICIdial installs), plus
the users given with `--peer-user`; by default the user the server runs as (the systemd unit
runs it as Asterisk's user) and `asterisk` where that user exists.

The peer's socket is looked up by its own (address, port) -> our (address, port) pair, and
only while a process still holds it (its inode is not 0): a socket its owner has already
closed becomes a kernel "time-wait" entry that the kernel reports as root's, so a peer that
sends its request and closes at once must never be taken for root. One exact lookup costs
about 15 microseconds whatever the number of sockets on the host (reading /proc/net/tcp, as
this module first did, cost a read of every socket's row at every accept: under a burst of
calls, with a thousand sockets open, the accepts queued behind it).
"""

from __future__ import annotations

import os
import pwd
import socket
import struct

ROOT = 0
NETLINK_SOCK_DIAG = 4           # linux/netlink.h
SOCK_DIAG_BY_FAMILY = 20        # linux/sock_diag.h
NLM_F_REQUEST, NLMSG_ERROR = 1, 2
NO_COOKIE = 0xFFFFFFFF          # INET_DIAG_NOCOOKIE: look the socket up by its addresses
ALL_STATES = 0xFFFFFFFF
ANSWER_TIMEOUT_S = 1.0          # the kernel answers at once; never wait without a bound
_HEADER = struct.Struct("=IHHII")           # struct nlmsghdr
_REQUEST = struct.Struct("=BBBBI")          # struct inet_diag_req_v2, up to its socket id
_PORTS = struct.Struct("!HH")               # inet_diag_sockid: sport, dport (network order)
_TAIL = struct.Struct("=III")               # ... its interface and cookie
_OWNER = struct.Struct("=II")               # struct inet_diag_msg's idiag_uid, idiag_inode
_OWNER_AT = _HEADER.size + 64


class PeerError(ValueError):
    """A --peer-user that is no user of this system."""


def uid_of(user: str) -> int:
    """A user name or a numeric uid."""
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise PeerError(f"no user {user!r} on this system (--peer-user)") from None


def name_of(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def default_users() -> list[str]:
    """The server's own user and `asterisk` where it exists."""
    users = [str(os.geteuid())]
    try:
        users.append(str(pwd.getpwnam("asterisk").pw_uid))
    except KeyError:
        pass
    return users


def accepted_uids(users: list[str] | tuple[str, ...] = ()) -> frozenset[int]:
    """Root plus `users` (default: `default_users()`)."""
    return frozenset({ROOT, *(uid_of(u) for u in (users or default_users()))})


def _address(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host).ljust(16, b"\0")


def _owner(family: int, local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The uid of the TCP socket bound to `local` and connected to `remote` (a listener:
    remote ("0.0.0.0", 0), which also finds one bound to every address), while a process
    holds it; None when there is no such socket. OSError when the kernel cannot be asked."""
    request = (_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_STATES)
               + _PORTS.pack(local[1], remote[1]) + _address(family, local[0])
               + _address(family, remote[0]) + _TAIL.pack(0, NO_COOKIE, NO_COOKIE))
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        diag.settimeout(ANSWER_TIMEOUT_S)
        diag.sendto(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY,
                                 NLM_F_REQUEST, 1, 0) + request, (0, 0))
        answer = diag.recv(4096)
    if len(answer) < _OWNER_AT + _OWNER.size or _HEADER.unpack_from(answer)[1] == NLMSG_ERROR:
        return None                     # ENOENT: no such socket
    uid, inode = _OWNER.unpack_from(answer, _OWNER_AT)
    return uid if inode else None


def _spellings(family: int, host: str) -> list[tuple[int, str]]:
    """How a socket bound to `host` can be asked for: an IPv4 address also as an IPv6
    socket's ::ffff:a.b.c.d."""
    if family == socket.AF_INET:
        return [(family, host), (socket.AF_INET6, f"::ffff:{host}")]
    return [(family, host)]


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of an accepted loopback connection, or None (not on
    this host, or already closed)."""
    ours, theirs = sock.getsockname()[:2], sock.getpeername()[:2]
    for (family, their_host), (_, our_host) in zip(_spellings(sock.family, theirs[0]),
                                                   _spellings(sock.family, ours[0])):
        uid = _owner(family, (their_host, theirs[1]), (our_host, ours[1]))
        if uid is not None:
            return uid
    return None


def listener_uid(host: str, port: int) -> int | None:
    """The uid owning the socket that listens on (host, port) (or on every address), or None."""
    for family, local in _spellings(socket.AF_INET, host):
        nowhere = "0.0.0.0" if family == socket.AF_INET else "::"
        uid = _owner(family, (local, port), (nowhere, 0))
        if uid is not None:
            return uid
    return None

"""Who is on the other end of a FastAGI connection: the Linux user that owns the peer's socket,
read from the kernel's table of TCP sockets (/proc/net/tcp, /proc/net/tcp6).

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
closed becomes a kernel "time-wait" entry that the table shows as root's, so a peer that sends
its request and closes at once must never be taken for root.
"""

from __future__ import annotations

import os
import pwd
import socket
import sys

ROOT = 0
LISTEN = "0A"
TABLES: dict[int, str] = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}


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


def _hex_address(family: int, host: str) -> str:
    """An address as the kernel's table prints it: each 32-bit word in host byte order."""
    raw = socket.inet_pton(family, host)
    return "".join(f"{int.from_bytes(raw[i:i + 4], sys.byteorder):08X}"
                   for i in range(0, len(raw), 4))


def _entry(family: int, host: str, port: int) -> str:
    return f"{_hex_address(family, host)}:{port:04X}"


def _spellings(family: int, host: str, port: int) -> list[tuple[int, str]]:
    """Where a socket bound to (host, port) can appear: an IPv4 address also as an IPv6
    socket's ::ffff:a.b.c.d."""
    found = [(family, _entry(family, host, port))]
    if family == socket.AF_INET:
        found.append((socket.AF_INET6, _entry(socket.AF_INET6, f"::ffff:{host}", port)))
    return found


def _table(family: int) -> str:
    try:
        with open(TABLES[family], encoding="ascii") as table:
            return table.read()
    except OSError:                     # no IPv6 in this kernel: no such sockets either
        return ""


def _uid_where(family: int, local: str, remote: str, state: str | None = None) -> int | None:
    """The uid column of the row with these columns (`sl local rem st tx:rx tr:when
    retrnsmt uid timeout inode ...`) of a socket some process still holds (inode not 0);
    a substring search, as the table has a row per socket of the host."""
    text = _table(family)
    at = text.find(f" {local} {remote} {state or ''}")
    if at < 0:
        return None
    fields = text[at:text.find("\n", at)].split()
    if len(fields) < 9 or not fields[6].isdigit() or fields[8] == "0":
        return None
    return int(fields[6])


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of an accepted loopback connection, or None (not on
    this host, already closed, or no such table)."""
    ours = sock.getsockname()[:2]
    theirs = sock.getpeername()[:2]
    for (family, local), (_, remote) in zip(_spellings(sock.family, *theirs),
                                            _spellings(sock.family, *ours)):
        uid = _uid_where(family, local, remote)
        if uid is not None:
            return uid
    return None


def listener_uid(host: str, port: int) -> int | None:
    """The uid owning the socket that listens on (host, port) (or on every address), or None."""
    places = [*_spellings(socket.AF_INET, host, port), *_spellings(socket.AF_INET, "0.0.0.0", port),
              (socket.AF_INET6, _entry(socket.AF_INET6, "::", port))]
    for family, local in places:
        nowhere = _entry(family, "0.0.0.0" if family == socket.AF_INET else "::", 0)
        uid = _uid_where(family, local, nowhere, LISTEN)
        if uid is not None:
            return uid
    return None

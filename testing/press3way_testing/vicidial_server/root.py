"""The VICIdial-server root: the Asterisk root's packages plus what VICIdial's programs need.

A root of its own (the Asterisk tier's stays as it is), built by the Asterisk tier's builder.
The Perl modules are the ones `bin/*.pl` `use` (Switch and Term::ANSIColor for the ConfBridge
cleaner, procps for the keepalive's `ps`), php-cli and php-mysql for `www/agc/*.php`.
"""

from __future__ import annotations

from press3way_testing.asterisk import root as asterisk_root

VICIDIAL = asterisk_root.RootKind(
    default_path="/var/cache/press3way/vicidial-root",
    env="PRESS3WAY_VICIDIAL_ROOT",
    packages=asterisk_root.PACKAGES + (
        "libdbd-mysql-perl", "libnet-telnet-perl", "libnet-server-perl",
        "libasterisk-agi-perl", "libswitch-perl", "procps", "php-cli", "php-mysql"),
    label="the VICIdial-server root")


def main() -> int:
    """`python -m press3way_testing.vicidial_server.root`: build the root if it can be."""
    try:
        path = asterisk_root.ensure_root(kind=VICIDIAL)
    except asterisk_root.RootUnavailable as exc:
        print(f"VICIdial-server tier skipped: {exc}")
        return 0
    print(f"VICIdial-server root ready: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

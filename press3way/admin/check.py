"""`press3way check`: is everything the feature needs on this server in order?

One result per item, OK or the exact fix; an item that needs a failed one is skipped.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator

from .. import config, database, vicidial
from ..telephony.ami import AMIClient, AMIError
from . import block, migrate, mode
from .install import Target, landing_results
from .results import Result
from .scripts import SCRIPTS, is_ours

SOUNDS = ("hold_tone", "buzz", "sip-silence", "outside-sales", "press-1", "now")


def run(conf_path: str | None, agi_dir: str | None,
        target_for: Callable[[config.Config], Target]) -> Iterator[Result]:
    """Every check, in order. `target_for(cfg)` gives where the dialplan block should be."""
    try:
        cfg = config.load(conf_path)
    except config.ConfigError as exc:
        yield Result("config file", False, f"{exc}; write it (VICIdial's install does) or set "
                                            "PRESS3WAY_CONF to the file that has VARDB_*")
        return
    yield Result("config file", True, cfg.path)
    yield from _scripts(agi_dir or cfg.agi_dir)
    yield from _sounds(cfg.sounds_dir)
    try:
        conn = database.connect(cfg)
    except database.DatabaseError as exc:
        yield Result("database login", False, f"{exc}; fix VARDB_* in {cfg.path}")
        yield Result("tables, servers row, AMI login, dialplan", None, "need the database")
        return
    yield Result("database login", True, f"{cfg.db_user}@{cfg.db_host}:{cfg.db_port}/{cfg.db_name}")
    yield from _tables(conn)
    yield from _server_and_ami(conn, cfg)
    yield from _dialplan(lambda: target_for(cfg))
    conn.close()


def _scripts(agi_dir: str) -> Iterator[Result]:
    for name in SCRIPTS:
        path = os.path.join(agi_dir, name)
        ok = os.access(path, os.X_OK) and is_ours(path)
        yield Result(f"AGI script {path}", ok,
                     "" if ok else "missing, not executable or not press3way's: run "
                                   f"`press3way install --agi-dir {agi_dir}`")


def _sounds(sounds_dir: str) -> Iterator[Result]:
    dirs = [sounds_dir, os.path.join(sounds_dir, "en")]
    for sound in SOUNDS:
        found = [os.path.join(d, f) for d in dirs if os.path.isdir(d) for f in sorted(os.listdir(d))
                 if f.startswith(sound + ".")]
        yield Result(f"sound {sound}", bool(found), found[0] if found else
                     f"no {sound}.* (.wav, .gsm, .ulaw, .sln...) in {' or '.join(dirs)}: copy it "
                     "there from VICIdial's sounds (or set PATHsounds)")


def _tables(conn) -> Iterator[Result]:
    for table in migrate.plan(conn):
        if table.engine is None:
            yield Result(f"table {table.table}", False, "missing: run `press3way install`")
        elif table.steps:
            yield Result(f"table {table.table} ({table.engine})", False,
                         "; ".join(s.what for s in table.steps) + ": run `press3way install`")
        else:
            yield Result(f"table {table.table} ({table.engine})", True, "every column and index")


def _server_and_ami(conn, cfg: config.Config) -> Iterator[Result]:
    try:
        srv = vicidial.server(conn, cfg.server_ip)
    except (vicidial.NotFound, database.DatabaseError) as exc:
        yield Result(f"servers row for {cfg.server_ip}", False,
                     f"{exc}: add the server in VICIdial (Admin > Servers), or fix VARserver_ip "
                     f"or VARDB_database in {cfg.path}")
        yield Result("AMI login", None, "needs the servers row")
        return
    yield Result(f"servers row for {cfg.server_ip}", True)
    host, port = cfg.ami_host or srv.telnet_host, cfg.ami_port or srv.telnet_port
    user, secret = cfg.ami_user or srv.ami_user, cfg.ami_secret or srv.ami_secret
    client = AMIClient(host, port, timeout=3)
    try:
        client.connect().login(user, secret)
    except AMIError as exc:
        yield Result(f"AMI login {user}@{host}:{port}", False,
                     f"{exc}; make servers.telnet_host/telnet_port/ASTmgrUSERNAME/ASTmgrSECRET "
                     "(or VARami_* in the config) match a user in Asterisk's manager.conf")
    else:
        yield Result(f"AMI login {user}@{host}:{port}", True)
    finally:
        client.logoff()


def _dialplan(target_for: Callable[[], Target]) -> Iterator[Result]:
    """Our block in the target, then where it lands in the dialplan Asterisk loads."""
    item = "dialplan block"
    try:
        target = target_for()
        item += f" in {target.label}"
        text = target.read()
        for warning in target.warnings():
            yield Result("Custom Dialplan Entry kept by the admin page", True, warning, warn=True)
        installed = mode.of(text)          # a block in either mode is current
        ours = installed.block(target.dial_contexts())
        if block.installed(text, ours):
            yield Result(item, True, installed.describe())
        else:
            yield Result(item, False, ("outdated" if block.find(text) else "missing")
                         + ": run `press3way install` with the same --dialplan-file/--vicidial")
            return
        if installed.port is not None:
            yield mode.server_result(installed.port)
        yield from landing_results(target, ours)
    except block.DialplanError as exc:
        yield Result(item, False, str(exc))
    except (database.DatabaseError, OSError) as exc:
        yield Result(item, False, f"{exc}: run `press3way install` with the same "
                                  "--dialplan-file/--vicidial")

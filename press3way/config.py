"""Read VICIdial's /etc/astguiclient.conf (or the file named by PRESS3WAY_CONF)."""

from __future__ import annotations

import os

from .lean_dataclass import lean_dataclass

DEFAULT_PATH = "/etc/astguiclient.conf"


class ConfigError(Exception):
    """The configuration file is missing or lacks a key we need."""


@lean_dataclass(frozen=True)
class Config:
    server_ip: str
    db_host: str
    db_name: str
    db_user: str
    db_pass: str
    db_port: int = 3306
    db_ssl: bool = False
    db_ssl_ca: str | None = None      # the CA file to verify the server by (else the system's)
    logs_dir: str = "/var/log/astguiclient"
    agi_dir: str = "/var/lib/asterisk/agi-bin"
    sounds_dir: str = "/var/lib/asterisk/sounds"
    path: str = DEFAULT_PATH
    # Optional overrides of the `servers` row's AMI settings.
    ami_host: str | None = None
    ami_port: int | None = None
    ami_user: str | None = None
    ami_secret: str | None = None
    # Batches of this server waiting for a winner at once (legs/admission.py); None: the
    # default of the AGI mode, 0: no limit.
    max_batches: int | None = None


def parse(text: str) -> dict[str, str]:
    """`KEY => value` lines; `#` and `;` start comments (whole-line or trailing)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=>" not in line:
            continue
        key, _, value = line.partition("=>")
        for mark in ("#", ";"):
            if mark in value:
                value = value.split(mark, 1)[0]
        values[key.strip()] = value.strip()
    return values


def conf_path() -> str:
    return os.environ.get("PRESS3WAY_CONF") or DEFAULT_PATH


def load(path: str | None = None) -> Config:
    path = path or conf_path()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            values = parse(f.read())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    missing = [k for k in ("VARserver_ip", "VARDB_server", "VARDB_database", "VARDB_user")
               if not values.get(k)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}")

    def number(key: str, default: int | None) -> int | None:
        text = values.get(key)
        if not text:
            return default
        if not text.isdigit():
            raise ConfigError(f"{path}: {key} must be a number, not {text!r}")
        return int(text)

    return Config(
        server_ip=values["VARserver_ip"],
        db_host=values["VARDB_server"],
        db_name=values["VARDB_database"],
        db_user=values["VARDB_user"],
        db_pass=values.get("VARDB_pass", ""),
        db_port=number("VARDB_port", 3306) or 3306,
        db_ssl=values.get("VARDB_ssl", "0").lower() in ("1", "y", "yes", "on", "true"),
        db_ssl_ca=values.get("VARDB_ssl_ca") or None,
        logs_dir=values.get("PATHlogs") or Config.logs_dir,
        agi_dir=values.get("PATHagi") or Config.agi_dir,
        sounds_dir=values.get("PATHsounds") or Config.sounds_dir,
        path=path,
        ami_host=values.get("VARami_host") or None,
        ami_port=number("VARami_port", None),
        ami_user=values.get("VARami_user") or None,
        ami_secret=values.get("VARami_secret") or None,
        max_batches=number("VARpress3way_max_batches", None),
    )

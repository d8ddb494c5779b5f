"""A private MariaDB for the whole run (pytest-mysql), a VICIdial site in it per engine,
and helpers to run the real AGI scripts through the fake-AGI harness."""

from __future__ import annotations

import os
import sys

import pytest
from pytest_mysql import factories

from press3way.testing.standins.channel import SimChannel
from press3way.testing.standins.fakeagi import AGIResult, FakeAGI
from press3way.testing.mariadb import tcp_login
from press3way.testing.site import Site

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTSIDE = os.path.join(ROOT, "bin", "agi-3way_press_outside.agi")
AGENT = os.path.join(ROOT, "bin", "agi-3way_press_agent.agi")

mysql_proc = factories.mysql_proc()


@pytest.fixture(scope="session")
def mariadb(mysql_proc) -> dict:
    return tcp_login(mysql_proc.unixsocket, mysql_proc.port)


class SiteRunner(Site):
    """A Site plus the config file and helpers the tests use."""
    conf_path: str
    logs_dir: str

    def agi(self, script: str, args: list[str], channel: SimChannel, **kw) -> AGIResult:
        env = dict(os.environ, PRESS3WAY_CONF=self.conf_path)
        return FakeAGI(script, channel, args, interpreter=sys.executable, process_env=env,
                       **kw).run(timeout=60)

    def outside(self, stage: str, call_id: str, *, channel_name: str = "SIP/carrier-0000001",
                presses=(), hangup_at=None, **kw) -> AGIResult:
        channel = SimChannel(channel_name, variables={"call_3way_id": call_id} if call_id else {},
                             presses=list(presses), hangup_at=hangup_at, sound_scale=0.1)
        return self.agi(OUTSIDE, [stage], channel, context="xfer_press_dialplan", **kw)

    def agi_log(self) -> str:
        text = ""
        for name in sorted(os.listdir(self.logs_dir)):
            with open(os.path.join(self.logs_dir, name), encoding="utf-8") as f:
                text += f.read()
        return text


def _site(mariadb, tmp_path_factory, engine: str) -> SiteRunner:
    site = SiteRunner(server=mariadb, db_name=f"press3way_{engine.lower()}")
    site.create(engine)
    base = tmp_path_factory.mktemp(engine)
    site.logs_dir = str(base / "logs")
    os.makedirs(site.logs_dir)
    site.conf_path = site.write_conf(str(base / "astguiclient.conf"), site.logs_dir)
    return site


@pytest.fixture(scope="session")
def innodb_site(mariadb, tmp_path_factory) -> SiteRunner:
    return _site(mariadb, tmp_path_factory, "InnoDB")


@pytest.fixture(scope="session")
def myisam_site(mariadb, tmp_path_factory) -> SiteRunner:
    return _site(mariadb, tmp_path_factory, "MyISAM")


def _fresh(site: SiteRunner) -> SiteRunner:
    """An empty site: its rows reset and its AGI log emptied."""
    site.reset()
    for name in os.listdir(site.logs_dir):
        os.remove(os.path.join(site.logs_dir, name))
    return site


@pytest.fixture(params=["InnoDB", "MyISAM"])
def any_site(request) -> SiteRunner:
    """Each test using this runs on both engines, from an empty site."""
    return _fresh(request.getfixturevalue(
        "innodb_site" if request.param == "InnoDB" else "myisam_site"))


@pytest.fixture
def site(innodb_site) -> SiteRunner:
    return _fresh(innodb_site)

"""A private MariaDB for the whole run (pytest-mysql), a VICIdial site in it per engine,
and helpers to run the real AGI scripts through the fake-AGI harness."""

from __future__ import annotations

import os
import sys

import pytest
from pytest_mysql import factories

from press3way_testing.fastagi import FastAGIServer
from press3way_testing.mariadb import tcp_login
from press3way_testing.site import Site
from press3way_testing.standins.channel import SimChannel
from press3way_testing.standins.fakeagi import AGIResult, FakeAGI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
# tests/<directory>/ is a tier of its own, marked with its name; the top level is the
# stand-in tier. The markers are registered in setup.cfg ([tool:pytest] markers).
TIERS = ("asterisk", "vicidial", "vicidial_server", "faults")
TOP_TIER = "standins"
# Stand-in modules that play many whole calls or generated inputs (minutes on 2 cores), or need
# root: marked `slow`, as is the FastAGI run of a test that runs in both modes, so `make check`
# (`-m "standins and not slow"`) stays a few minutes. `make test` runs everything.
SLOW = ("test_race.py", "test_agi_hangups.py", "test_hostile.py", "test_cluster.py",
        "test_load.py", "test_deadlines.py", "test_cli_errors.py", "test_multi_live.py",
        "test_install_fastagi.py", "test_install_disk.py")
OUTSIDE = os.path.join(ROOT, "bin", "agi-3way_press_outside.agi")
AGENT = os.path.join(ROOT, "bin", "agi-3way_press_agent.agi")

mysql_proc = factories.mysql_proc()


def tier(path: str) -> str:
    """The tier of a test file, by its directory."""
    parts = os.path.relpath(path, TESTS).split(os.sep)
    if len(parts) == 1:
        return TOP_TIER
    if parts[0] not in TIERS:
        raise pytest.UsageError(f"tests/{parts[0]}/ is no tier: add it to TIERS in "
                                "tests/conftest.py and to the markers in setup.cfg")
    return parts[0]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on its item (`item.rep_call`): the real-Asterisk tiers keep a
    failed test's logs."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.hookimpl(tryfirst=True)     # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items) -> None:
    """Every test carries its tier's marker (`pytest -m standins`), no test file names it."""
    for item in items:
        item.add_marker(tier(str(item.path)))
        if item.path.name in SLOW or _second_mode(item):
            item.add_marker("slow")


def _second_mode(item) -> bool:
    """The FastAGI run of a stand-in test that runs in both modes: the legs are one code path
    (legs/runner.py), and the server itself is tests/test_fastagi.py's."""
    callspec = getattr(item, "callspec", None)
    return (tier(str(item.path)) == TOP_TIER and callspec is not None
            and "fastagi" in callspec.params.values())     # agi_mode, or a module's own


@pytest.fixture(scope="session")
def mariadb(mysql_proc) -> dict:
    return tcp_login(mysql_proc.unixsocket, mysql_proc.port)


class SiteRunner(Site):
    """A Site plus the config file and helpers the tests use."""
    conf_path: str
    logs_dir: str
    fastagi: FastAGIServer | None = None    # set: the AGI steps call this server

    def agi(self, script: str, args: list[str], channel: SimChannel, **kw) -> AGIResult:
        env = dict(os.environ, PRESS3WAY_CONF=self.conf_path)
        return FakeAGI(script, channel, args, interpreter=sys.executable, process_env=env,
                       server=self.fastagi, **kw).run(timeout=60)

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
    """A session's site of one engine, with its FastAGI server started when first asked."""
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


def _fastagi_server(site: SiteRunner):
    with FastAGIServer(site.conf_path) as server:
        yield server


@pytest.fixture(scope="session")
def innodb_fastagi(innodb_site) -> FastAGIServer:
    yield from _fastagi_server(innodb_site)


@pytest.fixture(scope="session")
def myisam_fastagi(myisam_site) -> FastAGIServer:
    yield from _fastagi_server(myisam_site)


@pytest.fixture(params=["process", "fastagi"])
def agi_mode(request) -> str:
    """A test module using this (`pytestmark = pytest.mark.usefixtures("agi_mode")`) runs
    each AGI step both as a process of its own and through the FastAGI server."""
    return request.param


def _fresh(site: SiteRunner, request, engine: str) -> SiteRunner:
    """An empty site: its rows reset, its AGI log emptied, in the test's AGI mode."""
    site.reset()
    for name in os.listdir(site.logs_dir):
        os.remove(os.path.join(site.logs_dir, name))
    fastagi = ("agi_mode" in request.fixturenames
               and request.getfixturevalue("agi_mode") == "fastagi")
    site.fastagi = request.getfixturevalue(f"{engine.lower()}_fastagi") if fastagi else None
    return site


@pytest.fixture(params=["InnoDB", "MyISAM"])
def any_site(request) -> SiteRunner:
    """Each test using this runs on both engines, from an empty site."""
    site = _fresh(request.getfixturevalue(f"{request.param.lower()}_site"), request,
                  request.param)
    yield site
    site.fastagi = None             # the session's site runs processes unless a test says


@pytest.fixture
def site(innodb_site, request) -> SiteRunner:
    yield _fresh(innodb_site, request, "InnoDB")
    innodb_site.fastagi = None

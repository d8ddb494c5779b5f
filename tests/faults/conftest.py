"""The fault sweep's session: a MariaDB of its own (started at collection, because the cases
come from the statements a fault-free call sends), the cases as test items, all selected
cases played at once in parallel, and one summary line at the end.

Every case runs with a process per AGI step (per-call) and, by default a share of them, with
the AGI steps through a `press3way fastagi` server (FastAGI).

PRESS3WAY_FAULTS=quick: InnoDB, the single call, first occurrences only (both modes).
PRESS3WAY_FAULTS_FASTAGI=all: every case in FastAGI mode too; =off: per-call only; unset: the
  default share (`cases.fastagi_default`).
PRESS3WAY_FAULTS_BACKUP=all: every backup lock case outlasting the call both by seconds and by
  minutes (default: one of the two per stage and table set, in turn).
PRESS3WAY_FAULTS_WORKERS=N: calls played at once (default 8; docs/testing.md says why).
PRESS3WAY_FAULTS_STALL_S=S: how long a stalled statement is held (default 5).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field

import pytest

from press3way_testing.faults import cases as sweep_cases
from press3way_testing.faults import report, runner
from press3way_testing.mariadb import MariaDBMissing, throwaway_server

QUICK = os.environ.get("PRESS3WAY_FAULTS", "") == "quick"
WORKERS = int(os.environ.get("PRESS3WAY_FAULTS_WORKERS", "8"))
FASTAGI_SCOPE = os.environ.get("PRESS3WAY_FAULTS_FASTAGI", "default")
EVERY_BACKUP = os.environ.get("PRESS3WAY_FAULTS_BACKUP", "") == "all"
BASELINE_TRIES = 3


@dataclass
class _Session:
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    server: dict | None = None
    workdir: str = ""
    cases: list | None = None
    problem: str = ""                   # why there are no cases (skip or failure)
    skip: bool = False
    outcomes: dict = field(default_factory=dict)


_session = _Session()


def _baseline(worker, engine: str, scenario: str, mode: str):
    """A fault-free call (retried: a flaky baseline must not hide the whole sweep)."""
    errors = []
    for _ in range(BASELINE_TRIES):
        try:
            return runner.baseline(worker, engine, scenario, mode)
        except RuntimeError as exc:
            errors.append(str(exc))
    raise RuntimeError(errors[0])


def catalogue() -> list:
    """Start the sweep's MariaDB, record the fault-free calls, derive the cases (once)."""
    if _session.cases is not None:
        return _session.cases
    _session.cases = []
    try:
        _session.server = _session.stack.enter_context(throwaway_server())
    except MariaDBMissing as exc:
        _session.problem, _session.skip = str(exc), True
        return _session.cases
    _session.workdir = _session.stack.enter_context(
        tempfile.TemporaryDirectory(prefix="press3way-faults-"))
    engines = ("InnoDB",) if QUICK else sweep_cases.ENGINES
    scenarios = ("single",) if QUICK else sweep_cases.TRACED
    modes = sweep_cases.MODES if FASTAGI_SCOPE != "off" else (sweep_cases.PER_CALL,)
    worker = runner.Worker(_session.server, "baseline", _session.workdir)
    try:
        baselines = {mode: [_baseline(worker, e, s, mode) for e in engines for s in scenarios]
                     for mode in modes}
    except RuntimeError as exc:
        _session.problem = str(exc)
        return _session.cases
    finally:
        worker.close()
    for mode, bases in baselines.items():
        cases = sweep_cases.fault_cases(bases, later=not QUICK)
        if not QUICK:
            cases += sweep_cases.hangup_cases(bases) + sweep_cases.lock_cases(engines, mode)
            cases += sweep_cases.backup_cases(engines, mode, every=EVERY_BACKUP)
        if mode == sweep_cases.FASTAGI:
            cases += sweep_cases.stale_pool_cases(engines)
            if FASTAGI_SCOPE != "all":
                cases = sweep_cases.fastagi_default(cases)
        _session.cases += cases
    return _session.cases


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = catalogue()
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def sweep(request) -> dict:
    """Every selected case, played at once on parallel workers; outcomes by case id."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if hasattr(item, "callspec") and "case" in item.callspec.params]
    outcomes = runner.run_all(_session.server, selected, _session.workdir, WORKERS)
    _session.outcomes = {o.case.id: o for o in outcomes}
    return _session.outcomes


@pytest.fixture(scope="session")
def sweep_problem() -> tuple[str, bool]:
    catalogue()
    return _session.problem, _session.skip


def pytest_terminal_summary(terminalreporter):
    if not _session.outcomes:
        return
    outcomes = list(_session.outcomes.values())
    path = os.path.join(tempfile.gettempdir(), "press3way-fault-sweep.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(report.details(outcomes))
    terminalreporter.write_line(report.summary_line(outcomes) + f" (details: {path})")


def pytest_unconfigure(config):
    _session.stack.close()


@pytest.fixture(scope="session")
def sweep_server(sweep_problem) -> dict:
    """The sweep's MariaDB (skips with the reason when there is none)."""
    problem, skip = sweep_problem
    if _session.server is None:
        pytest.skip(problem or "no MariaDB for the fault sweep")
    return _session.server


@pytest.fixture
def worker(sweep_server, tmp_path):
    """A worker of its own (database, proxy, config), for the harness's own tests."""
    own = runner.Worker(sweep_server, "selftest", str(tmp_path))
    yield own
    own.close()

"""The sweep's cases: every distinct statement of a fault-free single call and of a 3-number
multi-call, each lost before, lost after, or stalled; a hang-up of the agent leg at each of its
start-up statements and AGI commands; a table lock through each stage.

Each case runs in one of two modes: the AGI steps as processes of their own (per-call), or
through a `press3way fastagi` server whose pool keeps connections across calls. There a hang-up
is a `HANGUP` line, not a SIGHUP, and one more case cuts every pooled connection before a call.
"""

from __future__ import annotations

from dataclasses import dataclass

from press3way_testing.faults.proxy import ACTIONS, STALL, Statement
from press3way_testing.faults.statements import slug
from press3way_testing.sim import Timeouts

SCENARIOS = {
    "single": ("7275551212:answer=0.2,press=1@prompt+0.1",),
    # one winner; the second presses later (Too Slow or Defeated), the third never presses
    "multi": ("7275551212:answer=0.2,press=1@prompt+0.1",
              "7275551213:answer=0.2,press=1@prompt+0.5",
              "7275551214:answer=0.3"),
    "declined": ("7275551212:answer=0.2,press=5@prompt+0.1",),     # the lock runs' declined
}
TRACED = ("single", "multi")        # the calls whose statements make the fault cases
TIMEOUTS = Timeouts(agent=6, dial=4, press=3, accept=4)
SOUND_SCALE = 0.1
ENGINES = ("InnoDB", "MyISAM")
NO_FAULT = "none"
SIGHUP = "sighup"               # per-call: the agent leg's process gets SIGHUP
HANGUP = "hangup"               # FastAGI: the server reads a HANGUP line on the call's socket
LOCK = "lock"
STALE_POOL = "stale_pool"       # FastAGI: every pooled connection cut while idle, then a call
PER_CALL = "per-call"
FASTAGI = "FastAGI"
MODES = (PER_CALL, FASTAGI)
HANGUPS = {PER_CALL: SIGHUP, FASTAGI: HANGUP}
# Where a LOCK TABLES ... WRITE (as mysqldump) starts, and whose channel then hangs up.
LOCK_STAGES = {"agent_start": "single", "agent_waiting": "single", "answered": "single",
               "accepted": "single", "declined": "declined"}
# The nightly backup (docs/behaviour.md, "Backups lock the tables"): READ locks from a stage
# until after the call has ended by itself, on the log table alone or on every table as
# `mysqldump --lock-tables` takes them; outlasting the call by seconds, or by minutes (the
# rows are aged instead of waiting, and a `cleanup` runs during the lock too). Then one
# `press3way cleanup`: the log must be complete.
BACKUP = "backup"
BACKUP_STAGES = {**LOCK_STAGES, "agent_waiting": "multi"}
BACKUP_TABLES = ("log", "all")
OUTLASTS = ("seconds", "minutes")


@dataclass(frozen=True)
class Case:
    engine: str
    scenario: str
    kind: str                   # drop_before, drop_after, stall, sighup, lock or none
    statement: str = ""         # normalised text (faults)
    hint: str = ""
    occurrence: int = 1
    at: str = ""                # sighup/hangup: statement (the agent's first of it) or
                                # command-N; lock: a LOCK_STAGES name
    mode: str = PER_CALL
    tables: str = ""            # backup: the tables READ-locked (BACKUP_TABLES)
    outlast: str = ""           # backup: by how much the lock outlasts the call (OUTLASTS)

    @property
    def id(self) -> str:
        head = f"{self.engine}-{self.scenario}-{self.kind}"
        if self.mode == FASTAGI:
            head = f"fastagi-{head}"
        word = f"-{self.hint.lower().replace(' ', '_')}" if self.hint else ""
        if self.kind in ACTIONS:
            return f"{head}-{slug(self.statement)}{word}-{self.occurrence}"
        if self.statement:
            return f"{head}-{self.at}-{slug(self.statement)}{word}"
        if self.kind == BACKUP:
            return f"{head}-{self.at}-{self.tables}-{self.outlast}"
        return f"{head}-{self.at}" if self.at else head


@dataclass
class Baseline:
    """A fault-free run: its statements and the agent leg's AGI commands."""
    mode: str
    engine: str
    scenario: str
    trace: list[Statement]
    agent_commands: int
    agent_first_command: float | None    # time.monotonic() of the agent leg's first command

    def agent_startup(self) -> list[tuple[int, Statement]]:
        """The agent leg's statements before its first AGI command, numbered from 1 on its
        connection (the one that sent the run's first statement: only the agent leg runs
        then, in both modes)."""
        mine = [st for st in self.trace if st.connection == self.trace[0].connection]
        return [(n, st) for n, st in enumerate(mine, 1)
                if self.agent_first_command is None or st.sent_at < self.agent_first_command]

    def loop_occurrence(self, key: tuple[str, str]) -> int | None:
        """For a statement a loop repeats on one connection: the occurrence number of its
        second sending there (the first pass of the loop after the first)."""
        per_connection: dict[int, int] = {}
        for st in self.trace:
            if st.key == key:
                per_connection[st.connection] = per_connection.get(st.connection, 0) + 1
                if per_connection[st.connection] == 2:
                    return st.occurrence
        return None


def fault_cases(baselines: list[Baseline], *, later: bool = True) -> list[Case]:
    """Each distinct (statement, hint) once per engine, in the first scenario that sends it,
    at its first occurrence; with `later`, also at its second pass of a loop that repeats it."""
    cases: list[Case] = []
    seen: set[tuple[str, str, str]] = set()
    for base in baselines:
        for st in base.trace:
            if st.occurrence != 1 or (base.engine,) + st.key in seen:
                continue
            seen.add((base.engine,) + st.key)
            occurrences = [1]
            again = base.loop_occurrence(st.key) if later else None
            if again is not None:
                occurrences.append(again)
            cases += [Case(base.engine, base.scenario, action, st.normalised, st.hint, n,
                           mode=base.mode) for n in occurrences for action in ACTIONS]
    return cases


def hangup_cases(baselines: list[Baseline]) -> list[Case]:
    """The agent leg hung up (SIGHUP per call, a HANGUP line over FastAGI) as it first sends
    each distinct statement of its start-up (before its first AGI command), and at each of
    its AGI commands."""
    cases = []
    seen: set[tuple[str, str, str, str]] = set()
    for base in baselines:
        kind = HANGUPS[base.mode]
        for _, st in base.agent_startup():
            if (base.mode, base.engine) + st.key not in seen:
                seen.add((base.mode, base.engine) + st.key)
                cases.append(Case(base.engine, base.scenario, kind, st.normalised, st.hint,
                                  at="statement", mode=base.mode))
        if base.scenario == "single":
            cases += [Case(base.engine, base.scenario, kind, at=f"command-{k}", mode=base.mode)
                      for k in range(1, base.agent_commands + 1)]
    return cases


def lock_cases(engines: tuple[str, ...] = ENGINES, mode: str = PER_CALL) -> list[Case]:
    return [Case(engine, scenario, LOCK, at=stage, mode=mode) for engine in engines
            for stage, scenario in LOCK_STAGES.items()]


def backup_cases(engines: tuple[str, ...] = ENGINES, mode: str = PER_CALL,
                 every: bool = False) -> list[Case]:
    """Each stage, locked table set and engine; the lock outlasting the call by seconds or
    by minutes in turn (`every`: both, PRESS3WAY_FAULTS_BACKUP=all)."""
    cases = []
    for engine in engines:
        for n, (stage, scenario) in enumerate(BACKUP_STAGES.items()):
            for k, tables in enumerate(BACKUP_TABLES):
                outlasts = OUTLASTS if every else (OUTLASTS[(n + k) % len(OUTLASTS)],)
                cases += [Case(engine, scenario, BACKUP, at=stage, mode=mode, tables=tables,
                               outlast=outlast) for outlast in outlasts]
    return cases


def stale_pool_cases(engines: tuple[str, ...] = ENGINES) -> list[Case]:
    """FastAGI only: a call that finds every pooled connection cut while it sat idle."""
    return [Case(engine, "single", STALE_POOL, mode=FASTAGI) for engine in engines]


def fastagi_default(cases: list[Case]) -> list[Case]:
    """The FastAGI cases `make test` runs (PRESS3WAY_FAULTS_FASTAGI=all runs every one): the
    DB faults at each statement's first occurrence (a loop's second pass left out) on both
    engines, except a stall on MyISAM of a statement InnoDB also sends (a stall ends by the
    client's read timeout, the same on both; the MyISAM election's own statements keep
    theirs); every hang-up, lock and cut pool."""
    innodb_stalls = {(c.statement, c.hint) for c in cases
                     if c.kind == STALL and c.engine == "InnoDB"}
    return [c for c in cases if c.kind not in ACTIONS or (
        c.occurrence == 1 and not (c.kind == STALL and c.engine == "MyISAM"
                                   and (c.statement, c.hint) in innodb_stalls))]


def distinct_statements(cases: list[Case]) -> int:
    return len({c.statement for c in cases if c.kind in ACTIONS})

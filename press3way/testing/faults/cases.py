"""The sweep's cases: every distinct statement of a fault-free single call and of a 3-number
multi-call, each lost before, lost after, or stalled; a hang-up of the agent leg at each of its
start-up statements and AGI commands; a table lock through each stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sim import Timeouts
from .proxy import ACTIONS, Statement
from .statements import slug

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
SIGHUP = "sighup"
LOCK = "lock"
# Where a LOCK TABLES ... WRITE (as mysqldump) starts, and whose channel then hangs up.
LOCK_STAGES = {"agent_start": "single", "agent_waiting": "single", "answered": "single",
               "accepted": "single", "declined": "declined"}


@dataclass(frozen=True)
class Case:
    engine: str
    scenario: str
    kind: str                   # drop_before, drop_after, stall, sighup, lock or none
    statement: str = ""         # normalised text (faults)
    hint: str = ""
    occurrence: int = 1
    at: str = ""                # sighup: statement (the agent's first of it) or command-N;
                                # lock: a LOCK_STAGES name

    @property
    def id(self) -> str:
        head = f"{self.engine}-{self.scenario}-{self.kind}"
        word = f"-{self.hint.lower().replace(' ', '_')}" if self.hint else ""
        if self.kind in ACTIONS:
            return f"{head}-{slug(self.statement)}{word}-{self.occurrence}"
        if self.statement:
            return f"{head}-{self.at}-{slug(self.statement)}{word}"
        return f"{head}-{self.at}" if self.at else head


@dataclass
class Baseline:
    """A fault-free run: its statements and the agent leg's AGI commands."""
    engine: str
    scenario: str
    trace: list[Statement]
    agent_commands: int
    agent_first_command: float | None    # time.monotonic() of the agent leg's first command

    def agent_startup(self) -> list[tuple[int, Statement]]:
        """The agent leg's statements (connection 1) before its first AGI command, numbered
        from 1 on that connection."""
        mine = [st for st in self.trace if st.connection == 1]
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
            cases += [Case(base.engine, base.scenario, action, st.normalised, st.hint, n)
                      for n in occurrences for action in ACTIONS]
    return cases


def sighup_cases(baselines: list[Baseline]) -> list[Case]:
    """The agent leg hung up as it first sends each distinct statement of its start-up
    (before its first AGI command), and at each of its AGI commands."""
    cases = []
    seen: set[tuple[str, str, str]] = set()
    for base in baselines:
        for _, st in base.agent_startup():
            if (base.engine,) + st.key not in seen:
                seen.add((base.engine,) + st.key)
                cases.append(Case(base.engine, base.scenario, SIGHUP, st.normalised, st.hint,
                                  at="statement"))
        if base.scenario == "single":
            cases += [Case(base.engine, base.scenario, SIGHUP, at=f"command-{k}")
                      for k in range(1, base.agent_commands + 1)]
    return cases


def lock_cases(engines: tuple[str, ...] = ENGINES) -> list[Case]:
    return [Case(engine, scenario, LOCK, at=stage) for engine in engines
            for stage, scenario in LOCK_STAGES.items()]


def distinct_statements(cases: list[Case]) -> int:
    return len({c.statement for c in cases if c.kind in ACTIONS})

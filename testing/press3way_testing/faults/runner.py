"""Play one case: a whole simulated call whose AGI scripts reach MariaDB through the fault
proxy, with at most one fault, then every invariant. Bounded: a call that does not end in
time is a violation, and the harness ends it (connections cut, channels hung up, its own AGI
processes killed by pid, its FastAGI server restarted) instead of hanging.

In FastAGI mode the worker's `press3way fastagi` server runs every AGI step; its config is
the worker's, so its pool's connections go through the worker's proxy. The server and its
pool live on from case to case, as on a real system: a connection a fault broke, or one the
pool kept idle, is what the next call gets.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import psutil

from press3way_testing.demo import dialplan_text
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.faults import backup, invariants
from press3way_testing.faults.cases import (
    BACKUP,
    FASTAGI,
    HANGUPS,
    LOCK,
    NO_FAULT,
    PER_CALL,
    SCENARIOS,
    SOUND_SCALE,
    STALE_POOL,
    TIMEOUTS,
    Baseline,
    Case,
)
from press3way_testing.faults.proxy import ACTIONS, Fault, FaultProxy, Statement
from press3way_testing.sim import SimResult, Simulation, parse_party
from press3way_testing.site import Site

STALL_S = float(os.environ.get("PRESS3WAY_FAULTS_STALL_S", "5"))
# A call ends within the agent timeout plus the winner's wait plus a stall; beyond this it is stuck.
# (generous: a loaded 2-core machine runs a call several times slower than an idle one).
RUN_BOUND_S = TIMEOUTS.agent + TIMEOUTS.accept + STALL_S + 20
LOCKED_TABLES = "vicidial_3way_press_live WRITE, vicidial_3way_press_log WRITE"
LOCK_HOLD_S = 10.0          # longer than any call (a mysqldump of a big table): let go of
                            # as soon as every channel has ended
HANGUP_AFTER_LOCK_S = 0.5
LOCK_TAKEN_WITHIN_S = 5.0   # the stage starts only once the lock is held (or this passed)
ENDS_WITHIN_S = 5.0         # after its hang-up, even with the tables locked
FASTAGI_IDLE_S = 15.0       # a stuck call's hang-ups reach the server's legs within this
SERVER_LOG = "|press3way-fastagi|"     # the server's own lines (its legs log as the scripts)


@dataclass
class Outcome:
    case: Case
    violations: list[str]
    fired: Statement | None = None          # the statement the fault hit
    seconds: float = 0.0
    report: str = ""                        # the simulator's timeline and rows
    trace: list[Statement] = field(default_factory=list)
    result: SimResult | None = None
    agent_first_command: float | None = None  # time.monotonic() of the agent leg's first one


class WatchedSimulation(Simulation):
    """The simulator, telling `watch(who, text)` each timeline note as it happens, and
    `on_ended()` when every channel has ended."""

    def __init__(self, *args, watch: Callable[[str, str], None],
                 on_ended: Callable[[], None], **kw):
        super().__init__(*args, **kw)
        self.watch, self.on_ended = watch, on_ended

    def ended(self) -> None:
        self.on_ended()

    def note(self, who: str, text: str) -> None:
        super().note(who, text)
        self.watch(who, text)


class Worker:
    """One database, one proxy and one config file: plays cases one after another."""

    def __init__(self, server: dict, name: str, workdir: str, serial: int = 0):
        # A lead (so a caller code, so a MyISAM election lock name) of its own: GET_LOCK names
        # are server-wide, and workers must not wait on each other's elections.
        self.site = Site(server=server, db_name=f"press3way_faults_{name}",
                         lead_id=1_234_000 + serial)
        self.proxy = FaultProxy(server["host"], server["port"]).__enter__()
        self.logs_dir = os.path.join(workdir, name, "logs")
        os.makedirs(self.logs_dir, exist_ok=True)
        behind_proxy = replace(self.site, server={**server, "port": self.proxy.port})
        self.conf_path = behind_proxy.write_conf(os.path.join(workdir, name, "astguiclient.conf"),
                                                 self.logs_dir)
        # the administrator's commands (cleanup) reach the database directly
        self.admin_conf = self.site.write_conf(os.path.join(workdir, name, "admin.conf"),
                                               self.logs_dir)
        self.engine = ""
        self.fastagi: FastAGIServer | None = None

    def close(self) -> None:
        self.stop_fastagi()
        self.proxy.close()

    def fastagi_server(self) -> FastAGIServer:
        """The worker's FastAGI server, started on first use (and again if it died)."""
        if self.fastagi is None or self.fastagi.proc.poll() is not None:
            self.stop_fastagi()
            self.fastagi = FastAGIServer(self.conf_path).start()
        return self.fastagi

    def stop_fastagi(self, timeout: float = 30) -> None:
        if self.fastagi is not None:
            self.fastagi.stop(timeout)
            self.fastagi = None

    def run(self, case: Case) -> Outcome:
        if case.engine != self.engine:
            self.site.create(case.engine)
            self.engine = case.engine
            self.proxy.drop_all()       # pooled connections whose database was just dropped
        if case.kind == STALE_POOL and self.proxy.open_connections() == 0:
            _Run(self, Case(case.engine, case.scenario, NO_FAULT, mode=FASTAGI)).play()
        for name in os.listdir(self.logs_dir):
            os.remove(os.path.join(self.logs_dir, name))
        return _Run(self, case).play()

    def own_agi_processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.environ().get("PRESS3WAY_CONF") == self.conf_path:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found


class _Run:
    """One case on one worker."""

    def __init__(self, worker: Worker, case: Case):
        self.worker, self.case = worker, case
        self.violations: list[str] = []
        self.hung_up = False
        self.agent_first_command: float | None = None
        self.hangup_at: float | None = None
        self.release_lock = threading.Event()
        self.locked = threading.Event()
        self.lock_thread: threading.Thread | None = None
        self.agent_connection: int | None = None    # the connection of the run's first statement
        self.server = worker.fastagi_server() if case.mode == FASTAGI else None
        self.server_lines = len(self.server.lines) if self.server else 0
        self.server_restarted = False
        self.cleanup_lines: list[str] = []
        self.sim = self._simulation()

    def _simulation(self) -> WatchedSimulation:
        case = self.case
        at_command = None
        if case.kind == HANGUPS[case.mode] and case.at.startswith("command-"):
            at_command = ("agent", 1, int(case.at.split("-")[1]))
        return WatchedSimulation(
            self.worker.site, self.worker.conf_path,
            [parse_party(p) for p in SCENARIOS[case.scenario]], dialplan_text=dialplan_text(),
            timeouts=TIMEOUTS, sound_scale=SOUND_SCALE, hangup_at_command=at_command,
            watch=self._watch, on_ended=self.release_lock.set, fastagi=self.server)

    # --- playing --------------------------------------------------------------------------
    def play(self) -> Outcome:
        case, proxy = self.case, self.worker.proxy
        fault = Fault(case.statement, case.kind, case.occurrence, case.hint, STALL_S) \
            if case.kind in ACTIONS else None
        if case.kind == STALE_POOL:
            self._cut_pool()
        elif case.mode == FASTAGI and fault is not None and case.statement.startswith("SET "):
            proxy.drop_all()            # a connection's set-up: only sent when the pool connects
        proxy.reset(fault, self._on_statement)
        started = time.monotonic()
        result = self._bounded_run()
        ended = time.monotonic()
        self.release_lock.set()
        if self.lock_thread is not None:
            self.lock_thread.join(timeout=LOCK_HOLD_S + 5)
        if case.mode == PER_CALL:
            proxy.drop_all()            # FastAGI: the pool keeps its connections for the next case
        trace = proxy.trace()
        self._server_health()
        outcome = Outcome(case, self.violations, proxy.fired, round(ended - started, 3),
                          result.format() if result else "", trace, result,
                          self.agent_first_command)
        if result is None:
            return outcome
        # the call ended with its last AGI script (the simulator's own reads of the rows
        # afterwards wait for the lock like anybody's)
        self._lock_timing(self.sim.t0 + max((r.ended for r in result.agi_runs), default=0.0))
        self._stalls(trace)
        if case.kind == BACKUP:
            result = self._after_backup(result)
            outcome.report += "\n\nAfter the lock and one cleanup:\n" + result.format()
        conn = self.worker.site.connect()
        try:
            self.violations += invariants.check(
                result, conn, self.worker.logs_dir, self.worker.site.caller_code,
                invariants.Relaxed(unlogged_ends=case.kind == LOCK))
        finally:
            conn.close()
        return outcome

    def _after_backup(self, result: SimResult) -> SimResult:
        """The backup is over: the rows aged as the lock outlasted the call, one cleanup,
        and the batch's log rows as they are then."""
        worker, case = self.worker, self.case
        try:
            backup.age(worker.site, backup.CLEANUP_AFTER_S[case.tables, case.outlast])
            self.cleanup_lines += backup.cleanup_once(worker.admin_conf)
        except Exception as exc:    # noqa: BLE001 - whatever it is, the case reports it
            self.violations.append(f"cleanup after the lock failed: {exc!r}")
        return backup.reread(worker.site, result)

    def _bounded_run(self) -> SimResult | None:
        box: list[SimResult] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                box.append(self.sim.run())
            except BaseException as exc:        # noqa: BLE001 - reported as a violation
                errors.append(exc)
        thread = threading.Thread(target=target, daemon=True, name=f"case-{self.case.id}")
        thread.start()
        thread.join(RUN_BOUND_S)
        if thread.is_alive():
            self.violations.append(f"stuck: the call had not ended after {RUN_BOUND_S:.0f} s "
                                   f"({self._stuck_where()})")
            self._unstick()
            thread.join(30)
            if thread.is_alive():
                self.violations.append("the harness could not end the stuck call")
                return None
        if self.server is not None and self.server.pending():
            self.violations.append(f"FastAGI calls still running after the call: "
                                   f"{[w.channel for w in self.server.pending()]}")
            self._restart_server()
        stray = self.worker.own_agi_processes()
        if stray:
            self.violations.append(f"AGI processes still running: {[p.pid for p in stray]}")
            self._kill(stray)
        if errors:
            self.violations.append(f"simulator error: {errors[0]!r}")
        return box[0] if box else None

    def _stuck_where(self) -> str:
        running = [c.label for c in list(self.sim.calls.values()) if not c.ended]
        scripts = []
        for proc in self.worker.own_agi_processes():
            try:
                scripts.append(" ".join(os.path.basename(a) for a in proc.cmdline()[1:]))
            except psutil.NoSuchProcess:
                continue
        return (f"channels still up: {', '.join(running) or 'none'}; "
                f"AGI scripts still running: {', '.join(scripts) or 'none'}")

    def _unstick(self) -> None:
        self.release_lock.set()
        self.worker.proxy.drop_all()
        for call in list(self.sim.calls.values()):
            call.channel.hang_up("harness: call stuck")
        self._kill(self.worker.own_agi_processes())
        if self.server is not None and not self.server.wait_idle(FASTAGI_IDLE_S):
            self.violations.append("the FastAGI server's legs of the stuck call did not end "
                                   f"within {FASTAGI_IDLE_S:.0f} s of their hang-up")
            self._restart_server()

    def _restart_server(self) -> None:
        """Kill the worker's wedged server (its watches end, so the simulator goes on); the
        next FastAGI case starts a new one."""
        self.server_restarted = True
        self.worker.stop_fastagi(timeout=2)

    def _cut_pool(self) -> None:
        """Cut every connection the server's pool holds idle (the worker played a call
        before, so it holds some): the call must find them dead and connect anew."""
        pooled = self.worker.proxy.open_connections()
        if not pooled:
            self.violations.append("the FastAGI pool held no connection: nothing to cut")
        self.worker.proxy.drop_all()

    def _server_health(self) -> None:
        """The FastAGI server is still up, and logged no error of its own during the call
        (its legs' errors are the AGI log's: invariant 6)."""
        if self.server is None:
            return
        if self.server.proc.poll() is not None and not self.server_restarted:
            self.violations.append(f"the FastAGI server exited ({self.server.proc.returncode})")
        errors = [line.strip() for line in self.server.lines[self.server_lines:]
                  if SERVER_LOG in line and "|ERROR: " in line]
        self.violations += [f"FastAGI server error: {line.split('|ERROR: ', 1)[1][:200]}"
                            for line in errors]

    @staticmethod
    def _kill(processes: list[psutil.Process]) -> None:
        for proc in processes:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=5)

    # --- the hooks: hang-ups and locks at the right moment -----------------------------------
    def _on_statement(self, statement: Statement) -> None:
        """Proxy hook, before the statement is forwarded: the agent leg hung up (SIGHUP, or a
        HANGUP line over FastAGI) as it first sends the case's statement. The agent leg sends
        the run's first statement (nothing else runs yet), so its connection is that one's."""
        case = self.case
        if self.agent_connection is None:
            self.agent_connection = statement.connection
        if (case.kind == HANGUPS[case.mode] and case.at == "statement"
                and statement.connection == self.agent_connection
                and statement.key == (case.statement, case.hint) and not self.hung_up):
            self.hung_up = True
            self._hang_up("agent", f"{case.kind} as the agent leg sends "
                                   f"{statement.normalised[:60]}")

    def _watch(self, who: str, text: str) -> None:
        if who == "agent" and "AGI ->" in text and self.agent_first_command is None:
            self.agent_first_command = time.monotonic()
        if self.case.kind in (LOCK, BACKUP) and self.lock_thread is None \
                and self._lock_trigger(who, text):
            victim = "agent" if self.case.at.startswith("agent") else who
            hold, args = (self._hold_lock, (victim,)) if self.case.kind == LOCK \
                else (self._hold_backup, ())      # a backup hangs nobody up: calls end alone
            self.lock_thread = threading.Thread(target=hold, args=args, daemon=True)
            self.lock_thread.start()
            # The note comes before the stage's AGI starts: hold it back until the lock is
            # taken, or a fast leg (FastAGI's, with no process to start) is done before it.
            if not self.locked.wait(LOCK_TAKEN_WITHIN_S):
                self.violations.append(f"the lock was not taken within "
                                       f"{LOCK_TAKEN_WITHIN_S:.0f} s of the stage's start")

    def _lock_trigger(self, who: str, text: str) -> bool:
        stage = self.case.at
        if stage == "agent_start":
            return who == "agent" and "AGI(agi-3way_press_agent.agi" in text
        if stage == "agent_waiting":
            return who != "agent" and text.startswith("ringing")
        return who != "agent" and f"agi-3way_press_outside.agi,{stage}" in text and "AGI(" in text

    def _hold_lock(self, victim: str) -> None:
        conn = self.worker.site.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"LOCK TABLES {LOCKED_TABLES}")
                self.locked.set()
                self.release_lock.wait(HANGUP_AFTER_LOCK_S)
                self._hang_up(victim, f"hung up with the tables locked ({self.case.at})")
                self.release_lock.wait(LOCK_HOLD_S)
                cur.execute("UNLOCK TABLES")
        finally:
            conn.close()

    def _hold_backup(self) -> None:
        """READ locks as a backup takes them, held until the call has ended by itself and
        then a while longer; over minutes, a cron `cleanup` meets the lock too."""
        conn = self.worker.site.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(backup.lock_statement(conn, self.case.tables))
                self.locked.set()
                self.release_lock.wait(RUN_BOUND_S)
                if self.case.outlast == "minutes":
                    self.violations += backup.cleanup_during_lock(self.worker.admin_conf)
                time.sleep(backup.OUTLAST_S)        # the backup's own time, not a wait for us
                cur.execute("UNLOCK TABLES")
        finally:
            conn.close()

    def _hang_up(self, label: str, why: str) -> None:
        call = self.sim.calls.get(label)
        if call is not None:
            self.hangup_at = time.monotonic()
            call.channel.hang_up(why)

    # --- checks that need the run's own clock or trace -----------------------------------
    def _lock_timing(self, ended: float) -> None:
        if self.case.kind == BACKUP:
            self.violations += backup.outlived_channels(self.sim.timeline, self.sim.agi_runs)
            if not self.locked.is_set():
                self.violations.append(f"the lock stage {self.case.at} was never reached")
            return
        if self.case.kind != LOCK:
            return
        if self.hangup_at is None:
            self.violations.append(f"the lock stage {self.case.at} was never reached")
        elif ended - self.hangup_at > ENDS_WITHIN_S:
            self.violations.append(
                f"the call ended {ended - self.hangup_at:.1f} s after its hang-up with the "
                f"tables locked (bound {ENDS_WITHIN_S:.0f} s): a statement waits on the lock "
                "with no client timeout")

    def _stalls(self, trace: list[Statement]) -> None:
        for st in trace:
            if st.fault == "stall" and st.gave_up_after is None:
                self.violations.append(
                    f"stalled statement held {STALL_S:.0f} s without the client giving up "
                    f"(no read timeout): {st.normalised[:100]}")


def baseline(worker: Worker, engine: str, scenario: str, mode: str = PER_CALL) -> Baseline:
    """A fault-free run: its trace and where the agent leg's AGI commands are."""
    outcome = worker.run(Case(engine, scenario, NO_FAULT, mode=mode))
    if outcome.violations or outcome.result is None:
        raise RuntimeError(f"the fault-free {scenario} call on {engine} ({mode}) is not sound: "
                           f"{outcome.violations}\n{outcome.report}")
    commands = next((r.commands for r in outcome.result.agi_runs if r.label == "agent"), 0)
    return Baseline(mode, engine, scenario, outcome.trace, commands,
                    outcome.agent_first_command)


def run_all(server: dict, cases: list[Case], workdir: str, workers: int) -> list[Outcome]:
    """Every case, on `workers` workers in parallel (cases of one engine together)."""
    ordered = sorted(cases, key=lambda c: (c.engine, c.mode))
    pool = [Worker(server, f"w{n}", workdir, serial=n + 1) for n in range(max(1, workers))]
    free = list(pool)
    lock = threading.Lock()

    def play(case: Case) -> Outcome:
        with lock:
            worker = next((w for w in free if w.engine == case.engine), free[0])
            free.remove(worker)
        try:
            return worker.run(case)
        finally:
            with lock:
                free.append(worker)
    try:
        with ThreadPoolExecutor(max_workers=len(pool)) as executor:
            return list(executor.map(play, ordered))
    finally:
        for worker in pool:
            worker.close()

"""One 3-way call on the VICIdial server, placed the way VICIdial places it.

- The agent's DIAL WITH CUSTOMER: the tier posts to `www/agc/manager_send.php` (php-cli, in the
  root) what the agent screen posts (`vicidial.php` 7786-7853, `taskreverse`: `channel=Local/
  49907<dial>@<ext_context>`, `exten=<session>`, `queryCID=DC<6>W<lead>W`); it queues one
  `vicidial_manager` row, which `AST_manager_send.pl` (running all session) sends to the manager.
- A multi-call: `www/agc/api.php` `function=transfer_conference&value=DIAL_WITH_CUSTOMER&
  multi_dial_phones=...` first (it writes `vicidial_3way_press_multi` and tells the agent screen
  to dial), then the same post the screen then makes.

The request plumbing is the one thing of the tier's own: php-cli has no web server, so the
page's `$_POST` is filled from the urlencoded body on stdin, as PHP fills it from a POST.

Channels: the `;1` half of `Local/49907...@default` joins the agent's session; its `;2` half runs
our `_49907.`, which dials `${TRUNKloop}` = `IAX2/ASTloop...`: the agent AGI runs on the
incoming `IAX2/ASTloop-N`. Outside legs are `Local/9<number>@default` as in the Asterisk tier.
"""

from __future__ import annotations

import pathlib
import urllib.parse

from press3way_testing.asterisk import parties
from press3way_testing.asterisk.modes import FastAGIMode
from press3way_testing.asterisk.scene import DIAL_PREFIX, Scene
from press3way_testing.vicidial_server import database, vicidial_files
from press3way_testing.vicidial_server.session import VicidialServer, poll_until

# vicidial_campaigns.campaign_cid's default: the 3-way call's caller id number, which our
# outside calls carry; VICIdial's logger then takes a call's caller id *name* (our call id)
# for its caller code (FastAGI_log.pl 409-413), as for every call with such a number
OUTBOUND_CID = "0000000000"
SENT_TIMEOUT_S = 10.0
AGENT_LEG_TIMEOUT_S = 10.0
CLEANER_LOOPS = 4                 # the cleaner counts a lone leg's room down over 3 loops
CLEANER_TIMEOUT_S = 20.0
WEB_PAGE_TIMEOUT_S = 30.0
# the page's $_POST from the urlencoded body on stdin (php-cli has no web server)
PHP_POST = "parse_str(file_get_contents('php://stdin'), $_POST); include $argv[1];"


class VicidialScene(Scene):
    def __init__(self, server: VicidialServer, fastagi: FastAGIMode | None = None,
                 ext_context: str = "default"):
        super().__init__(server.instance, server.site, fastagi)
        self.server, self.ext_context = server, ext_context
        self.threeway_channel = ""
        self.manager_row: dict = {}

    def reset_site(self, ami_port: int) -> None:
        database.seat_agent(self.site)
        self.server.use(self.fastagi.server.port if self.fastagi is not None else None,
                        self.ext_context)

    # --- VICIdial's web pages ---------------------------------------------------------------
    def web_page(self, page: str, fields: dict[str, str]) -> str:
        """`www/agc/<page>` answering a POST of `fields`; what it printed."""
        body = urllib.parse.urlencode(fields)
        return self.instance.run("php", "-d", "display_errors=stderr", "-r", PHP_POST, page,
                                 cwd=vicidial_files.inside("www/agc"), stdin=body,
                                 timeout=WEB_PAGE_TIMEOUT_S)

    def dial_with_customer(self, number: str) -> str:
        """What the agent screen posts to manager_send.php for DIAL WITH CUSTOMER."""
        s = self.site
        return self.web_page("manager_send.php", {
            "server_ip": s.server_ip, "session_name": database.WEB_SESSION, "user": s.user,
            "pass": database.AGENT_PASS, "ACTION": "Originate", "format": "text",
            "channel": f"Local/49907{DIAL_PREFIX}{number}@{self.ext_context}",
            "queryCID": s.caller_code, "exten": s.session, "ext_context": self.ext_context,
            "ext_priority": "1",
            "outbound_cid": OUTBOUND_CID, "usegroupalias": "0", "preset_name": "",
            "campaign": "TESTCAMP", "account": "", "agent_dialed_number": "1",
            "agent_dialed_type": "XFER_3WAY", "lead_id": str(s.lead_id), "stage": "0",
            "alertCID": "0", "cid_lock": "0", "session_id": s.session,
            "call_variables": f"__vendor_lead_code=,__lead_id={s.lead_id}"})

    def arm_multi(self, numbers: list[str]) -> str:
        """The agent API's transfer_conference with multi_dial_phones."""
        s = self.site
        return self.web_page("api.php", {
            "source": "press3way", "user": s.user, "pass": database.AGENT_PASS,
            "agent_user": s.user, "function": "transfer_conference",
            "value": "DIAL_WITH_CUSTOMER", "phone_number": numbers[0],
            "multi_dial_phones": ",".join(numbers)})

    # --- the call ---------------------------------------------------------------------------
    def call(self, *people: parties.Party) -> str:
        parties.arrange(self.rec, *people)
        if len(people) > 1:
            answer = self.arm_multi([p.number for p in people])
            if "SUCCESS" not in answer:
                raise AssertionError(f"api.php transfer_conference refused: {answer.strip()}")
        answer = self.dial_with_customer(people[0].number)
        if "Originate command sent" not in answer:
            raise AssertionError(f"manager_send.php refused: {answer.strip()}")
        self.manager_row = poll_until(self._sent_row, SENT_TIMEOUT_S,
                                      "AST_manager_send.pl to send the vicidial_manager row")
        self.threeway_channel = self.wait_channels("Local/49907", 1)[0]
        self.threeway_id = self.threeway_channel
        self.wait_agent_leg()              # a dialplan that never reaches our block fails here
        return self.threeway_channel

    def _sent_row(self) -> dict | None:
        """The queued row once AST_manager_send.pl sent it (SENT; UPDATED once
        AST_manager_listen.pl saw the call's events)."""
        rows = self.rows_where("vicidial_manager", "status IN ('SENT', 'UPDATED')")
        return rows[0] if rows else None

    def rows_where(self, table: str, condition: str) -> list[dict]:
        with self.site.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} WHERE {condition}")
            return list(cur.fetchall())

    def our_logs(self) -> list[pathlib.Path]:
        """Our scripts' log files: VICIdial's programs write theirs in the same PATHlogs and
        keep them open (never removed under them: a daemon dies when it cannot append)."""
        logs = self.instance.host(self.instance.agi_logs)
        return sorted(p for p in logs.iterdir() if p.name.startswith("agiout."))

    def clear_agi_log(self) -> None:
        for path in self.our_logs():
            path.unlink()

    def agi_log(self) -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in self.our_logs())

    def agent_leg(self) -> str:
        """The channel our agent script runs on (the IAX2 loop's incoming half)."""
        runs = [e["Channel"] for e in self.events("Newexten", Application="AGI")
                if "agi-3way_press_agent" in e["AppData"]]
        return runs[0] if runs else ""

    def wait_agent_leg(self, timeout: float = AGENT_LEG_TIMEOUT_S) -> str:
        return self.rec.wait(self.agent_leg, timeout, "our agent script to start")

    # --- VICIdial's conference cleaner --------------------------------------------------------
    def cleaner_loops(self) -> int:
        return self.instance.daemon_output("AST_conf_update_screen.pl").count("loop took ")

    def await_cleaner(self) -> None:
        """Let VICIdial's ConfBridge cleaner look at the rooms long enough to free any it
        would (it counts a room down over three loops)."""
        start = self.cleaner_loops()
        poll_until(lambda: self.cleaner_loops() >= start + CLEANER_LOOPS, CLEANER_TIMEOUT_S,
                   f"{CLEANER_LOOPS} loops of AST_conf_update_screen.pl")

    def rooms(self) -> dict[str, dict]:
        """vicidial_confbridges by conf_exten."""
        return {str(r["conf_exten"]): r for r in self.rows_where("vicidial_confbridges", "1")}

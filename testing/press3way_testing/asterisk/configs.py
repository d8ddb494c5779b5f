"""The text of the instance's Asterisk configuration files (paths as seen inside the root).

Debian's stock asterisk.conf has `[directories](!)`, a template Asterisk ignores, so the
instance writes its own; modules.conf loads only what the calls need, and the manager on
127.0.0.1 is the only socket Asterisk opens.
"""

from __future__ import annotations

AMI_USER = "cron"            # VICIdial's manager login (Site.reset writes the same)
AMI_SECRET = "1234"

# Load order matters: res_agi needs res_speech loaded before it.
MODULES = (
    "res_timing_timerfd", "res_speech", "res_agi", "pbx_config",
    "bridge_simple", "bridge_softmix", "bridge_builtin_features", "bridge_holding",
    "chan_bridge_media", "app_confbridge",
    "app_dial", "app_playback", "app_senddtmf", "app_exec", "app_verbose",
    "app_controlplayback",          # also the AMI action ControlPlayback (stops a hold tone)
    "app_userevent",                # the winner's notice to the agent leg
    "func_db", "func_callerid", "func_channel", "func_strings", "func_logic", "func_math",
    "format_gsm", "format_sln", "format_pcm", "codec_gsm", "codec_ulaw", "codec_alaw",
    "codec_resample",
)


def asterisk_conf(base: str, module_dir: str) -> str:
    """`base` is the instance's directory inside the root."""
    dirs = {"astetcdir": "etc", "astvarlibdir": "lib", "astdbdir": "lib", "astkeydir": "lib",
            "astdatadir": "lib", "astagidir": "agi-bin", "astspooldir": "spool",
            "astrundir": "run", "astlogdir": "log"}
    lines = ["[directories]", f"astmoddir => {module_dir}", "astsbindir => /usr/sbin"]
    lines += [f"{key} => {base}/{sub}" for key, sub in dirs.items()]
    lines += ["", "[options]", "verbose = 4", "debug = 0", "documentation_language = en_US",
              "hideconnect = yes", "transmit_silence = no"]
    return "\n".join(lines) + "\n"


def modules_conf(extra: tuple[str, ...] = ()) -> str:
    return "[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in MODULES + extra)


def manager_conf(port: int) -> str:
    """authlimit: Asterisk drops a login beyond 50 sessions connecting at once (its default),
    and a burst of 50 agent legs plus the bench's own sessions is more."""
    return (f"[general]\nenabled = yes\nwebenabled = no\nport = {port}\nbindaddr = 127.0.0.1\n"
            "displayconnects = no\nauthlimit = 500\n\n" + manager_user(AMI_USER))


def manager_user(user: str) -> str:
    """A manager login that reads and writes everything, from loopback only."""
    return (f"[{user}]\nsecret = {AMI_SECRET}\nread = all\nwrite = all\n"
            "permit = 127.0.0.1/255.255.255.255\n")


def logger_conf() -> str:
    """The full log the tests keep for a failing call: verbose, DTMF, milliseconds."""
    return ("[general]\ndateformat = %F %T.%3q\n\n[logfiles]\n"
            "full => notice,warning,error,verbose,dtmf\n")


def confbridge_conf() -> str:
    """Quiet conferences: no join/leave announcements (their sounds are not installed).
    Mixed every 40 ms, not 20: every agent's session holds Local channels whose every frame
    wakes a thread, and 50 seated agents cost two cores a quarter of their time at 20 ms."""
    return ("[general]\n\n[default_bridge]\ntype = bridge\nmixing_interval = 40\n\n"
            "[default_user]\ntype = user\nquiet = yes\nannounce_only_user = no\n")


def static_files(ami_port: int, base: str, module_dir: str) -> dict[str, str]:
    """Every file of etc/ but the dialplan: name -> text."""
    return {"asterisk.conf": asterisk_conf(base, module_dir), "modules.conf": modules_conf(),
            "manager.conf": manager_conf(ami_port), "logger.conf": logger_conf(),
            "confbridge.conf": confbridge_conf(), "indications.conf": "[general]\ncountry = us\n"
            "\n[us]\ndescription = United States\nringcadence = 2000,4000\n"
            "dial = 350+440\nbusy = 480+620/500,0/500\nring = 440+480/2000,0/4000\n"
            "congestion = 480+620/250,0/250\n"}

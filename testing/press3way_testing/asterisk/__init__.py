"""The real-Asterisk test tier: Debian's Asterisk 22 in a cached mmdebstrap root, run chrooted.

root      builds and finds the cached root (and says in one line why the tier cannot run)
instance  one Asterisk per test session: its directories, configs, code and sounds; start, stop
configs   the text of asterisk.conf, modules.conf, manager.conf and logger.conf
dialplan  our extensions_custom.conf plus the test [default] and the outside parties
sounds    VICIdial's sounds copied in, our prompts generated
recorder  a test-side AMI session that timestamps every event and awaits conditions
parties   per-number schedules of the outside parties (AstDB over AMI)
modes     per-call processes or one FastAGI server for the session: the dialplan switched
scene     one call as a test sees it (set up, start, await, inspect), in either mode
"""

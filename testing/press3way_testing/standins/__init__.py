"""Asterisk's parts at the protocol level: a channel (clock, key presses, hang-up, sounds), the
AGI side of a script run, the manager interface, and the dialplan reader. They follow how a real
Asterisk behaves (SPEC section 6); where they still differ, docs/notes-standins.md says so."""

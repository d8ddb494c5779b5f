"""Asterisk's parts at the protocol level: a channel (clock, key presses, hang-up, sounds), the
AGI side of a script run, the manager interface, and the dialplan reader. They follow how a real
Asterisk behaves (docs/behaviour.md, "The dialplan"); where they still differ, docs/testing.md,
"Where they still differ from a real Asterisk", says so."""

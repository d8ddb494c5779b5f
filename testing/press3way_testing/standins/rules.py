"""Small dialplans that show the rules of Asterisk the stand-ins follow (WaitExten's time-out,
which digits are kept, digit collection, ControlPlayback on a Playback), played by the
simulator (tests/test_standins.py) and by the real Asterisk 22 (tests/asterisk/test_facts.py):
one text, so a rule the simulator follows is a rule the real Asterisk was seen to follow.

Each context is entered at `s` on an answered channel. Sounds: VICIdial's buzz (0.22 s) and
hold_tone (0.46 s), our outside-sales prompt (1.6 s).
"""

DIALPLAN = """
[falls_through]
exten => s,1,WaitExten(0.2)
exten => s,n,NoOp(after WaitExten)
exten => t,1,NoOp(t reached)
[last_priority]
exten => s,1,WaitExten(0.2)
exten => t,1,NoOp(t reached)
[no_t]
exten => s,1,WaitExten(0.2)
[long]
exten => s,1,Playback(outside-sales)
exten => s,n,NoOp(after the sound)
[target]
exten => s,1,NoOp(redirected here)
[prompts]
exten => s,1,Playback(buzz)
exten => s,n,Background(hold_tone&buzz)
exten => s,n,WaitExten(0.5)
exten => 1,1,NoOp(one dialled)
exten => i,1,NoOp(invalid)
[collect]
exten => s,1,WaitExten(3.0)
exten => 1,1,NoOp(one dialled)
exten => 12,1,NoOp(twelve dialled)
"""
CONTEXTS = ("falls_through", "last_priority", "no_t", "long", "target", "prompts", "collect")

"""What VICIdial's manager does before our agent leg runs, done over AMI.

The agent and the customer sit in the agent's ConfBridge session as Local channels; then the
3-way call is originated as VICIdial originates it: `Channel: Local/<session>@default`,
`Exten: 49907<dialstring>`, `Context: default`, caller id name `DC...W<lead>W`.
"""

from __future__ import annotations

import itertools

from press3way_testing.asterisk.recorder import Recorder

_ids = itertools.count(1)
JOIN_TIMEOUT_S = 10.0


def unique_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def originate(recorder: Recorder, channel: str, context: str, exten: str, caller_id: str,
              channel_id: str) -> None:
    reply = recorder.action("Originate", Channel=channel, Context=context, Exten=exten,
                            Priority="1", CallerID=caller_id, Timeout="30000", Async="true",
                            ChannelId=channel_id)
    if reply.get("Response") != "Success":
        raise RuntimeError(f"Originate {channel} refused: {reply.get('Message')}")


def seat_agent_and_customer(recorder: Recorder, session: str) -> None:
    """Agent and customer in the session's conference."""
    since = recorder.now()
    ids = (unique_id("agent"), unique_id("customer"))
    for channel_id in ids:
        originate(recorder, "Local/person@default", "default", session, channel_id, channel_id)
    recorder.wait_event("ConfbridgeJoin", JOIN_TIMEOUT_S, since=since, count=2,
                        Conference=session)


def start_three_way(recorder: Recorder, session: str, dialstring: str, caller_code: str,
                    outbound_cid: str = "7275550000") -> str:
    """Originate the agent's 3-way call; the uniqueid of its `;1` half (runs our `_49907.`)."""
    channel_id = unique_id("threeway")
    originate(recorder, f"Local/{session}@default", "default", f"49907{dialstring}",
              f'"{caller_code}" <{outbound_cid}>', channel_id)
    return channel_id

"""The two AGI legs (agent, outside) and the runner they share (config, one connection, the
AGI log, buzz or `i` on every failure)."""

# The channel variable carrying an outside call's id (set by the agent leg's Originate): the
# outside leg's first AGI command asks for it, before the rest of the script loads.
CALL_ID_VARIABLE = "call_3way_id"

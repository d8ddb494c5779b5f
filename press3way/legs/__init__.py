"""The two AGI legs (agent, outside) and the runner they share (config, one connection, the
AGI log, buzz or `i` on every failure)."""

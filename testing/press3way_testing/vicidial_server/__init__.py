"""Tier 4: VICIdial's own programs (from ../shared/vicidial) around the real Asterisk 22."""

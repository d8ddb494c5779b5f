"""Text from calls (caller ids, channel names, dialstrings, anything from the AGI environment
or AMI) as it may reach a log line or a terminal: every character that is not printable (CR,
LF, ESC, the other control and format characters) spelled out, so such text can neither
forge a line nor drive a terminal."""


def printable(text: str) -> str:
    return "".join(c if c.isprintable() else _spelled(ord(c)) for c in text)


def _spelled(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

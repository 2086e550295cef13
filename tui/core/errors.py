"""Errors a user caused (bad config, flag or command): printed as one line, exit code 2."""

MAX_MESSAGE_CHARS = 400


def one_line(text: str) -> str:
    """`text` as one printable terminal line: newlines and control characters escaped, cut to a readable length
    (a config value or key may hold any of them, and the message quotes it)."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    return out if len(out) <= MAX_MESSAGE_CHARS else out[:MAX_MESSAGE_CHARS - 3] + "..."


class UsageError(Exception):
    """One line naming where and what was expected; the CLI prints it and exits 2."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigError(UsageError):
    """A config file problem; the message starts with `FILE:LINE: field:`."""

"""Errors a user caused (bad config, flag or command): printed as one line, exit code 2."""


class UsageError(Exception):
    """One line naming where and what was expected; the CLI prints it and exits 2."""


class ConfigError(UsageError):
    """A config file problem; the message starts with `FILE:LINE: field:`."""

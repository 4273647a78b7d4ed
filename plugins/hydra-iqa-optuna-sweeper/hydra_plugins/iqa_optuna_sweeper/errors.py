"""Errors a user of the sweeper can cause: each ends the sweep with one `error: ...` line."""


class SweepConfigError(Exception):
    """A sweeper key, search space or storage that cannot be used."""


class SweepFailed(SweepConfigError):
    """The sweep cannot go on (for example more trials failed than max_failure_rate allows)."""

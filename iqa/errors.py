"""Errors a user can cause, reported as one line naming the cause."""


class IQAError(Exception):
    """Base class: a problem with the user's input, not a bug in the code."""


class ConfigError(IQAError):
    """A config value outside its allowed range."""


class DataError(IQAError):
    """A dataset, metadata file or image that cannot be used."""


class TrainingError(IQAError):
    """Training cannot continue (for example the loss became NaN)."""


class SweepError(IQAError):
    """A sweep cannot go on (for example more trials failed than its failure budget allows)."""

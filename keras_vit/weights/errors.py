"""Errors raised while finding, reading and converting checkpoints."""


class WeightsError(ValueError):
    """Base class of every weights-loading error."""


class CheckpointReadError(WeightsError):
    """The file is missing, truncated, corrupt or of an unknown format."""


class UnsafeCheckpointError(WeightsError):
    """The file holds executable content (pickled objects, Lambda layers); nothing was run."""


class WeightsMismatchError(WeightsError):
    """The checkpoint does not fit the model: keys or shapes differ."""


class WeightsDownloadError(WeightsError):
    """A weights file could not be downloaded or failed its checksum."""

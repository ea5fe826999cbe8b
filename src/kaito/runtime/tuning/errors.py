"""The tuning runtime's error vocabulary, mapped to exit codes by the CLI.

Every user mistake (a bad config key, a malformed dataset row, an output folder outside the allowed
root) is raised as one of these with a message that names the file, field or row, so the CLI can
print one line and exit without a traceback.
"""

from __future__ import annotations


class TuningError(Exception):
    """Base class: tuning cannot start or cannot finish."""

    exit_code = 1


class InputUnreadableError(TuningError):
    """A config or dataset file is missing or cannot be parsed at all (bad usage, exit 2)."""

    exit_code = 2


class ConfigError(TuningError):
    """The training config is invalid: unknown section or key, or an invalid combination."""


class DatasetError(TuningError):
    """A dataset is empty, lacks the expected columns, or holds a malformed row."""


class ModelLoadError(TuningError):
    """The base model cannot be found or loaded."""


class TrainingInterruptedError(TuningError):
    """SIGTERM stopped training after a checkpoint; exit 143 like a terminated process."""

    exit_code = 143

"""The one error the manifest builders raise for a Workspace they cannot build.

The reconcile loop treats it as permanent (nothing helps until the Workspace changes), like an
unknown preset. Any other exception from a builder is a bug, and is retried rather than written
into the Workspace as the user's fault.
"""

from __future__ import annotations


class ManifestError(ValueError):
    """The Workspace, as written, cannot become the objects it asks for.

    The message names the field: a missing section, neither preset nor template, no data source.
    """

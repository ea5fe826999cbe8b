"""Moving artifacts in and out of a tuning or serving pod: dataset URLs and OCI adapters.

The tuning Job fetches its data with :func:`fetch_files` and ships its adapter with
:func:`push_adapter`; the inference runtime pulls adapters with :func:`pull_adapter`.
"""

from __future__ import annotations

from kaito.runtime.artifacts.download import FetchedFile, FetchOptions, fetch_files
from kaito.runtime.artifacts.errors import (
    AdapterLayoutError,
    ArtifactError,
    AuthenticationError,
    DownloadError,
    ForbiddenAddressError,
    RegistryUnreachableError,
)
from kaito.runtime.artifacts.oci import (
    MODEL_NAME_ANNOTATION,
    PullLimits,
    RegistryAuth,
    parse_manifest,
    pull_adapter,
    pull_adapter_private,
    push_adapter,
    wait_for_file,
)

__all__ = [
    "MODEL_NAME_ANNOTATION",
    "AdapterLayoutError",
    "ArtifactError",
    "AuthenticationError",
    "DownloadError",
    "FetchOptions",
    "FetchedFile",
    "ForbiddenAddressError",
    "PullLimits",
    "RegistryAuth",
    "RegistryUnreachableError",
    "fetch_files",
    "parse_manifest",
    "pull_adapter",
    "pull_adapter_private",
    "push_adapter",
    "wait_for_file",
]

"""Errors of the artifact movers (data downloads, OCI push and pull), one line each for the CLI."""

from __future__ import annotations


class ArtifactError(Exception):
    """Moving an artifact failed; the message says what and where."""


class ForbiddenAddressError(ArtifactError):
    """A URL points (or redirects) to an address the downloader must not contact."""


class DownloadError(ArtifactError):
    """A file did not arrive complete with HTTP 200 after every retry."""


class AuthenticationError(ArtifactError):
    """The registry rejected the credentials (or demanded some and none were given)."""


class RegistryUnreachableError(ArtifactError):
    """The registry could not be reached at all after every retry."""


class AdapterLayoutError(ArtifactError):
    """A folder or artifact does not hold the adapter files in the expected layout."""

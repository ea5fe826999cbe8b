"""Errors raised by ``kaito.k8s``: the only exceptions the controller sees from the cluster.

The client library's exceptions (lightkube's ``ApiError``, httpx transport errors) never escape
this package: they are translated here into a small hierarchy keyed by what the caller does next
(treat as success, retry, give up), always chained with ``raise ... from`` so the original
stays visible.
"""

from __future__ import annotations


class KubernetesError(Exception):
    """Any failure talking to the Kubernetes API.

    Attributes:
        status: The HTTP status code, or 0 for a transport failure.
        reason: The ``Status.reason`` the server gave (``NotFound``, ``Conflict``, ...).
    """

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def retriable(self) -> bool:
        """Whether the same request may succeed later without any change (conflicts, 5xx, 429)."""
        return False


class NotFoundError(KubernetesError):
    """The object (or its namespace) does not exist (404)."""


class AlreadyExistsError(KubernetesError):
    """A create found an object with the same name (409 AlreadyExists)."""


class ConflictError(KubernetesError):
    """A write was based on a stale resourceVersion (409 Conflict); re-read and retry."""

    @property
    def retriable(self) -> bool:
        """Conflicts resolve on a fresh read."""
        return True


class InvalidError(KubernetesError):
    """The server rejected the request as invalid (400, 422) or forbidden (403)."""


class ServerError(KubernetesError):
    """The server failed or timed out (5xx, 429): worth retrying."""

    @property
    def retriable(self) -> bool:
        """Transient by definition."""
        return True


class TransportError(KubernetesError):
    """No HTTP answer at all (connection refused or reset, client timeout)."""

    @property
    def retriable(self) -> bool:
        """Transient by definition."""
        return True


def from_status(status: int, reason: str, message: str) -> KubernetesError:
    """Pick the error class for an API ``Status`` answer."""
    text = f"{message} ({status} {reason})" if reason else f"{message} ({status})"
    if status == 404:
        return NotFoundError(text, status=status, reason=reason)
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExistsError(text, status=status, reason=reason)
    if status == 409:
        return ConflictError(text, status=status, reason=reason)
    if status == 429 or status >= 500:
        return ServerError(text, status=status, reason=reason)
    return InvalidError(text, status=status, reason=reason)

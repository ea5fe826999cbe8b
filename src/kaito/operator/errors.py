"""The only errors operator handlers raise: Kopf's permanent/temporary pair.

Reconcile errors are turned into these at the handler boundary, so Kopf's own retry machinery
(where a handler uses it) sees exactly the intent of the controller.
"""

from __future__ import annotations

import kopf

from kaito.controller.errors import PermanentReconcileError, ReconcileError


def to_kopf(exc: Exception) -> Exception:
    """``PermanentReconcileError`` -> ``kopf.PermanentError``; other errors -> temporary."""
    if isinstance(exc, PermanentReconcileError):
        return kopf.PermanentError(str(exc))
    if isinstance(exc, ReconcileError):
        return kopf.TemporaryError(str(exc), delay=1)
    return kopf.TemporaryError(f"unexpected: {exc}", delay=5)


def admission_error(message: str) -> Exception:
    """A webhook rejection carrying upstream's message (HTTP 400 in the AdmissionReview)."""
    return kopf.AdmissionError(message, code=400)

"""The only errors operator handlers raise, all Kopf's own.

Reconciles do not run inside Kopf handlers (they run from the work queue, which retries with
backoff), so the handlers that remain are the webhook and the one-line event mappers. The webhook
rejects through ``kopf.AdmissionError``; an event mapper never raises.
"""

from __future__ import annotations

import kopf


def admission_error(message: str) -> Exception:
    """A webhook rejection carrying upstream's message (HTTP 400 in the AdmissionReview)."""
    return kopf.AdmissionError(message, code=400)

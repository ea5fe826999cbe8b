"""Errors a reconcile pass reports to the operator: retry later, or give up on this version."""

from __future__ import annotations


class ReconcileError(Exception):
    """A pass failed in a way that may succeed on retry (cluster errors, conflicts)."""


class PermanentReconcileError(ReconcileError):
    """The Workspace cannot be reconciled as written (unparsable, unknown preset).

    No retry helps until the Workspace changes.
    """

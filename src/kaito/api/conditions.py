"""Reading and writing ``status.conditions`` with Kubernetes' conventions.

The controller recomputes every condition on every pass; writing the same status again must not
move ``lastTransitionTime`` (clients use it to tell how long a state has lasted), and messages are
cut to the length upstream Kaito keeps (256 characters) so an error text cannot bloat the object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from kaito.api import reasons
from kaito.api.meta import Condition, ConditionStatus
from kaito.api.wire import format_timestamp

_ELLIPSIS = "..."


def truncate_message(message: str, limit: int = reasons.CONDITION_MESSAGE_MAX_LEN) -> str:
    """Cut ``message`` to ``limit`` characters, marking the cut with an ellipsis."""
    if len(message) <= limit:
        return message
    return message[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def with_reconcile_error(message: str, error: str | None) -> str:
    """Append ``(last reconcile error: …)`` to a condition message when a pass failed."""
    if not error:
        return message
    return message + reasons.LAST_RECONCILE_ERROR_SUFFIX.format(error=error)


def now_timestamp() -> str:
    """The current time as an RFC 3339 UTC string, second precision (as metav1.Time)."""
    stamp = format_timestamp(dt.datetime.now(dt.UTC))
    assert isinstance(stamp, str)
    return stamp


def get_condition(conditions: Iterable[Condition], condition_type: str) -> Condition | None:
    """The condition of ``condition_type``, or None."""
    for cond in conditions:
        if cond.type == condition_type:
            return cond
    return None


def is_condition_true(conditions: Iterable[Condition], condition_type: str) -> bool:
    """Whether the condition exists with status ``True``."""
    cond = get_condition(conditions, condition_type)
    return cond is not None and cond.status == reasons.CONDITION_TRUE


def set_condition(
    conditions: list[Condition],
    condition_type: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: str | None = None,
) -> bool:
    """Create or update one condition in place.

    ``lastTransitionTime`` changes only when the status changes; reason, message and observed
    generation are updated regardless. The message is truncated to 256 characters.

    Args:
        conditions: the list to modify (``status.conditions``).
        condition_type: e.g. ``reasons.CONDITION_RESOURCE_READY``.
        status: ``"True"``, ``"False"`` or ``"Unknown"``.
        reason: CamelCase reason.
        message: human-readable detail.
        observed_generation: the Workspace ``metadata.generation`` the condition reflects.
        now: timestamp to use for a transition (default: current time).

    Returns:
        True when anything changed.
    """
    message = truncate_message(message)
    existing = get_condition(conditions, condition_type)
    if existing is None:
        conditions.append(
            Condition(
                type=condition_type,
                status=status,
                reason=reason,
                message=message,
                observed_generation=observed_generation,
                last_transition_time=now or now_timestamp(),
            )
        )
        return True
    changed = False
    if existing.status != status:
        existing.status = status
        existing.last_transition_time = now or now_timestamp()
        changed = True
    for attr, value in (
        ("reason", reason),
        ("message", message),
        ("observed_generation", observed_generation),
    ):
        if getattr(existing, attr) != value:
            setattr(existing, attr, value)
            changed = True
    return changed


def remove_condition(conditions: list[Condition], condition_type: str) -> bool:
    """Delete the condition of ``condition_type`` in place; True when one was removed."""
    before = len(conditions)
    conditions[:] = [c for c in conditions if c.type != condition_type]
    return len(conditions) != before

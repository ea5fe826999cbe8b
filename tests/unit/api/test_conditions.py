"""Condition bookkeeping: transition times move only on status changes; messages are capped."""

from __future__ import annotations

from kaito.api import conditions, reasons
from kaito.api.meta import Condition

T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
RR = reasons.CONDITION_RESOURCE_READY


def test_new_condition_is_added_with_transition_time() -> None:
    conds: list[Condition] = []
    assert conditions.set_condition(
        conds, RR, "False", "NodeNotReady", "waiting", observed_generation=3, now=T1
    )
    assert [c.to_wire() for c in conds] == [
        {
            "type": RR,
            "status": "False",
            "observedGeneration": 3,
            "lastTransitionTime": T1,
            "reason": "NodeNotReady",
            "message": "waiting",
        }
    ]


def test_same_status_keeps_transition_time_but_updates_reason_and_message() -> None:
    conds: list[Condition] = []
    conditions.set_condition(conds, RR, "False", "NodeNotReady", "a", now=T1)
    assert conditions.set_condition(conds, RR, "False", "NodeClaimNotReady", "b", now=T2)
    assert conds[0].last_transition_time == T1
    assert (conds[0].reason, conds[0].message) == ("NodeClaimNotReady", "b")


def test_identical_write_reports_no_change() -> None:
    conds: list[Condition] = []
    conditions.set_condition(conds, RR, "True", "NodesReady", "ok", observed_generation=1, now=T1)
    assert not conditions.set_condition(
        conds, RR, "True", "NodesReady", "ok", observed_generation=1, now=T2
    )
    assert conds[0].last_transition_time == T1


def test_status_change_moves_transition_time() -> None:
    conds: list[Condition] = []
    conditions.set_condition(conds, RR, "False", "NodeNotReady", now=T1)
    conditions.set_condition(conds, RR, "True", "NodesReady", now=T3)
    assert conds[0].last_transition_time == T3
    assert conditions.is_condition_true(conds, RR)


def test_messages_are_truncated_to_256_characters() -> None:
    conds: list[Condition] = []
    conditions.set_condition(conds, RR, "False", "NodeNotReady", "x" * 1000, now=T1)
    assert len(conds[0].message) == reasons.CONDITION_MESSAGE_MAX_LEN
    assert conds[0].message.endswith("...")
    assert conditions.truncate_message("short") == "short"


def test_reconcile_error_is_appended() -> None:
    assert conditions.with_reconcile_error("waiting", "boom") == (
        "waiting (last reconcile error: boom)"
    )
    assert conditions.with_reconcile_error("waiting", None) == "waiting"


def test_get_and_remove() -> None:
    conds: list[Condition] = []
    conditions.set_condition(conds, RR, "True", "NodesReady", now=T1)
    conditions.set_condition(conds, reasons.CONDITION_WORKSPACE_READY, "True", "ok", now=T1)
    assert conditions.get_condition(conds, reasons.CONDITION_WORKSPACE_READY) is not None
    assert conditions.remove_condition(conds, RR)
    assert not conditions.remove_condition(conds, RR)
    assert conditions.get_condition(conds, RR) is None
    assert not conditions.is_condition_true(conds, RR)


def test_now_timestamp_is_rfc3339_utc() -> None:
    stamp = conditions.now_timestamp()
    assert len(stamp) == 20
    assert stamp.endswith("Z")
    assert stamp[10] == "T"

"""UPDATEs that change nothing the rules read are admitted without the webhook's look-ups."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kaito.api import constants
from kaito.operator import webhook
from kaito.operator.settings import OperatorSettings
from tests.fixtures.samples import inference_workspace

Obj = dict[str, Any]


def _stored() -> Obj:
    ws = inference_workspace()
    ws["metadata"].update(resourceVersion="7", uid="u1", generation=1)
    ws["status"] = {"state": "Pending"}
    return ws


def test_operator_patches_and_status_leave_the_validated_part_unchanged() -> None:
    old = _stored()
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = [constants.WORKSPACE_FINALIZER]
    new["metadata"]["annotations"] = {
        constants.ANNOTATION_WORKSPACE_HASH: "abc",
        constants.ANNOTATION_WORKSPACE_REVISION: "1",
    }
    new["metadata"]["resourceVersion"] = "8"
    new["metadata"]["managedFields"] = [{"manager": "kaito"}]
    new["status"] = {"state": "Ready"}
    assert webhook.unchanged_for_validation(new, old)
    assert not webhook.unchanged_for_validation(new, None)  # a CREATE


def test_spec_label_and_user_annotation_changes_are_validated() -> None:
    old = _stored()
    spec = copy.deepcopy(old)
    spec["resource"]["count"] = 2
    assert not webhook.unchanged_for_validation(spec, old)
    labels = copy.deepcopy(old)
    labels["metadata"]["labels"] = {"team": "a"}
    assert not webhook.unchanged_for_validation(labels, old)
    annotated = copy.deepcopy(old)
    annotated["metadata"]["annotations"] = {constants.ANNOTATION_BYPASS_RESOURCE_CHECKS: "True"}
    assert not webhook.unchanged_for_validation(annotated, old)


def test_review_admits_an_unchanged_update_without_asking_the_cluster() -> None:
    old = _stored()
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = [constants.WORKSPACE_FINALIZER]
    # No cluster at all: any look-up would fail.
    problems, warnings = asyncio.run(
        webhook.review(None, OperatorSettings(), new, old)  # type: ignore[arg-type]
    )
    assert (problems, warnings) == ([], [])

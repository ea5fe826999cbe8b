from __future__ import annotations

import pytest

from kaito.manifests import revisions
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws


def test_controller_revision_records_the_hashed_sections(inference_ws):
    rev = revisions.build_controller_revision(inference_ws, 3)
    digest = revisions.workspace_hash(inference_ws)
    assert rev["kind"] == "ControllerRevision"
    assert rev["metadata"]["name"] == f"workspace-phi-4-mini-{digest[:5]}"
    assert rev["metadata"]["labels"] == {"workspace.kaito.io/name": "workspace-phi-4-mini"}
    assert rev["metadata"]["annotations"] == {"workspace.kaito.io/hash": digest}
    assert rev["revision"] == 3
    assert set(rev["data"]) == {"resource", "inference"}
    assert rev["data"]["inference"]["preset"]["name"] == "phi-4-mini-instruct"


def test_hash_changes_with_the_spec_but_not_with_metadata(inference_ws):
    base = revisions.workspace_hash(inference_ws)
    relabelled = make_ws(INFERENCE_WS, metadata={"labels": {"team": "x"}, "uid": "other"})
    with_config = make_ws(INFERENCE_WS, inference={"config": "my-config"})
    assert revisions.workspace_hash(relabelled) == base
    assert revisions.workspace_hash(with_config) != base


def test_hash_is_the_same_for_snake_and_camel_case_input(inference_ws):
    snake = make_ws(
        INFERENCE_WS,
        resource={
            "instanceType": None,
            "instance_type": "Standard_NC24ads_A100_v4",
        },
    )
    assert revisions.workspace_hash(snake) == revisions.workspace_hash(inference_ws)


def test_revision_numbers_start_at_one(inference_ws):
    with pytest.raises(ValueError, match="revision"):
        revisions.build_controller_revision(inference_ws, 0)

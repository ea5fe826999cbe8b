from __future__ import annotations

from pathlib import Path

import pytest

from kaito.api import constants, reasons, v1beta1
from kaito.local import status
from kaito.local import store as local_store


def _workspace(name: str) -> v1beta1.Workspace:
    return v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": name, "creationTimestamp": "2026-11-22T06:00:00Z"},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": "smollm2-135m-instruct"}},
        }
    )


def test_workspace_round_trips_with_its_status(store: local_store.StateStore) -> None:
    ws = _workspace("one")
    seen = status.start(ws, "node-a")
    seen.server_ready()
    status.observe(ws, seen)
    store.save_workspace(ws)

    loaded = store.load_workspace("one")

    assert loaded.status is not None
    assert loaded.status.state == constants.STATE_READY
    assert loaded.status.worker_nodes == ["node-a"]
    assert [c.type for c in loaded.status.conditions] == [
        reasons.CONDITION_RESOURCE_READY,
        reasons.CONDITION_INFERENCE_READY,
        reasons.CONDITION_WORKSPACE_SUCCEEDED,
        reasons.CONDITION_WORKSPACE_READY,
    ]
    assert loaded.metadata.creation_timestamp == "2026-11-22T06:00:00Z"


def test_a_new_store_instance_sees_records_written_by_another(
    store: local_store.StateStore,
) -> None:
    store.save_workspace(_workspace("b-ws"))
    store.save_workspace(_workspace("a-ws"))
    store.save_run(local_store.LocalRun(name="a-ws", endpoint="http://127.0.0.1:5001"))

    reopened = local_store.StateStore(store.root)

    assert reopened.names() == ["a-ws", "b-ws"]
    assert reopened.load_run("a-ws").endpoint == "http://127.0.0.1:5001"


def test_missing_workspace_error_names_it(store: local_store.StateStore) -> None:
    with pytest.raises(local_store.StateError, match='"ghost" not found'):
        store.load_workspace("ghost")


def test_malformed_record_is_a_state_error(store: local_store.StateStore) -> None:
    folder = store.workspace_dir("broken")
    folder.mkdir(parents=True)
    (folder / local_store.WORKSPACE_FILE).write_text("{not json")

    with pytest.raises(local_store.StateError, match="broken"):
        store.load_workspace("broken")


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    local_store.write_json_atomic(target, {"a": 1})
    local_store.write_json_atomic(target, {"a": 2})

    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_remove_deletes_every_file(store: local_store.StateStore) -> None:
    store.save_workspace(_workspace("gone"))
    store.log_path("gone", "tune").parent.mkdir(parents=True)
    store.log_path("gone", "tune").write_text("hello")

    store.remove("gone")

    assert not store.workspace_dir("gone").exists()
    assert store.names() == []


def test_log_files_put_the_runner_first(store: local_store.StateStore) -> None:
    for step in ("tune", "runner", "serve"):
        path = store.log_path("w", step)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(step)

    names = [p.stem for p in store.log_files("w")]

    assert names[0] == "runner"
    assert sorted(names) == ["runner", "serve", "tune"]

"""Rolling checkpoints: only sealed folders count, older ones and leftovers are swept."""

from __future__ import annotations

import json
from pathlib import Path

from kaito.runtime.tuning.checkpoints import (
    COMPLETE_MARKER,
    checkpoint_root,
    commit_checkpoint,
    is_final,
    latest_checkpoint,
    read_fingerprint,
    remove_checkpoints,
    staging_dir,
    write_fingerprint,
)


def _stage(root: Path, step: int) -> Path:
    staged = staging_dir(root, step) / f"checkpoint-{step}"
    staged.mkdir()
    (staged / "adapter_model.safetensors").write_bytes(b"weights-%d" % step)
    return staged


def test_root_is_hidden_inside_the_output_dir(tmp_path: Path) -> None:
    assert checkpoint_root(tmp_path) == tmp_path / ".kaito-checkpoints"


def test_no_checkpoint_when_the_root_is_missing(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "absent") is None


def test_commit_seals_renames_and_becomes_latest(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    final = commit_checkpoint(_stage(root, 20), root, 20)
    assert final == root / "checkpoint-20"
    assert (final / COMPLETE_MARKER).read_text() == "20\n"
    assert latest_checkpoint(root) == (20, final)


def test_unsealed_folders_are_never_trusted(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    commit_checkpoint(_stage(root, 20), root, 20)
    torn = root / "checkpoint-40"  # killed after rename of files but without a marker
    torn.mkdir()
    (torn / "adapter_model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(root) == (20, root / "checkpoint-20")


def test_commit_keeps_one_previous_checkpoint_and_drops_stale_staging(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    commit_checkpoint(_stage(root, 10), root, 10)
    commit_checkpoint(_stage(root, 20), root, 20)
    _stage(root, 30)  # a staging folder left by a kill mid-save
    commit_checkpoint(_stage(root, 40), root, 40)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-20", "checkpoint-40"]
    assert latest_checkpoint(root) == (40, root / "checkpoint-40")


def test_numeric_order_not_lexical(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    for step in (9, 100):
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / COMPLETE_MARKER).write_text(str(step))
    assert latest_checkpoint(root) == (100, root / "checkpoint-100")


def test_remove_checkpoints_deletes_the_hidden_root(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    commit_checkpoint(_stage(root, 5), root, 5)
    remove_checkpoints(tmp_path)
    assert not root.exists()


def test_fingerprint_round_trips_and_is_absent_by_default(tmp_path: Path) -> None:
    root = checkpoint_root(tmp_path)
    assert read_fingerprint(root) is None
    write_fingerprint(root, "abc123")
    assert read_fingerprint(root) == "abc123"
    write_fingerprint(root, "def456")
    assert read_fingerprint(root) == "def456"


def test_final_checkpoint_is_recognised_from_trainer_state(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint-10"
    folder.mkdir()
    assert not is_final(folder)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 9, "max_steps": 10}))
    assert not is_final(folder)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 10, "max_steps": 10}))
    assert is_final(folder)

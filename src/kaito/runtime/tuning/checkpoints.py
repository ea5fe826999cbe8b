"""Rolling checkpoints that survive a SIGKILL at any instant.

Upstream tuning never checkpoints (``save_strategy: "no"``) and a restarted pod starts over
(reference §5). Here a hidden folder ``<output_dir>/.kaito-checkpoints`` keeps the newest
checkpoint whatever the config says. A checkpoint is written into a staging folder first; only
when every file is on disk is a marker file written and the folder renamed to
``checkpoint-<step>`` (a rename within one file system is atomic). A folder without the marker is
never trusted and is swept away on the next save, so a kill during a save costs at most the steps
since the previous checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

CHECKPOINT_DIRNAME = ".kaito-checkpoints"
COMPLETE_MARKER = "KAITO_CHECKPOINT_COMPLETE"
STAGING_PREFIX = ".staging-"
FINGERPRINT_FILENAME = "run.json"
TRAINER_STATE_FILENAME = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_root(output_dir: Path) -> Path:
    """The hidden folder holding the rolling checkpoint of ``output_dir``."""
    return output_dir / CHECKPOINT_DIRNAME


def staging_dir(root: Path, step: int) -> Path:
    """A fresh, empty staging folder for the checkpoint of ``step``."""
    path = root / f"{STAGING_PREFIX}{step}-{os.getpid()}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def latest_checkpoint(root: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint under ``root`` as ``(step, path)``, or ``None``."""
    if not root.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for child in root.iterdir():
        match = _CHECKPOINT_NAME.match(child.name)
        if match and child.is_dir() and (child / COMPLETE_MARKER).is_file():
            step = int(match.group(1))
            if best is None or step > best[0]:
                best = (step, child)
    return best


def commit_checkpoint(staged: Path, root: Path, step: int) -> Path:
    """Seal ``staged`` with the marker, move it to ``checkpoint-<step>`` and drop older ones.

    Args:
        staged: a folder holding every checkpoint file (the trainer's output).
        root: the checkpoint root (see :func:`checkpoint_root`).
        step: the global step the checkpoint was taken at.

    Returns:
        The committed checkpoint folder.
    """
    for path in staged.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    marker = staged / COMPLETE_MARKER
    marker.write_text(f"{step}\n", encoding="utf-8")
    _fsync_file(marker)
    final = root / f"checkpoint-{step}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    _fsync_dir(root)
    for child in root.iterdir():
        if child == final:
            continue
        match = _CHECKPOINT_NAME.match(child.name)
        if match or child.name.startswith(STAGING_PREFIX):
            shutil.rmtree(child, ignore_errors=True)
    return final


def read_fingerprint(root: Path) -> str | None:
    """The identity of the run that wrote the checkpoints under ``root``, if recorded."""
    try:
        value = json.loads((root / FINGERPRINT_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = value.get("fingerprint") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def write_fingerprint(root: Path, fingerprint: str) -> None:
    """Record which run owns the checkpoints (written atomically)."""
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".{FINGERPRINT_FILENAME}.tmp"
    partial.write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
    os.replace(partial, root / FINGERPRINT_FILENAME)


def is_final(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` was taken at the run's last step (its trainer state says so)."""
    try:
        state = json.loads((checkpoint / TRAINER_STATE_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    step, total = state.get("global_step"), state.get("max_steps")
    return isinstance(step, int) and isinstance(total, int) and 0 < total <= step


def remove_checkpoints(output_dir: Path) -> None:
    """Delete the hidden checkpoint folder once the adapter and sentinel are written."""
    shutil.rmtree(checkpoint_root(output_dir), ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Rolling checkpoints that survive a SIGKILL at any instant.

Upstream tuning never checkpoints (``save_strategy: "no"``) and a restarted pod starts over
(reference §5). Here a hidden folder ``<output_dir>/.kaito-checkpoints`` keeps the newest
checkpoint whatever the config says. A checkpoint is written into a staging folder first; only
when every file is on disk is a marker file written and the folder renamed to
``checkpoint-<step>`` (a rename within one file system is atomic). A folder without the marker is
never trusted and is swept away on the next save, so a kill during a save costs at most the steps
since the previous checkpoint.

The two newest sealed checkpoints are kept. Before a checkpoint is resumed from,
:func:`usable_checkpoint` checks every file in it (safetensors header and size, JSON parse, the
zip structure and CRCs of torch's ``.pt``/``.pth``/``.bin`` files, without unpickling); a damaged
one is removed with a warning and the previous one is used, or training starts afresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

from kaito.api import constants

CHECKPOINT_DIRNAME = ".kaito-checkpoints"
COMPLETE_MARKER = "KAITO_CHECKPOINT_COMPLETE"
STAGING_PREFIX = ".staging-"
FINGERPRINT_FILENAME = "run.json"
TRAINER_STATE_FILENAME = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
KEEP_CHECKPOINTS = 2
"""Sealed checkpoints kept: the newest and one to fall back to if the newest is damaged."""
REQUIRED_FILES: tuple[tuple[str, ...], ...] = (
    (constants.ADAPTER_CONFIG_FILE,),
    (constants.ADAPTER_WEIGHTS_FILE, "adapter_model.bin"),
    (TRAINER_STATE_FILENAME,),
)
_TORCH_SUFFIXES = (".pt", ".pth", ".bin")
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024

logger = logging.getLogger(__name__)


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


def sealed_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Every complete (sealed) checkpoint under ``root``, newest first."""
    if not root.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for child in root.iterdir():
        match = _CHECKPOINT_NAME.match(child.name)
        if match and child.is_dir() and (child / COMPLETE_MARKER).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found, reverse=True)


def latest_checkpoint(root: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint under ``root`` as ``(step, path)``, or ``None``."""
    found = sealed_checkpoints(root)
    return found[0] if found else None


def usable_checkpoint(root: Path) -> tuple[int, Path] | None:
    """The newest sealed checkpoint whose files all check out; damaged ones are removed.

    Logs a warning for each damaged checkpoint and when none is left to resume from.
    """
    found = sealed_checkpoints(root)
    for step, path in found:
        problem = checkpoint_problem(path)
        if problem is None:
            return step, path
        logger.warning(
            "checkpoint %s is damaged (%s): removing it and falling back to an older one",
            path,
            problem,
        )
        shutil.rmtree(path, ignore_errors=True)
    if found:
        logger.warning("no undamaged checkpoint is left in %s: training starts afresh", root)
    return None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """What is wrong with the files of ``checkpoint``, or ``None`` when they all check out."""
    for choices in REQUIRED_FILES:
        if not any((checkpoint / name).is_file() for name in choices):
            return f"{choices[0]} is missing"
    for path in sorted(checkpoint.rglob("*")):
        if path.is_file():
            problem = file_problem(path)
            if problem:
                return f"{path.name}: {problem}"
    return None


def file_problem(path: Path) -> str | None:
    """Whether one checkpoint or adapter file is structurally whole; why not, or ``None``.

    ``.safetensors``: the header parses and the tensors end exactly at the end of the file.
    ``.json``: parses. ``.pt``/``.pth``/``.bin``: a zip (torch's format) whose CRCs match.
    Other files are not checked.
    """
    try:
        if path.suffix == ".safetensors":
            return safetensors_problem(path)
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
            return None
        if path.suffix in _TORCH_SUFFIXES:
            if not zipfile.is_zipfile(path):
                return "not a complete torch file"
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"corrupt member {bad}" if bad else None
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile, EOFError) as exc:
        return f"unreadable ({type(exc).__name__}: {str(exc)[:100]})"
    return None


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete safetensors file, or ``None``."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return "shorter than a safetensors header"
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_SAFETENSORS_HEADER or 8 + length > size:
            return "truncated header"
        try:
            header = json.loads(handle.read(length))
        except (ValueError, RecursionError):
            return "header is not JSON"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
        ):
            return f"tensor {name} has no data offsets"
        end = max(end, offsets[1])
    if 8 + length + end != size:
        return f"{size} bytes where the header promises {8 + length + end} (truncated?)"
    return None


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
    kept = {path for _, path in sealed_checkpoints(root)[:KEEP_CHECKPOINTS]} | {final}
    for child in root.iterdir():
        if child in kept:
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

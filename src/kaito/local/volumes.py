"""What the pod's volumes and paths become on one machine.

A ``hostPath`` volume is the local form of a volume: its ``path`` is used in place (a relative
one is taken from the Workspace file's folder). Other kinds (a PVC, a cloud disk) have no meaning
on one machine and are refused, naming the field. The training config's ``output_dir`` (a path
under the pod's ``/mnt``) is rewritten under the run's own ``mnt`` folder, after the webhook's own
rule for it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from kaito.api import constants
from kaito.validation import config_files

HOST_PATH_KEY = "hostPath"


class PlanError(Exception):
    """The Workspace asks for something that has no local meaning; the message names the field."""


def host_path(
    volume: Mapping[str, Any] | None, field_path: str, base_dir: Path | None = None
) -> Path:
    """The local folder of a volume source: its ``hostPath.path``.

    A relative path (meaningless to a kubelet, handy in a repository) is taken relative to
    ``base_dir``, the Workspace file's folder.

    Raises:
        PlanError: the volume is of another kind.
    """
    spec = (volume or {}).get(HOST_PATH_KEY)
    path = spec.get("path") if isinstance(spec, Mapping) else None
    if not isinstance(path, str) or not path:
        kinds = ", ".join(sorted(volume or {})) or "none"
        raise PlanError(
            f"{field_path}: only hostPath volumes can be used on one machine (got: {kinds}); "
            f"write it as volumeSource: {{hostPath: {{path: /a/local/folder}}}}"
        )
    local = Path(path).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = base_dir / local
    return local


def rewrite_output_dir(config_text: str, mnt: Path) -> tuple[str, Path]:
    """Move the config's ``TrainingArguments.output_dir`` from ``/mnt`` to the local ``mnt``.

    Returns:
        The new config text and the local output folder.

    Raises:
        PlanError: the config is not YAML or ``output_dir`` lies outside ``/mnt``.
    """
    try:
        document = yaml.safe_load(config_text) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"{constants.CONFIGMAP_KEY_TRAINING} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise PlanError(f"{constants.CONFIGMAP_KEY_TRAINING} must be a mapping")
    root = document.setdefault(constants.TRAINING_CONFIG_ROOT, {}) or {}
    document[constants.TRAINING_CONFIG_ROOT] = root
    if not isinstance(root, dict):
        raise PlanError(f"{constants.TRAINING_CONFIG_ROOT} must be a mapping")
    args = root.setdefault(constants.TRAINING_SECTION_TRAINING_ARGUMENTS, {}) or {}
    root[constants.TRAINING_SECTION_TRAINING_ARGUMENTS] = args
    raw = str(args.get(constants.TRAINING_KEY_OUTPUT_DIR) or constants.PATH_RESULTS_DIR)
    problem = config_files.output_dir_error(raw)  # the webhook's own rule
    if problem is not None:
        raise PlanError(f"{constants.CONFIGMAP_KEY_TRAINING}: TrainingArguments: {problem}")
    pod_root = PurePosixPath(constants.PATH_MNT)
    relative = PurePosixPath(posixpath.normpath(str(pod_root / raw))).relative_to(pod_root)
    local = mnt / relative
    args[constants.TRAINING_KEY_OUTPUT_DIR] = str(local)
    return yaml.safe_dump(document, sort_keys=False), local

"""Upstream's chat-template paths, wherever ``kaito-serve`` runs.

Upstream's presets pass ``--chat-template=/workspace/chat_templates/<file>.jinja`` and users'
``inference_config.yaml`` files point there too (upstream's tool-calling example names
``tool-chat-phi4-mini.jinja``). Our runtime image links that folder to the templates shipped in
``kaito.presets`` package data; on a machine without the folder (``kaito run``, a developer's
``kaito-serve``) the same path is mapped to the packaged file so those flags and files keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from kaito.api import constants

_FLAG = "--chat-template"
_KEYS = ("chat-template", "chat_template")


def packaged_template(name: str) -> Path | None:
    """The packaged template file called ``name``, or ``None`` when we ship none by that name."""
    candidate = resources.files("kaito.presets").joinpath("data", "chat_templates", name)
    return Path(str(candidate)) if candidate.is_file() else None


def resolve_template_path(value: str) -> str:
    """``value`` itself, or the packaged file when it names a missing upstream template path."""
    path = PurePosixPath(value)
    if str(path.parent) != constants.PATH_CHAT_TEMPLATES or Path(value).exists():
        return value
    packaged = packaged_template(path.name)
    return str(packaged) if packaged is not None else value


def resolve_template_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--chat-template[=]PATH`` values resolved by :func:`resolve_template_path`."""
    out = list(argv)
    for index, arg in enumerate(out):
        if arg.startswith(_FLAG + "="):
            out[index] = f"{_FLAG}={resolve_template_path(arg.split('=', 1)[1])}"
        elif arg == _FLAG and index + 1 < len(out):
            out[index + 1] = resolve_template_path(out[index + 1])
    return out


def resolve_template_entries(entries: Mapping[str, Any]) -> dict[str, Any]:
    """``inference_config.yaml`` ``vllm:`` entries with a chat-template path resolved."""
    return {
        key: resolve_template_path(value) if key in _KEYS and isinstance(value, str) else value
        for key, value in entries.items()
    }

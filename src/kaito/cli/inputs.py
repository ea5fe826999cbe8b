"""Reading manifest files for the commands that take ``-f``: files, folders of them, or stdin.

``kaito validate`` and ``kaito render`` read the same way: a folder stands for its ``.yaml``,
``.yml`` and ``.json`` files in name order, ``-`` for stdin, and every file may hold several YAML
documents. A file that cannot be read or parsed is reported with its name, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaito.api import documents

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Manifest:
    """One file's documents, with the name it was given by."""

    label: str
    docs: list[Any]


def expand(paths: Iterable[str]) -> list[str]:
    """``paths`` with each folder replaced by its manifest files, in name order."""
    found: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            found.extend(str(p) for p in sorted(path.iterdir()) if p.suffix in MANIFEST_SUFFIXES)
        else:
            found.append(name)
    return found


def read_manifests(paths: Sequence[str]) -> tuple[list[Manifest], list[str]]:
    """The documents of every file in ``paths``, and a ``name: problem`` line per unreadable one."""
    manifests: list[Manifest] = []
    problems: list[str] = []
    for name in expand(paths):
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
            manifests.append(Manifest(name, documents.parse_yaml_documents(text)))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}")
        except documents.DocumentError as exc:
            problems.append(f"{name}: {exc}")
    return manifests, problems

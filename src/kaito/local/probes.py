"""What the local supervisor asks the machine: free disk, a registry's reachability, health.

Small, side-effect-free questions with short timeouts, kept apart from the supervision loop so
each can be tested (and replaced in tests) on its own.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from kaito.api import constants

HEALTH_TIMEOUT_S = 2.0
_REGISTRY_TIMEOUT_S = 3.0
_DEFAULT_REGISTRY_PORT = 443


def free_bytes(path: Path) -> int | None:
    """Free space (for this user) on the file system holding ``path``; None if unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def registry_reachable(image: str) -> tuple[bool, str]:
    """Whether the registry host of ``image`` accepts a TCP connection (push only if it does)."""
    first = image.split("/", 1)[0]
    if "/" not in image or ("." not in first and ":" not in first and first != "localhost"):
        return False, f"{image} names no registry host"
    parsed = urllib.parse.urlsplit(f"//{first}")
    host = parsed.hostname or first
    try:
        port = parsed.port or _DEFAULT_REGISTRY_PORT
    except ValueError:
        return False, f"bad registry address {first}"
    if "_here" in first.lower():  # the founding example's ACR_REPO_HERE-style placeholders
        return False, f"{host} is a placeholder"
    try:
        with socket.create_connection((host, port), timeout=_REGISTRY_TIMEOUT_S):
            return True, ""
    except OSError as exc:
        return False, f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def healthy(url: str) -> bool:
    """Whether `url` answers its health path with 200 within a short timeout."""
    try:
        with urllib.request.urlopen(
            url + constants.HEALTH_PATH, timeout=HEALTH_TIMEOUT_S
        ) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False

"""Environment settings of the artifact movers, read in this one place.

Upstream's data-downloader init container takes its URLs and target folder from ``DATA_URLS`` and
``DATA_VOLUME_PATH``; the pusher finds registry credentials in a docker ``config.json``
(``$DOCKER_CONFIG`` or ``~/.docker``, where the projected ``imagePushSecret`` lands).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_URLS_ENV = "DATA_URLS"
DATA_DEST_ENV = "DATA_VOLUME_PATH"
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"
DEFAULT_DATA_DEST = Path("/mnt/data")
DOCKER_CONFIG_FILENAME = "config.json"


def data_urls_from_env() -> list[str]:
    """URLs listed (whitespace or comma separated) in ``$DATA_URLS``."""
    raw = os.environ.get(DATA_URLS_ENV, "")
    return [u for u in raw.replace(",", " ").split() if u]


def data_dest_from_env() -> Path:
    """The download folder from ``$DATA_VOLUME_PATH`` (default ``/mnt/data``)."""
    return Path(os.environ.get(DATA_DEST_ENV) or DEFAULT_DATA_DEST)


def default_docker_config() -> Path:
    """Docker's credentials file: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    folder = os.environ.get(DOCKER_CONFIG_ENV)
    base = Path(folder) if folder else Path.home() / ".docker"
    return base / DOCKER_CONFIG_FILENAME

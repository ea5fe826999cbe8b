"""The adapter's one tar layer: written reproducibly, extracted within limits and safely.

Pushing writes ``data/adapter_config.json`` and ``data/adapter_model.safetensors`` into a gzipped
tar with fixed timestamps and owners, so the same adapter always gets the same digest. Pulling
reads a layer from a registry we do not trust: every byte and every member counts against the
pull's :class:`PullLimits`, oversized headers are refused before tarfile buffers them, only
regular files under ``data/`` are taken, names that would leave the folder are refused, and files
are created with ``O_EXCL | O_NOFOLLOW`` so a planted symlink cannot redirect a write.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kaito.api.constants import ADAPTER_FILES
from kaito.runtime.artifacts.errors import AdapterLayoutError, ArtifactError

LAYER_DIR = "data"


GIB = 1024**3


@dataclass(frozen=True)
class PullLimits:
    """Caps on what a pull may cost; exceeding one refuses the pull and removes what it wrote."""

    max_bytes: int = 20 * GIB
    """Total bytes of all layers, downloaded (compressed) and extracted (every tar member)."""
    max_files: int = 10_000
    """Tar members, of any kind, over all layers."""
    layer_seconds: float = 3600.0
    """Wall-clock deadline for downloading one layer."""


def write_layer(src_dir: Path, target: Path) -> str:
    """Write the reproducible ``data/`` tar.gz; return the uncompressed tar's ``sha256:`` digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(LAYER_DIR)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(_normalised(folder))
        for name in ADAPTER_FILES:
            path = src_dir / name
            info = tarfile.TarInfo(f"{LAYER_DIR}/{name}")
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(_normalised(info), handle)
    raw = buffer.getvalue()
    with target.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped:
        zipped.write(raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""``os.O_NOFOLLOW`` where the platform has it: opening refuses a symlink as the last part."""
_MAX_HEADER_BYTES = 1 << 20
_LONG_HEADER_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)


class Budget:
    """What is left of a pull's :class:`PullLimits` over all its layers."""

    def __init__(self, limits: PullLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_bytes
        self.files_left = limits.max_files

    def take_bytes(self, count: int) -> None:
        """Charge ``count`` bytes; refuse the pull once the byte limit is passed."""
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise ArtifactError(
                f"the adapter expands to more than {self.limits.max_bytes} bytes "
                "(raise the limit with --max-bytes if it is genuine)"
            )

    def take_member(self) -> None:
        """Charge one tar member; refuse the pull once the member limit is passed."""
        self.files_left -= 1
        if self.files_left < 0:
            raise ArtifactError(
                f"the adapter holds more than {self.limits.max_files} entries "
                "(raise the limit with --max-files if it is genuine)"
            )


class _CappedReader(io.RawIOBase):
    """A read-only stream that charges every byte read to a :class:`Budget`."""

    def __init__(self, source: Any, budget: Budget) -> None:
        self._source = source
        self._budget = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._source.read(size if size is not None and size >= 0 else 1 << 20)
        self._budget.take_bytes(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses long-name and pax headers above 1 MiB, which tarfile would read into memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADER_TYPES and self.size > _MAX_HEADER_BYTES:
            raise AdapterLayoutError(f"refusing a {self.size}-byte tar header in the layer")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


def extract_layer(blob: Path, dest: Path, budget: Budget) -> list[str]:
    """Copy the regular files under ``data/`` into ``dest``, refusing unsafe member names.

    ``dest`` is the pull's private staging folder: files are created with ``O_EXCL`` and
    ``O_NOFOLLOW``. Every member (also skipped ones) counts against ``budget``.
    """
    names: list[str] = []
    dest.mkdir(exist_ok=True)
    with blob.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        source: Any = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        capped = io.BufferedReader(_CappedReader(source, budget), buffer_size=1 << 16)
        try:
            with tarfile.open(fileobj=capped, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                for member in tar:
                    budget.take_member()
                    relative = _member_path(member)
                    if relative is None:
                        continue
                    if member.size > budget.bytes_left:
                        budget.take_bytes(member.size)
                    _write_member(tar, member, dest, relative)
                    names.append(relative.as_posix())
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise AdapterLayoutError(f"the layer is not a readable tar archive: {exc}") from exc
    return names


def _member_path(member: tarfile.TarInfo) -> PurePosixPath | None:
    """Where a ``data/`` regular file goes, relative to the adapter folder; None to skip."""
    path = PurePosixPath(member.name.lstrip("./") if member.name != "." else "")
    if not member.isfile() or len(path.parts) < 2 or path.parts[0] != LAYER_DIR:
        return None
    relative = PurePosixPath(*path.parts[1:])
    if any(part in {"..", "", "."} for part in relative.parts) or relative.is_absolute():
        raise AdapterLayoutError(f"refusing unsafe path '{member.name}' in the layer")
    if "\x00" in member.name:
        raise AdapterLayoutError("refusing a member name with a NUL byte in the layer")
    return relative


def _write_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, relative: PurePosixPath
) -> None:
    target = dest.joinpath(*relative.parts)
    try:
        for parent in reversed(target.relative_to(dest).parents[:-1]):
            folder = dest / parent
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise AdapterLayoutError(f"the layer uses '{parent}' both as file and folder")
            folder.mkdir(exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            raise AdapterLayoutError(f"the layer uses '{relative}' both as file and folder")
        target.unlink(missing_ok=True)  # a repeated member: the last one wins, as in tar
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise AdapterLayoutError(f"cannot extract '{member.name}': {exc.strerror}") from exc
    source = tar.extractfile(member)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            with source:
                shutil.copyfileobj(source, out, 1 << 16)


def move_into(staged_root: Path, name: str, dest: Path) -> None:
    """Move one extracted file into ``dest``, never through a symlink planted there."""
    relative = PurePosixPath(name)
    folder = dest
    for part in relative.parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise AdapterLayoutError(f"refusing to write into {folder}: not a plain folder")
        folder.mkdir(exist_ok=True)
    target = folder / relative.name
    if target.is_dir() and not target.is_symlink():
        raise AdapterLayoutError(f"refusing to replace the folder {target} with a file")
    os.replace(staged_root.joinpath(*relative.parts), target)

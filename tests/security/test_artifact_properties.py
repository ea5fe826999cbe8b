"""Property tests (hypothesis) for manifest parsing and layer extraction (issue 16).

Whatever a registry sends, :func:`parse_manifest` either returns checked layer descriptors or
raises :class:`ArtifactError`; whatever a layer holds, extraction writes only regular files
inside its staging folder (never a link, never outside), or refuses with ``ArtifactError``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaito.runtime.artifacts import ArtifactError, PullLimits, parse_manifest
from kaito.runtime.artifacts.layers import Budget as _Budget
from kaito.runtime.artifacts.layers import extract_layer as _extract_layer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
LAYER = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from(["application/vnd.oci.image.layer.v1.tar+gzip", 1, None]),
        "digest": st.sampled_from(["sha256:" + "a" * 64, "sha256:../x", "md5:1", 7, ""]),
        "size": st.one_of(st.integers(-5, 10**12), st.booleans(), st.text(max_size=3)),
    },
)
MANIFEST = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"layers": st.one_of(JSON, st.lists(st.one_of(LAYER, JSON), max_size=4))}
    ),
)


@settings(max_examples=300, deadline=None)
@given(MANIFEST)
def test_parse_manifest_returns_checked_layers_or_a_clear_error(document: Any) -> None:
    try:
        layers = parse_manifest(json.dumps(document).encode(), "reg/a:v1")
    except ArtifactError as exc:
        message = str(exc)
        layers = []
    else:
        message = "reg/a:v1"
    assert "reg/a:v1" in message
    for layer in layers:
        assert isinstance(layer["mediaType"], str)
        assert layer["digest"].startswith("sha256:")
        assert len(layer["digest"]) == 71
        assert isinstance(layer["size"], int)
        assert not isinstance(layer["size"], bool)
        assert layer["size"] >= 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_manifest_on_arbitrary_bytes(body: bytes) -> None:
    with contextlib.suppress(ArtifactError):
        parse_manifest(body, "reg/a:v1")


PART = st.sampled_from(["data", "..", ".", "", "a", "b", "adapter_config.json", "x\\y", "data.."])
NAME = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "./", "../"]),
    st.lists(PART, min_size=1, max_size=4),
)
TYPES = [
    tarfile.REGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.FIFOTYPE,
]
MEMBER = st.tuples(
    NAME,
    st.sampled_from(TYPES),
    st.sampled_from(["/etc/passwd", "../outside.txt", "data/a", "/tmp"]),
    st.binary(max_size=64),
)


def _tar(members: list[tuple[str, bytes, str, bytes]], compress: bool) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.mode = 0o777
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = buffer.getvalue()
    if compress:
        import gzip

        return gzip.compress(raw)
    return raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(MEMBER, max_size=8),
    st.booleans(),
    st.integers(min_value=0, max_value=4096),
    st.integers(min_value=0, max_value=10),
)
def test_extraction_writes_only_regular_files_inside_the_staging_folder(
    members: list[Any], compress: bool, max_bytes: int, max_files: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        outside = root / "outside.txt"
        outside.write_text("untouched")
        blob = root / "layer"
        blob.write_bytes(_tar(members, compress))
        files = root / "stage" / "files"
        files.parent.mkdir()
        budget = _Budget(PullLimits(max_bytes=max_bytes, max_files=max_files))
        try:
            names = _extract_layer(blob, files, budget)
        except ArtifactError:
            names = None
        assert outside.read_text() == "untouched"
        for dirpath, dirnames, filenames in os.walk(root):
            for entry in dirnames + filenames:
                path = Path(dirpath) / entry
                assert not path.is_symlink(), path
                if path in (outside, blob, files.parent):
                    continue
                assert path == files or files in path.parents, path
                if path.is_file():
                    assert path.stat().st_nlink == 1
        if names is not None:
            for name in names:
                assert (files / name).is_file()
            assert budget.bytes_left >= 0
            assert budget.files_left >= 0

from __future__ import annotations

import datetime as dt

import pytest

from kaito.api import v1beta1
from kaito.local import listing, status

NOW = dt.datetime(2026, 11, 22, 8, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 15 * 60, "5h15m"),
        (30 * 3600, "30h"),
        (50 * 3600, "2d2h"),
        (9 * 86400, "9d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_age_uses_kubectl_short_durations(seconds: int, expected: str) -> None:
    assert listing.human_duration(seconds) == expected


def _ws(name: str, created: str | None) -> v1beta1.Workspace:
    return v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": name, "creationTimestamp": created},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": "smollm2-135m-instruct"}},
        }
    )


def test_row_reads_each_condition_like_the_crd_printer_columns() -> None:
    ws = _ws("chat", "2026-11-22T07:58:00Z")
    seen = status.start(ws, "host")
    seen.server_ready()
    status.observe(ws, seen)

    row = listing.build_row(ws, NOW)

    assert row.cells() == ("chat", "local", "True", "True", "", "True", "1", "Ready", "2m")


def test_a_workspace_without_status_prints_empty_cells() -> None:
    row = listing.build_row(_ws("fresh", None), NOW)

    assert row.cells() == ("fresh", "local", "", "", "", "", "", "", "<unknown>")


def test_table_has_kubectl_headers_and_aligned_columns() -> None:
    first = _ws("a", "2026-11-22T07:00:00Z")
    second = _ws("much-longer-name", "2026-11-22T07:59:30Z")
    status.start(first, "host")
    text = listing.render_table([listing.build_row(first, NOW), listing.build_row(second, NOW)])
    lines = text.splitlines()

    assert lines[0].split() == list(listing.HEADERS)
    assert lines[1].split()[:3] == ["a", "local", "True"]
    # Every column starts at the same offset on every line.
    start = lines[0].index("INSTANCE")
    assert lines[1][start:].startswith("local")
    assert lines[2][start:].startswith("local")
    assert lines[2].endswith("30s")


def test_list_document_is_a_kubectl_list_of_workspaces() -> None:
    document = listing.build_list([_ws("a", None), _ws("b", None)])

    assert document["kind"] == "List"
    assert [item["metadata"]["name"] for item in document["items"]] == ["a", "b"]
    assert document["items"][0]["apiVersion"] == "kaito.sh/v1beta1"

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.local import runner


def _follow(tmp_path: Path, chunks: list[str], interval: float = 5.0) -> list[str]:
    log = tmp_path / "step.log"
    log.write_text("")
    seen: list[str] = []
    follower = runner.LogFollower(log, seen.append, bar_interval_s=interval)
    for chunk in chunks:
        with log.open("a") as handle:
            handle.write(chunk)
        follower.pump()
    return seen


def test_progress_json_lines_are_rendered_with_eta(tmp_path: Path) -> None:
    line = (
        '{"event":"progress","step":10,"total_steps":40,"epoch":0.5,"loss":1.23456,'
        '"learning_rate":0.001,"tokens_per_second":50.0,"seconds_per_step":3.2,"eta_seconds":96}\n'
    )

    assert _follow(tmp_path, [line]) == [
        "  training: step 10/40 · loss 1.2346 · 3.20 s/step · ETA 1m36s"
    ]


def test_lines_split_across_writes_are_joined(tmp_path: Path) -> None:
    assert _follow(tmp_path, ["hello wo", "rld\nsecond", " line\n"]) == [
        "  hello world",
        "  second line",
    ]


def test_progress_bar_redraws_are_collapsed(tmp_path: Path) -> None:
    redraws = "".join(f"\rConverting: {i}%" for i in range(0, 100, 5))

    seen = _follow(tmp_path, [redraws, "\rConverting: 100%\n"])

    assert seen[0] == "  Converting: 0%"
    assert seen[-1] == "  Converting: 100%"
    assert len(seen) <= 3


def test_health_polls_and_library_warnings_are_not_echoed(tmp_path: Path) -> None:
    seen = _follow(
        tmp_path,
        [
            'INFO:     127.0.0.1:5 - "GET /health HTTP/1.1" 503 Service Unavailable\n',
            "  warnings.warn(\n",
            "serving on 127.0.0.1:5000\n",
        ],
    )

    assert seen == ["  serving on 127.0.0.1:5000"]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "placeholder"),
        ("adapter:1", "names no registry host"),
    ],
)
def test_placeholder_or_hostless_images_are_not_pushed(image: str, reason: str) -> None:
    ok, why = runner.registry_reachable(image)

    assert not ok
    assert reason in why


def test_an_unreachable_registry_is_reported() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok, why = runner.registry_reachable(f"127.0.0.1:{port}/adapter:1")

    assert not ok
    assert f"127.0.0.1:{port}" in why


def test_curl_example_names_the_model_and_endpoint() -> None:
    text = runner.curl_example("http://127.0.0.1:5000", "my-adapter")

    assert "http://127.0.0.1:5000/v1/chat/completions" in text
    assert '"model": "my-adapter"' in text

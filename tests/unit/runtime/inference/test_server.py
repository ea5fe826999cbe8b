"""The app before a model is loaded: probes, the error envelope and the API key check."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaito.runtime.inference.options import parse_serve_args
from kaito.runtime.inference.server import build_app


def app_without_model(tmp_path: Path, *extra: str) -> TestClient:
    options = parse_serve_args(["--model", str(tmp_path / "missing-model"), *extra])
    return TestClient(build_app(options))


def test_health_is_503_and_requests_get_the_openai_envelope_until_a_model_loads(
    tmp_path: Path,
) -> None:
    with app_without_model(tmp_path) as client:
        assert client.get("/health").status_code == 503
        response = client.get("/v1/models")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_not_ready"
        legacy = client.post("/chat", json={"prompt": "hi"})
        assert legacy.status_code == 503
        assert "detail" in legacy.json()


def test_unknown_routes_use_the_envelope_and_legacy_keeps_fastapi_shapes(tmp_path: Path) -> None:
    with app_without_model(tmp_path) as client:
        missing = client.get("/v1/nothing")
        assert missing.status_code == 404
        assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
        assert client.post("/chat", json={"prompt": 1}).status_code == 422


def test_api_key_guards_everything_but_health_and_metrics(tmp_path: Path) -> None:
    with app_without_model(tmp_path, "--api-key", "s3cret") as client:
        assert client.get("/v1/models").status_code == 401
        wrong = client.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"
        right = client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 503  # past the key check; the model is not loaded
        assert client.get("/health").status_code == 503
        assert client.get("/metrics").status_code == 200


def test_metrics_expose_request_counts_by_status(tmp_path: Path) -> None:
    with app_without_model(tmp_path) as client:
        client.get("/v1/models")
        text = client.get("/metrics").text
        assert 'kaito_inference_requests_total{endpoint="/v1/models",status="503"} 1.0' in text
        assert "kaito_inference_queue_depth 0.0" in text


async def test_model_sources_run_on_a_thread_that_ends_with_them() -> None:
    """Torch work of a model conversion must not stay on a live thread (see ``in_own_thread``)."""
    import threading

    from kaito.runtime.inference.server import in_own_thread

    threads: list[threading.Thread] = []

    def convert() -> str:
        threads.append(threading.current_thread())
        return "/models/converted"

    def broken() -> str:
        raise ValueError("cannot read GGUF file x.gguf")

    assert await in_own_thread(convert) == "/models/converted"
    threads[0].join(timeout=5)
    assert threads[0] is not threading.main_thread()
    assert not threads[0].is_alive()
    with pytest.raises(ValueError, match="cannot read GGUF file"):
        await in_own_thread(broken)

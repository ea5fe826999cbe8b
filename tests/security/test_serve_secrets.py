"""Item 1 of issue 16: adapter names never make the server read or echo environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.runtime.inference import settings
from kaito.runtime.inference.openai.serving import OpenAIServing
from tests.security.conftest import serving

SECRET = "hf_TopSecretValue123"


def test_hot_loading_an_adapter_named_like_a_secret_neither_reads_nor_echoes_it(
    tiny_model_dir: Path, adapters_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("db-password", SECRET)  # a lower-case name a Workspace adapter could have
    with serving(tiny_model_dir, adapters_dir) as client:
        for name in ("HF_TOKEN", "db-password"):
            body = {"lora_name": name, "lora_path": str(adapters_dir / "facts")}
            response = client.post("/v1/load_lora_adapter", json=body)
            assert SECRET not in response.text
            assert response.status_code == 200, response.text
            chat = client.post(
                "/v1/completions", json={"model": name, "prompt": "hi", "max_tokens": 2}
            )
            assert chat.status_code == 200, chat.text
            assert SECRET not in chat.text


def test_strength_is_read_only_for_workspace_adapter_names_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HF_TOKEN", "KAITO_API_KEY", "PATH", "AWS_SECRET_ACCESS_KEY", "x y", ""):
        monkeypatch.setenv(name or "EMPTY", "0.5")
        assert settings.get_adapter_strength(name) == settings.DEFAULT_ADAPTER_STRENGTH
    monkeypatch.setenv("facts", "0.25")
    assert settings.get_adapter_strength("facts") == 0.25
    for bad in (SECRET, "nan", "inf", "-inf"):
        monkeypatch.setenv("facts", bad)
        with pytest.raises(ValueError) as caught:
            settings.get_adapter_strength("facts")
        assert bad not in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__


def test_unexpected_errors_answer_500_without_the_exception_text(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: OpenAIServing) -> None:
        raise RuntimeError(f"token={SECRET}")

    monkeypatch.setattr(OpenAIServing, "list_models", boom)
    with serving(tiny_model_dir, tmp_path) as client:
        response = client.get("/v1/models")
        assert response.status_code == 500
        assert SECRET not in response.text
        assert response.json()["error"]["type"] == "internal_server_error"
        legacy = client.post("/chat", json={"prompt": "hi", "generate_kwargs": {"top_k": 1}})
        assert legacy.status_code == 200, legacy.text

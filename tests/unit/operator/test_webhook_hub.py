"""The webhook asks the hub about unlisted ``org/repo`` presets before its synchronous rules run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.api.workspace import parse_workspace
from kaito.operator import webhook
from kaito.operator.settings import OperatorSettings
from kaito.runtime.models.hub_config import HubConfigReader
from kaito.validation import LookupUnavailableError, StaticHubLookup
from tests.fixtures.fake_hub import FakeHub
from tests.unit.api.validation.conftest import inference_doc, patched


def _ws(preset: str) -> Any:
    return parse_workspace(patched(inference_doc(), {"inference.preset.name": preset}))


def test_prefetch_asks_only_for_unlisted_repos(fake_hub: FakeHub) -> None:
    reader = HubConfigReader(endpoint=fake_hub.url)
    listed = asyncio.run(webhook.prefetch_hub(_ws("phi-4-mini-instruct"), reader))
    assert fake_hub.requests == []
    with pytest.raises(LookupUnavailableError):
        listed.model_architectures("microsoft/Phi-4-mini-instruct")

    lookup = asyncio.run(webhook.prefetch_hub(_ws("org/llama"), reader))
    assert isinstance(lookup, StaticHubLookup)
    assert tuple(lookup.model_architectures("org/llama")) == ("LlamaForCausalLM",)
    missing = asyncio.run(webhook.prefetch_hub(_ws("org/absent"), reader))
    with pytest.raises(LookupError, match="HTTP 404"):
        missing.model_architectures("org/absent")


def test_hub_reader_follows_settings() -> None:
    settings = OperatorSettings(hub_endpoint="http://hub.internal", hub_offline=False)
    reader = webhook.hub_reader(settings)
    assert reader is not None
    assert reader.endpoint == "http://hub.internal"
    assert webhook.hub_reader(OperatorSettings(hub_offline=True)) is None


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("YES", True), ("", False), ("0", False), ("nope", False)]
)
def test_hf_hub_offline_is_read_like_huggingface_hub(
    monkeypatch: pytest.MonkeyPatch, value: str, offline: bool
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert OperatorSettings().hub_offline is offline

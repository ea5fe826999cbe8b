"""Architecture rules: unlisted ``org/repo`` presets need an architecture vLLM serves, and LoRA
adapters on vLLM need a model whose vLLM implementation takes them.

The facts come from ``presets/data/vllm_architectures.yaml`` (generated from vLLM's registry) and,
for unlisted repos, from the hub through the ``HubLookup`` protocol; here a ``StaticHubLookup``
plays the hub, as the webhook's prefetch hands it over.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api import constants
from kaito.api.workspace import parse_workspace
from kaito.presets import catalog, vllm_support
from kaito.validation import LookupUnavailableError, StaticHubLookup, check_workspace
from tests.unit.api.validation.conftest import inference_doc, make_context, patched

REPO = "contoso/house-model-7b"
ADAPTER = {"source": {"name": "adapter-a", "image": "myregistry.azurecr.io/adapter:1"}}
NOT_CHECKED = f"not checked: whether vLLM supports the architecture of {REPO}"


def _doc(preset: str = REPO, adapters: list[dict[str, Any]] | None = None, **ann: str) -> Any:
    changes: dict[str, Any] = {"inference.preset.name": preset}
    if adapters is not None:
        changes["inference.adapters"] = adapters
    if ann:
        changes["metadata.annotations"] = ann
    return parse_workspace(patched(inference_doc(), changes))


def _messages(report: Any) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in report.errors]


def test_generated_table_knows_common_architectures() -> None:
    assert vllm_support.vllm_version() != "unknown"
    assert catalog.vllm_serves(["LlamaForCausalLM"]) is True
    assert catalog.vllm_serves(["NoSuchThingForCausalLM"]) is False
    assert catalog.vllm_serves([]) is None
    assert catalog.vllm_lora_support(["LlamaForCausalLM"]) is True
    assert catalog.vllm_lora_support(["FalconForCausalLM"]) is False
    assert catalog.vllm_lora_support(["NoSuchThingForCausalLM"]) is None
    # One served architecture with LoRA is enough.
    assert catalog.vllm_lora_support(["FalconForCausalLM", "LlamaForCausalLM"]) is True


def test_unlisted_repo_with_a_served_architecture_is_admitted() -> None:
    hub = StaticHubLookup({REPO: ["MistralForCausalLM"]})
    report = check_workspace(_doc(adapters=[ADAPTER]), make_context(hub=hub))
    assert not [e for e in report.errors if e.field.startswith("inference")]
    assert not any(NOT_CHECKED in w.message for w in report.warnings)


def test_unlisted_repo_with_no_served_architecture_is_rejected() -> None:
    hub = StaticHubLookup({REPO: ["HouseTransformerForCausalLM"]})
    report = check_workspace(_doc(), make_context(hub=hub))
    assert (
        "inference.preset.name",
        f"failed to get model preset: model {REPO} has architectures "
        "HouseTransformerForCausalLM, none of which vLLM supports",
    ) in _messages(report)


def test_repo_the_hub_does_not_know_is_rejected() -> None:
    hub = StaticHubLookup({REPO: LookupError(f"model {REPO} has no config.json (HTTP 404)")})
    report = check_workspace(_doc(), make_context(hub=hub))
    assert (
        "inference.preset.name",
        f"failed to get model preset: model {REPO} has no config.json (HTTP 404)",
    ) in _messages(report)


@pytest.mark.parametrize(
    "hub",
    [None, StaticHubLookup({REPO: LookupUnavailableError("HTTP 401: gated or private")})],
    ids=["no-hub", "gated"],
)
def test_unanswered_hub_admits_with_a_not_checked_warning(hub: Any) -> None:
    report = check_workspace(_doc(adapters=[ADAPTER]), make_context(hub=hub))
    assert not [e for e in report.errors if e.field.startswith("inference")]
    assert [w.field for w in report.warnings if NOT_CHECKED in w.message] == [
        "inference.preset.name"
    ]


def test_catalog_presets_never_ask_the_hub() -> None:
    hub = StaticHubLookup({})  # would answer "unavailable" for anything
    report = check_workspace(_doc("phi-4-mini-instruct"), make_context(hub=hub))
    assert report.valid
    assert not any("not checked: whether vLLM" in w.message for w in report.warnings)


def test_lora_adapters_on_vllm_need_lora_support() -> None:
    hub = StaticHubLookup({REPO: ["FalconForCausalLM"]})
    report = check_workspace(_doc(adapters=[ADAPTER]), make_context(hub=hub))
    assert (
        "inference.adapters",
        "Runtime validation: vLLM does not support LoRA adapters for this model",
    ) in _messages(report)
    # The same model without adapters is fine.
    plain = check_workspace(_doc(), make_context(hub=hub))
    assert not [e for e in plain.errors if e.field.startswith("inference")]


def test_lora_rule_uses_catalog_architectures_on_update_too() -> None:
    falcon = "falcon-7b-instruct"
    spec = catalog.get_model(falcon)
    assert "FalconForCausalLM" in spec.architectures
    old = _doc(falcon)
    new = _doc(falcon, adapters=[ADAPTER])
    report = check_workspace(new, make_context(), old)
    assert (
        "inference.adapters",
        "Runtime validation: vLLM does not support LoRA adapters for this model",
    ) in _messages(report)
    # Served by transformers instead, adapters are allowed.
    report = check_workspace(
        _doc(falcon, adapters=[ADAPTER], **{constants.ANNOTATION_RUNTIME: "transformers"}),
        make_context(),
    )
    assert not any("LoRA adapters" in m for _, m in _messages(report))

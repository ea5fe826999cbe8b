"""InferenceSet admission: the set's own rules and the Workspace rules on each would-be child."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api.inferenceset import parse_inferenceset
from kaito.validation import ValidationContext
from kaito.validation.inferenceset import check_inferenceset, cron_error, parse_go_duration

EXAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "upstream_inferencesets"
NAP = "azure-gpu-provisioner"
BASE: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "InferenceSet",
    "metadata": {"name": "chat", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "labelSelector": {"matchLabels": {"apps": "chat"}},
        "template": {
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    },
}


def ctx(provisioner: str | None = NAP, **gates: bool) -> ValidationContext:
    return ValidationContext(node_provisioner=provisioner, feature_gates=gates)


def errors(body: dict[str, Any], context: ValidationContext | None = None, old: Any = None) -> set:
    report = check_inferenceset(
        parse_inferenceset(body), context or ctx(), parse_inferenceset(old) if old else None
    )
    return {(e.field, e.message) for e in report.errors}


def with_spec(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body["spec"].update(spec)
    return body


def test_a_valid_set_has_no_errors() -> None:
    assert errors(BASE) == set()


def test_name_must_be_a_dns_label() -> None:
    body = copy.deepcopy(BASE)
    body["metadata"]["name"] = "Chat_1"
    assert any(f == "metadata.name" for f, _ in errors(body))


def test_negative_replicas_rejected_with_upstreams_message() -> None:
    assert ("spec.replicas", "invalid value: -1: must be non-negative") in errors(
        with_spec(replicas=-1)
    )


def test_instance_type_must_be_empty_with_byo_and_present_with_nap() -> None:
    assert (
        "spec.template.resource.instanceType",
        "invalid value: Standard_NC24ads_A100_v4: instanceType must be empty when nodeProvisioner "
        "is byo",
    ) in errors(BASE, ctx("byo"))
    body = copy.deepcopy(BASE)
    body["spec"]["template"]["resource"] = {}
    assert (
        "spec.template.resource.instanceType",
        "instanceType is required when node auto-provisioning is enabled",
    ) in errors(body)


def test_child_workspace_findings_are_reported_under_the_template() -> None:
    body = copy.deepcopy(BASE)
    body["spec"]["template"]["inference"] = {"preset": {"name": "no-such-model-xyz"}}
    fields = {f for f, _ in errors(body)}
    assert "spec.template.inference.preset.name" in fields
    body = with_spec(labelSelector={"matchLabels": {"bad key!": "x"}})
    assert any(f.startswith("spec.labelSelector") for f, _ in errors(body))


@pytest.mark.parametrize(
    ("window", "field", "fragment"),
    [
        ({"schedule": ""}, "schedule", "missing field"),
        ({"schedule": "0 2 * *"}, "schedule", "expected exactly 5 fields"),
        ({"schedule": "61 2 * * 6"}, "schedule", "out of range"),
        ({"schedule": "0 2 * * 6", "duration": "-1h"}, "duration", "must be a positive duration"),
        ({"schedule": "0 2 * * 6", "duration": "soon"}, "duration", "not a duration"),
    ],
)
def test_maintenance_window_rules(window: dict[str, Any], field: str, fragment: str) -> None:
    found = errors(with_spec(autoUpgrade={"enabled": True, "maintenanceWindow": window}))
    assert any(
        f == f"spec.autoUpgrade.maintenanceWindow.{field}" and fragment in m for f, m in found
    ), found


@pytest.mark.parametrize(
    "schedule", ["0 2 * * 6", "*/15 0-6 1,15 jan-mar mon-fri", "@daily", "@every 1h30m"]
)
def test_valid_cron_schedules(schedule: str) -> None:
    assert cron_error(schedule) is None


def test_go_durations() -> None:
    assert parse_go_duration("4h") == 14400
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("h") is None


def test_update_strategy_values_are_checked() -> None:
    assert any(
        f == "spec.updateStrategy.type" for f, _ in errors(with_spec(updateStrategy={"type": "X"}))
    )
    bad = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    assert any(
        f == "spec.updateStrategy.rollingUpdate.maxUnavailable"
        for f, _ in errors(with_spec(updateStrategy=bad))
    )


def test_partition_is_immutable_on_update() -> None:
    old = copy.deepcopy(BASE)
    old["spec"]["template"]["resource"] = {"partition": {"mode": "mig", "profile": "1g.10gb"}}
    new = copy.deepcopy(old)
    new["spec"]["template"]["resource"]["partition"]["profile"] = "2g.20gb"
    found = errors(new, ctx("byo", enableMIG=True), old=old)
    assert ("spec.template.resource.partition", "field is immutable") in found
    assert ("spec.template.resource.partition", "field is immutable") not in errors(
        old, ctx("byo", enableMIG=True), old=old
    )


def _example(name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((EXAMPLES / name).read_text())
    return next(d for d in docs if d and d.get("kind") == "InferenceSet")


# (file, valid with auto-provisioning, valid with BYO nodes and enableMIG): upstream's verdicts.
VERDICTS = [
    ("kaito_inferenceset_llama-3.1_8b_instruct.yaml", True, False),
    ("kaito_inferenceset_mistral_7b-instruct.yaml", True, False),
    ("kaito_inferenceset_phi_4_mini.yaml", True, False),
    ("kaito_inferenceset_mig_single_strategy.yaml", False, True),
    ("kaito_inferenceset_mig_mixed_strategy.yaml", False, True),
]


@pytest.mark.parametrize(("name", "nap_ok", "byo_ok"), VERDICTS)
def test_upstream_examples_get_upstreams_verdicts(name: str, nap_ok: bool, byo_ok: bool) -> None:
    body = _example(name)
    assert (errors(body, ctx(NAP)) == set()) is nap_ok
    assert (errors(body, ctx("byo", enableMIG=True)) == set()) is byo_ok


def test_mig_partition_needs_the_gate() -> None:
    found = errors(_example("kaito_inferenceset_mig_mixed_strategy.yaml"), ctx("byo"))
    assert (
        "spec.template.resource.partition",
        "MIG support is not enabled, set feature gate enableMIG=true",
    ) in found

from __future__ import annotations

import pytest
import yaml

from kaito.manifests import render
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from kaito.presets import catalog, estimator, skus
from kaito.presets.errors import EstimateError, UnknownPresetError
from tests.unit.manifests.conftest import INFERENCE_WS, TUNING_WS, make_ws


def _kinds(objects):
    return [o["kind"] for o in objects]


def test_vllm_node_count_comes_from_the_estimator():
    ws = make_ws(INFERENCE_WS, inference={"preset": {"name": "llama-3.3-70b-instruct"}})
    plan = render.plan_workload(ws, ManifestSettings())
    gpu = skus.get_sku("Standard_NC24ads_A100_v4")
    assert gpu is not None
    expected = estimator.estimate_nodes(catalog.get_model("llama-3.3-70b-instruct"), gpu).nodes
    assert plan.node_count == expected == 3
    assert plan.gpu == gpu
    assert plan.disk_gib == catalog.get_model("llama-3.3-70b-instruct").disk_gib


def test_transformers_runtime_uses_resource_count():
    ws = make_ws(
        INFERENCE_WS,
        metadata={"annotations": {"kaito.sh/runtime": "transformers"}},
        resource={"count": 2},
    )
    assert render.plan_workload(ws, ManifestSettings()).node_count == 2


@pytest.mark.parametrize("count", [0, -1])
def test_resource_count_below_one_plans_one_node(count):
    ws = make_ws(
        INFERENCE_WS,
        metadata={"annotations": {"kaito.sh/runtime": "transformers"}},
        resource={"count": count},
    )
    assert render.plan_workload(ws, ManifestSettings()).node_count == 1


def test_tuning_always_plans_one_node_with_upstreams_default_disk():
    ws = make_ws(TUNING_WS, resource={"count": 3})
    plan = render.plan_workload(ws, ManifestSettings())
    assert plan.node_count == 1
    assert plan.disk_gib is None
    (claim,) = render.build_node_objects(ws, ManifestSettings(), plan)
    assert claim["spec"]["resources"]["requests"]["storage"] == "1024Gi"


def test_explicit_node_count_wins_over_the_estimator(inference_ws):
    assert render.plan_workload(inference_ws, ManifestSettings(), node_count=5).node_count == 5


def test_unknown_sku_plans_without_gpu_facts():
    ws = make_ws(INFERENCE_WS, resource={"instanceType": "Standard_NC999_future"})
    plan = render.plan_workload(ws, ManifestSettings())
    assert plan.gpu is None
    assert plan.node_count == 1


def test_model_too_large_for_the_context_is_an_estimate_error():
    ws = make_ws(INFERENCE_WS, resource={"instanceType": "Standard_NV36ads_A10_v5"})
    with pytest.raises(EstimateError):
        render.plan_workload(ws, ManifestSettings(), max_model_len=10_000_000)


def test_unknown_preset_is_a_preset_error():
    ws = make_ws(INFERENCE_WS, inference={"preset": {"name": "no-such-model"}})
    with pytest.raises(UnknownPresetError):
        render.plan_workload(ws, ManifestSettings())


@pytest.mark.parametrize(
    ("provisioner", "node_kinds"),
    [
        ("gpu-provisioner", ["NodeClaim", "NodeClaim"]),
        ("azure-gpu-provisioner", ["NodeClaim", "NodeClaim"]),
        ("karpenter", ["NodePool"]),
        ("byo", []),
    ],
)
def test_build_all_lists_inference_objects_per_provisioner(inference_ws, provisioner, node_kinds):
    objects = render.build_all(
        inference_ws, ManifestSettings(node_provisioner=provisioner), WorkloadPlan(node_count=2)
    )
    assert _kinds(objects) == [
        "ControllerRevision",
        *node_kinds,
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_build_all_for_tuning_copies_the_default_config_and_makes_a_job(tuning_ws):
    objects = render.build_all(tuning_ws, ManifestSettings(), WorkloadPlan())
    assert _kinds(objects) == ["ControllerRevision", "ConfigMap", "NodeClaim", "Job"]


def test_dump_yaml_is_multi_document_without_aliases_and_round_trips(tuning_ws):
    objects = render.build_all(tuning_ws, ManifestSettings(), WorkloadPlan())
    text = render.dump_yaml(objects)
    assert "&id" not in text
    assert "*id" not in text
    assert text.count("\n---\n") + text.startswith("---") == len(objects)
    assert list(yaml.safe_load_all(text)) == objects
    # Multi-line strings (the training config, shell scripts) stay readable.
    assert "training_config.yaml: |" in text
    assert render.dump_yaml(objects) == text

from __future__ import annotations

import math
import shlex
from typing import Any

import pytest

from kaito.api.workspace import workspace_runtime
from kaito.manifests import inference, render
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from kaito.presets import catalog, skus
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws

A100 = skus.get_sku("Standard_NC24ads_A100_v4")
V100 = skus.get_sku("Standard_NC6s_v3")
SETTINGS = ManifestSettings(runtime_image="registry.example.com/kaito/runtime:1.2.3")


def _pod(sts):
    return sts["spec"]["template"]["spec"]


def _main(sts):
    return _pod(sts)["containers"][0]


def _env(container):
    return {e["name"]: e for e in container.get("env", [])}


def _build(ws, **plan):
    plan.setdefault("gpu", A100)
    plan.setdefault("runtime", workspace_runtime(ws, SETTINGS.gate("vLLM")))
    return inference.build_statefulset(ws, SETTINGS, WorkloadPlan(**plan))


def test_statefulset_shape(inference_ws):
    sts = _build(inference_ws, node_count=2, revision=4)
    assert sts["metadata"]["name"] == "workspace-phi-4-mini"
    assert sts["metadata"]["annotations"] == {"workspace.kaito.io/revision": "4"}
    assert sts["metadata"]["ownerReferences"][0]["uid"] == "uid-1234"
    spec = sts["spec"]
    assert spec["replicas"] == 2
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenScaled": "Retain",
        "whenDeleted": "Delete",
    }
    assert spec["serviceName"] == "workspace-phi-4-mini-headless"
    assert spec["selector"] == {"matchLabels": {"kaito.sh/workspace": "workspace-phi-4-mini"}}
    assert spec["template"]["metadata"]["labels"] == {"kaito.sh/workspace": "workspace-phi-4-mini"}


def test_single_node_container_runs_kaito_serve_with_vllm_flags(inference_ws):
    main = _main(_build(inference_ws))
    assert main["image"] == "registry.example.com/kaito/runtime:1.2.3"
    command = main["command"]
    assert command[:4] == [
        "kaito-serve",
        "--engine=vllm",
        "--port=5000",
        "--kaito-adapters-dir=/mnt/adapter",
    ]
    assert "--model=microsoft/Phi-4-mini-instruct" in command
    assert "--served-model-name=phi-4-mini-instruct" in command
    assert "--dtype=bfloat16" in command
    assert "--tensor-parallel-size=1" in command
    assert not any(arg.startswith("--kaito-config-file") for arg in command)
    assert "--enable-lora" not in command
    assert main["resources"] == {
        "requests": {"nvidia.com/gpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {
        "http": 5000,
        "kv-events": 5557,
    }


def test_bfloat16_becomes_float16_on_v100(inference_ws):
    command = _main(_build(inference_ws, gpu=V100))["command"]
    assert "--dtype=float16" in command
    assert "--dtype=bfloat16" not in command


def test_gpu_count_comes_from_the_node_gpu_config(inference_ws):
    four = skus.get_sku("Standard_NC96ads_A100_v4")
    main = _main(_build(inference_ws, gpu=four))
    assert main["resources"]["limits"] == {"nvidia.com/gpu": "4"}


def test_unknown_gpu_requests_no_gpu(inference_ws):
    assert "resources" not in _main(_build(inference_ws, gpu=None))


def test_probes_use_health_and_the_readiness_timeout_formula():
    ws = make_ws(INFERENCE_WS, inference={"preset": {"name": "llama-3.3-70b-instruct"}})
    main = _main(_build(ws))
    weights = catalog.get_model("llama-3.3-70b-instruct").weights_gib
    assert weights is not None
    timeout = max(30 * 60, min(180 * 60, 15 * 60 + math.ceil(18 * weights)))
    assert main["startupProbe"]["failureThreshold"] == math.ceil(timeout / 10)
    assert main["startupProbe"]["periodSeconds"] == 10
    assert main["startupProbe"]["httpGet"] == {"path": "/health", "port": 5000, "scheme": "HTTP"}
    assert main["livenessProbe"]["failureThreshold"] == 3
    assert main["readinessProbe"]["initialDelaySeconds"] == 30


def test_small_models_get_the_thirty_minute_floor(inference_ws):
    assert _main(_build(inference_ws))["startupProbe"]["failureThreshold"] == 180


def test_volumes_and_mounts_for_config_and_adapters():
    ws = make_ws(
        INFERENCE_WS,
        inference={
            "config": "my-inference-params",
            "adapters": [
                {
                    "source": {
                        "name": "img.adapter",
                        "image": "r.io/a:1",
                        "imagePullSecrets": ["acr"],
                    }
                },
                {
                    "source": {
                        "name": "vol",
                        "volumeSource": {"persistentVolumeClaim": {"claimName": "c"}},
                    }
                },
            ],
        },
    )
    sts = _build(ws)
    pod = _pod(sts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert volumes["inference-config"]["configMap"] == {"name": "my-inference-params"}
    assert volumes["adapter-volume"] == {"name": "adapter-volume", "emptyDir": {}}
    assert volumes["adapter-vol"]["persistentVolumeClaim"] == {"claimName": "c"}
    assert volumes["registry-auth-acr"]["secret"] == {
        "secretName": "acr",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    mounts = {m["mountPath"]: m["name"] for m in _main(sts)["volumeMounts"]}
    assert mounts == {
        "/dev/shm": "dshm",
        "/workspace/weights": "model-weights-volume",
        "/mnt/config": "inference-config",
        "/mnt/adapter": "adapter-volume",
        "/mnt/adapter/vol": "adapter-vol",
    }
    command = _main(sts)["command"]
    assert "--kaito-config-file=/mnt/config/inference_config.yaml" in command
    assert "--enable-lora" in command
    # One puller per image adapter, running our own `kaito pull` with the projected credentials.
    (puller,) = pod["initContainers"]
    assert puller["name"] == "puller-img-adapter"
    assert puller["image"] == SETTINGS.runtime_image
    assert puller["command"] == [
        "kaito",
        "pull",
        "r.io/a:1",
        "/mnt/adapter/img.adapter",
        "--docker-config",
        "/etc/kaito/registry-auth/acr/config.json",
    ]
    assert {m["mountPath"] for m in puller["volumeMounts"]} == {
        "/mnt/adapter",
        "/etc/kaito/registry-auth/acr",
    }


def test_hf_token_comes_from_the_model_access_secret_optionally():
    ws = make_ws(
        INFERENCE_WS,
        inference={
            "preset": {
                "name": "llama-3.1-8b-instruct",
                "presetOptions": {"modelAccessSecret": "hf"},
            }
        },
    )
    env = _env(_main(_build(ws)))
    assert env["HF_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "hf", "key": "HF_TOKEN", "optional": True}
    }


def test_transformers_runtime_sets_adapter_strength_env_and_engine():
    ws = make_ws(
        INFERENCE_WS,
        metadata={"annotations": {"kaito.sh/runtime": "transformers"}},
        inference={
            "adapters": [
                {"source": {"name": "a1", "image": "r.io/a:1"}, "strength": "0.5"},
                {"source": {"name": "a2", "image": "r.io/b:1"}},
            ]
        },
    )
    main = _main(_build(ws))
    env = _env(main)
    assert env["a1"]["value"] == "0.5"
    assert env["a2"]["value"] == "1.0"
    assert main["command"] == [
        "kaito-serve",
        "--engine=transformers",
        "--port=5000",
        "--kaito-adapters-dir=/mnt/adapter",
        "--model=microsoft/Phi-4-mini-instruct",
        "--served-model-name=phi-4-mini-instruct",
    ]
    assert [p["name"] for p in main["ports"]] == ["http"]


def test_vllm_runtime_sets_no_strength_env():
    ws = make_ws(
        INFERENCE_WS, inference={"adapters": [{"source": {"name": "a1", "image": "r.io/a:1"}}]}
    )
    assert "a1" not in _env(_main(_build(ws)))


def test_scheduling_pins_pods_to_the_workspace_nodes(inference_ws):
    pod = _pod(_build(inference_ws))
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = {e["key"]: e["values"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]}
    assert expressions == {
        "apps": ["phi-4-mini"],
        "kaito.sh/workspace": ["workspace-phi-4-mini"],
        "kaito.sh/workspacenamespace": ["team-a"],
    }
    tolerations = {(t["key"], t.get("value")) for t in pod["tolerations"]}
    assert tolerations == {
        ("nvidia.com/gpu", None),
        ("sku", "gpu"),
        ("kubernetes.azure.com/scalesetpriority", "spot"),
    }


def test_byo_affinity_has_only_the_user_labels(inference_ws):
    sts = inference.build_statefulset(
        inference_ws, ManifestSettings(node_provisioner="byo"), WorkloadPlan(gpu=A100)
    )
    terms = _pod(sts)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    keys = [e["key"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]]
    assert keys == ["apps"]


def test_multi_node_vllm_forms_a_ray_cluster_led_by_pod_zero():
    ws = make_ws(INFERENCE_WS, inference={"preset": {"name": "llama-3.3-70b-instruct"}})
    plan = render.plan_workload(ws, SETTINGS)
    assert plan.node_count == 3
    sts = inference.build_statefulset(ws, SETTINGS, plan)
    main = _main(sts)
    assert main["command"][:2] == ["/bin/sh", "-c"]
    script = main["command"][2]
    leader, worker = script.split("\nelse\n")
    assert leader.startswith('if [ "${POD_INDEX}" = "0" ]; then')
    assert "ray start --head --port=6379" in leader
    assert ">= 3" in leader
    serve = leader.splitlines()[-1].strip()
    assert serve.startswith("exec kaito-serve ")
    argv = shlex.split(serve.removeprefix("exec "))
    assert "--pipeline-parallel-size=3" in argv
    assert "--distributed-executor-backend=ray" in argv
    assert '--kv-events-config={"enable_kv_cache_events":true}' in argv
    head = "workspace-phi-4-mini-0.workspace-phi-4-mini-headless.team-a.svc.cluster.local:6379"
    assert f"ray start --address={head} --block" in worker
    assert _env(main)["POD_INDEX"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    assert sts["spec"]["replicas"] == 3
    probe = main["livenessProbe"]["exec"]["command"][2]
    assert "http://127.0.0.1:5000/health" in probe
    assert f"ray health-check --address {head}" in probe


def test_single_node_has_no_pod_index(inference_ws):
    assert "POD_INDEX" not in _env(_main(_build(inference_ws)))


def test_custom_template_is_wrapped_not_replaced():
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "mine"}},
        "spec": {
            "affinity": {"podAntiAffinity": {"x": "user affinity is overwritten"}},
            "tolerations": [{"key": "mine", "operator": "Exists"}],
            "containers": [{"name": "server", "image": "example.com/server:1", "args": ["--x"]}],
        },
    }
    ws = make_ws(INFERENCE_WS, inference={"preset": None, "template": template})
    sts = _build(ws, node_count=2)
    wrapped = sts["spec"]["template"]
    assert wrapped["metadata"]["labels"] == {
        "app": "mine",
        "kaito.sh/workspace": "workspace-phi-4-mini",
    }
    pod = wrapped["spec"]
    assert pod["containers"] == template["spec"]["containers"]
    assert set(pod["affinity"]) == {"nodeAffinity"}
    assert pod["tolerations"][0] == {"key": "mine", "operator": "Exists"}
    assert len(pod["tolerations"]) == 4
    assert sts["spec"]["replicas"] == 2
    # The user's object is not mutated.
    assert template["metadata"]["labels"] == {"app": "mine"}


def test_inference_without_preset_or_template_is_an_error():
    ws = make_ws(INFERENCE_WS, inference={"preset": None})
    with pytest.raises(ManifestError, match="preset or a template"):
        _build(ws)


def test_controller_computed_engine_args_replace_the_catalog_ones(inference_ws):
    command = _main(_build(inference_ws, engine_args=("--model=/local", "--x=1")))["command"]
    assert command[4:] == ["--model=/local", "--x=1"]


def test_performance_mode_annotation_reaches_vllm():
    ws = make_ws(
        INFERENCE_WS, metadata={"annotations": {"kaito.sh/performance-mode": "throughput"}}
    )
    assert "--performance-mode=throughput" in _main(_build(ws))["command"]


def test_volume_source_of_an_adapter_is_copied_not_shared():
    source = {"persistentVolumeClaim": {"claimName": "c"}}
    ws = make_ws(
        INFERENCE_WS, inference={"adapters": [{"source": {"name": "v", "volumeSource": source}}]}
    )
    sts = _build(ws)
    volume = next(v for v in _pod(sts)["volumes"] if v["name"] == "adapter-v")
    volume["persistentVolumeClaim"]["claimName"] = "changed"
    assert ws.inference is not None
    assert ws.inference.adapters[0].source is not None
    assert ws.inference.adapters[0].source.volume_source == source


def test_weights_storage_class_turns_the_weights_volume_into_a_claim(inference_ws):
    sts = _build(inference_ws, weights_storage_class="kaito-local-nvme-disk", disk_gib=87)
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "model-weights-volume"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "kaito-local-nvme-disk",
        "resources": {"requests": {"storage": "87Gi"}},
    }
    assert "model-weights-volume" not in {v["name"] for v in _pod(sts)["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in _main(sts)["volumeMounts"]}
    assert mounts["model-weights-volume"] == "/workspace/weights"


def test_without_a_weights_storage_class_weights_live_in_an_empty_dir(inference_ws):
    sts = _build(inference_ws)
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in _pod(sts)["volumes"]}
    assert volumes["model-weights-volume"] == {"name": "model-weights-volume", "emptyDir": {}}


def test_adapter_pull_secrets_are_also_pod_image_pull_secrets_as_upstream():
    image = {"name": "a", "image": "r.io/a:1", "imagePullSecrets": ["acr", "shared"]}
    other = {"name": "b", "image": "r.io/b:1", "imagePullSecrets": ["shared"]}
    ws = make_ws(INFERENCE_WS, inference={"adapters": [{"source": image}, {"source": other}]})
    assert _pod(_build(ws))["imagePullSecrets"] == [{"name": "acr"}, {"name": "shared"}]
    assert "imagePullSecrets" not in _pod(_build(make_ws(INFERENCE_WS)))


@pytest.mark.parametrize(
    ("annotations", "benchmark"),
    [({}, True), ({"kaito.sh/disable-benchmark": "true"}, False)],
)
def test_vllm_pods_benchmark_unless_the_annotation_disables_it(annotations, benchmark):
    ws = make_ws(INFERENCE_WS, metadata={"annotations": annotations})
    assert ("--kaito-benchmark" in _main(_build(ws))["command"]) is benchmark

from __future__ import annotations

import shlex

import pytest
import yaml

from kaito.manifests import tuning
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from kaito.presets import skus
from tests.unit.manifests.conftest import TUNING_WS, make_ws

SETTINGS = ManifestSettings(runtime_image="registry.example.com/kaito/runtime:1.2.3")
A100 = skus.get_sku("Standard_NC24ads_A100_v4")


def _job(ws, **plan):
    plan.setdefault("gpu", A100)
    return tuning.build_tuning_job(ws, SETTINGS, WorkloadPlan(**plan))


def _pod(job):
    return job["spec"]["template"]["spec"]


def _containers(job):
    return {c["name"]: c for c in _pod(job)["containers"]}


def _volumes(job):
    return {v["name"]: v for v in _pod(job)["volumes"]}


def _mounts(container):
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def test_job_shape(tuning_ws):
    job = _job(tuning_ws, revision=2)
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"] == "tune-phi-3"
    assert job["metadata"]["namespace"] == "team-b"
    assert job["metadata"]["labels"] == {"kaito.sh/workspace": "tune-phi-3"}
    assert job["metadata"]["annotations"] == {"workspace.kaito.io/revision": "2"}
    assert job["spec"]["backoffLimit"] == 6
    assert job["spec"]["template"]["metadata"]["labels"] == {"kaito.sh/workspace": "tune-phi-3"}
    pod = _pod(job)
    assert pod["restartPolicy"] == "Never"
    assert pod["shareProcessNamespace"] is True
    keys = [
        e["key"]
        for e in pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ][0]["matchExpressions"]
    ]
    assert keys == ["app", "kaito.sh/workspace", "kaito.sh/workspacenamespace"]
    assert {t["key"] for t in pod["tolerations"]} == {
        "nvidia.com/gpu",
        "sku",
        "kubernetes.azure.com/scalesetpriority",
    }


def test_main_container_runs_kaito_tune_the_upstream_way(tuning_ws):
    job = _job(tuning_ws, gpu=skus.get_sku("Standard_NC48ads_A100_v4"))
    main = _containers(job)["tune-phi-3"]
    assert main["image"] == SETTINGS.runtime_image
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["YAML_FILE_PATH"] == "/mnt/config/training_config.yaml"
    assert env["DATASET_FOLDER_PATH"] == "/mnt/data"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert (
        env["DEFAULT_TARGET_MODULES"] == "k_proj,q_proj,v_proj,o_proj,gate_proj,down_proj,up_proj"
    )
    assert main["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert _mounts(main) == {
        "/dev/shm": "dshm",
        "/workspace/weights": "model-weights-volume",
        "/mnt/config": "training-config",
        "/mnt/data": "data-volume",
        "/mnt/results": "results-volume",
    }
    assert _volumes(job)["training-config"]["configMap"] == {"name": "lora-params-template"}


def test_url_input_is_fetched_by_kaito_fetch_data(tuning_ws):
    job = _job(tuning_ws)
    (init,) = _pod(job)["initContainers"]
    assert init["name"] == "data-downloader"
    assert init["image"] == SETTINGS.runtime_image
    assert init["command"] == [
        "kaito",
        "fetch-data",
        "https://example.com/data/train.parquet?download=true",
        "--dest",
        "/mnt/data",
    ]
    assert _mounts(init) == {"/mnt/data": "data-volume"}
    assert _volumes(job)["data-volume"] == {"name": "data-volume", "emptyDir": {}}


def test_image_input_runs_the_data_image_to_copy_its_data_dir():
    ws = make_ws(
        TUNING_WS,
        tuning={"input": {"urls": None, "image": "r.io/data:1", "imagePullSecrets": ["pull"]}},
    )
    job = _job(ws)
    (init,) = _pod(job)["initContainers"]
    assert init["name"] == "data-puller"
    assert init["image"] == "r.io/data:1"
    assert init["command"] == ["sh", "-c", "cp -R /data/. /mnt/data/"]
    assert _mounts(init) == {"/mnt/data": "data-volume"}
    # The kubelet pulls it with the input's secrets.
    assert _pod(job)["imagePullSecrets"] == [{"name": "pull"}]
    assert _volumes(job)["data-volume"] == {"name": "data-volume", "emptyDir": {}}


def test_url_input_needs_no_image_pull_secrets(tuning_ws):
    assert "imagePullSecrets" not in _pod(_job(tuning_ws))


def test_volume_input_is_mounted_directly():
    pvc = {"persistentVolumeClaim": {"claimName": "training-data"}}
    ws = make_ws(TUNING_WS, tuning={"input": {"urls": None, "volumeSource": pvc}})
    job = _job(ws)
    assert "initContainers" not in _pod(job)
    assert _volumes(job)["data-volume"] == {"name": "data-volume", **pvc}


def test_image_output_adds_a_pusher_that_waits_for_the_sentinel(tuning_ws):
    job = _job(tuning_ws)
    containers = _containers(job)
    assert list(containers) == ["tune-phi-3", "pusher"]
    pusher = containers["pusher"]
    assert pusher["image"] == SETTINGS.runtime_image
    script = pusher["command"][2]
    push_line = next(line for line in script.splitlines() if "kaito push" in line)
    argv = shlex.split(push_line.split("exec ", 1)[1].rsplit(";", 1)[0])
    assert argv == [
        "kaito",
        "push",
        "/mnt/results",
        "registry.example.com/adapters/phi-3:0.0.1",
        "--base-model",
        "phi-3-mini-128k-instruct",
        "--wait-for",
        "/mnt/results/fine_tuning_completed.txt",
        "--docker-config",
        "/etc/kaito/registry-auth/push/config.json",
    ]
    assert "/mnt/results/fine_tuning_failed.txt" in script
    assert _mounts(pusher) == {
        "/mnt/results": "results-volume",
        "/etc/kaito/registry-auth/push": "registry-auth-push",
    }
    assert _volumes(job)["registry-auth-push"]["secret"]["items"] == [
        {"key": ".dockerconfigjson", "path": "config.json"}
    ]
    # The trainer marks failure so the pusher does not wait forever.
    main = containers["tune-phi-3"]
    assert main["command"][:2] == ["/bin/sh", "-c"]
    assert main["command"][2].startswith("kaito-tune --model microsoft/Phi-3-mini-128k-instruct ||")
    assert "touch /mnt/results/fine_tuning_failed.txt" in main["command"][2]


def test_volume_output_writes_into_the_users_volume_without_a_pusher():
    pvc = {"persistentVolumeClaim": {"claimName": "adapters"}}
    ws = make_ws(
        TUNING_WS, tuning={"output": {"image": None, "imagePushSecret": None, "volumeSource": pvc}}
    )
    job = _job(ws)
    assert list(_containers(job)) == ["tune-phi-3"]
    assert "shareProcessNamespace" not in _pod(job)
    assert _volumes(job)["results-volume"] == {"name": "results-volume", **pvc}
    main = _containers(job)["tune-phi-3"]
    assert main["command"] == ["kaito-tune", "--model", "microsoft/Phi-3-mini-128k-instruct"]


def test_output_dir_from_the_plan_moves_the_results_mount_and_sentinel(tuning_ws):
    job = _job(tuning_ws, tuning_output_dir="/mnt/out/run1/")
    assert _mounts(_containers(job)["tune-phi-3"])["/mnt/out/run1"] == "results-volume"
    assert "/mnt/out/run1/fine_tuning_completed.txt" in _containers(job)["pusher"]["command"][2]


def test_user_config_map_replaces_the_default():
    ws = make_ws(TUNING_WS, tuning={"config": "my-training"})
    assert _volumes(_job(ws))["training-config"]["configMap"] == {"name": "my-training"}
    assert tuning.build_tuning_configmaps(ws) == []


def test_default_config_map_is_copied_into_the_workspace_namespace():
    ws = make_ws(TUNING_WS, tuning={"method": "qlora"})
    (cm,) = tuning.build_tuning_configmaps(ws)
    assert cm["metadata"] == {"name": "qlora-params-template", "namespace": "team-b"}
    assert _volumes(_job(ws))["training-config"]["configMap"] == {"name": "qlora-params-template"}


@pytest.mark.parametrize("method", ["lora", "qlora", "QLoRA"])
def test_default_templates_carry_upstreams_settings(method):
    cm = tuning.build_default_tuning_configmap(method, "ns")
    assert cm["metadata"] == {"name": f"{method.lower()}-params-template", "namespace": "ns"}
    assert list(cm["data"]) == ["training_config.yaml"]
    config = yaml.safe_load(cm["data"]["training_config.yaml"])["training_config"]
    assert set(config) == {
        "ModelConfig",
        "QuantizationConfig",
        "LoraConfig",
        "TrainingArguments",
        "DataCollator",
        "DatasetConfig",
    }
    assert config["LoraConfig"] == {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert config["TrainingArguments"]["output_dir"] == "/mnt/results"
    assert config["TrainingArguments"]["save_strategy"] == "no"
    quant = config["QuantizationConfig"]
    if method.lower() == "qlora":
        assert quant == {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": "bfloat16",
            "bnb_4bit_use_double_quant": True,
        }
    else:
        assert quant == {"load_in_4bit": False}


def test_unknown_tuning_method_is_rejected():
    with pytest.raises(ManifestError, match="lora, qlora"):
        tuning.build_default_tuning_configmap("dora", "ns")


def test_hf_token_is_passed_to_tuning_when_a_secret_is_given():
    ws = make_ws(TUNING_WS, tuning={"preset": {"presetOptions": {"modelAccessSecret": "hf"}}})
    env = {e["name"]: e for e in _containers(_job(ws))["tune-phi-3"]["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training_config:\n  TrainingArguments:\n    output_dir: /mnt/x\n", "/mnt/x"),
        ("training_config:\n  TrainingArguments: {}\n", None),
        ("training_config: [1, 2]\n", None),
        ("not: [valid", None),
        (None, None),
    ],
)
def test_output_dir_of_reads_training_arguments(text, expected):
    assert tuning.output_dir_of(text) == expected

"""The Helm chart ``charts/kaito-workspace``: the same install as ``config/default``, plus values.

``config/`` is the single source: ``scripts/sync_chart.py`` (``make chart``) copies its static
manifests into the chart, whose templates only place them in the release namespace, and the
Deployment template must render what kustomize renders from ``config/manager``. These tests check
the copies, compare both renders object by object, and check that values reach the Deployment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import kubernetes_validate
import pytest
import yaml

import kaito
from kaito.api import constants
from kaito.operator.settings import OperatorSettings
from tests.fixtures.tools import NOT_BUILT, controlplane_tool

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "kaito-workspace"
CONFIG = REPO / "config"
SYNC_SCRIPT = REPO / "scripts" / "sync_chart.py"
RELEASE = "kaito-workspace"
K8S_VERSION = "1.32.0"

# The intentional differences between `helm template` with default values and
# `kubectl kustomize config/default`, and the only ones the comparison forgives:
# 1. Helm's standard labels on every templated object (the CRD under crds/ is not templated).
HELM_LABELS = frozenset(
    {
        "helm.sh/chart",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
    }
)
# 2. No Namespace object: `helm install --create-namespace` makes the release namespace, and a chart
#    that also rendered it would fail to install into it.
NOT_IN_CHART = frozenset({("Namespace", "", "kaito-system")})


def _tool(name: str) -> Path:
    path = controlplane_tool(name)
    if path is None:
        pytest.skip(NOT_BUILT)
    return path


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Keep helm's cache, config and data folders out of the user's home.
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def _helm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool("helm")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _render_text(env: dict[str, str], *args: str, namespace: str = "kaito-system") -> str:
    out = _helm(
        env, "template", RELEASE, str(CHART), "--namespace", namespace, "--include-crds", *args
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _render(env: dict[str, str], *args: str, namespace: str = "kaito-system") -> list[dict]:
    text = _render_text(env, *args, namespace=namespace)
    return [d for d in yaml.safe_load_all(text) if d]


def _values_file(tmp_path: Path, values: dict) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(path)


def _key(obj: dict) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def _without_helm_labels(obj: dict) -> dict:
    obj = json.loads(json.dumps(obj))
    labels = obj["metadata"].get("labels", {})
    for label in HELM_LABELS:
        labels.pop(label, None)
    if not labels:
        # config/tuning's ConfigMaps have no labels of their own.
        obj["metadata"].pop("labels", None)
    return obj


def _only(objects: list[dict], kind: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def _container(objects: list[dict]) -> dict:
    containers: list[dict] = _only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def default_render(helm_env: dict[str, str]) -> list[dict]:
    return _render(helm_env)


@pytest.fixture(scope="module")
def kustomize_render() -> list[dict]:
    out = subprocess.run(
        [str(_tool("kubectl")), "kustomize", str(CONFIG / "default")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _load_sync_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart", SYNC_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- one source of truth -------------------------------------------------------------------------


def test_chart_copies_of_config_are_current():
    out = subprocess.run(
        [sys.executable, str(SYNC_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_chart_crd_is_the_crd_generated_into_config_crd_bases():
    for source in (CONFIG / "crd" / "bases").glob("*.yaml"):
        copy = (CHART / "crds" / source.name).read_text(encoding="utf-8")
        header, _, body = copy.partition("\n")
        assert header.startswith("# Copied from config/crd/bases/")
        assert body == source.read_text(encoding="utf-8")


def test_sync_reports_and_repairs_edited_missing_and_extra_copies(tmp_path, monkeypatch):
    sync = _load_sync_script()
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    monkeypatch.setattr(sync, "CHART", chart)
    sync.write()  # start current, whatever the state of config/ in this checkout
    role = chart / "files" / "config" / "rbac" / "role.yaml"
    role.write_text(role.read_text(encoding="utf-8") + "# hand edit\n", encoding="utf-8")
    (chart / "files" / "config" / "tuning" / "lora-params-template.yaml").unlink()
    (chart / "crds" / "old.yaml").write_text("kind: CustomResourceDefinition\n", encoding="utf-8")
    assert sorted(sync.stale()) == [
        "crds/old.yaml: has no source in config/",
        "files/config/rbac/role.yaml: differs from its source",
        "files/config/tuning/lora-params-template.yaml: differs from its source",
    ]
    sync.write()
    assert sync.stale() == []
    assert not (chart / "crds" / "old.yaml").exists()


def test_schema_lists_exactly_the_operators_gates_provisioners_and_clouds():
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    props = schema["properties"]
    gates = props["featureGates"]["properties"]
    assert {
        name: gate["default"] for name, gate in gates.items()
    } == constants.DEFAULT_FEATURE_GATES
    assert props["featureGates"]["additionalProperties"] is False
    assert props["nodeProvisioner"]["enum"] == list(constants.NODE_PROVISIONERS)
    assert props["cloudProviderName"]["enum"] == list(constants.CLOUD_PROVIDERS)


def test_chart_app_version_is_the_package_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == kaito.__version__


# --- helm lint and the default render ------------------------------------------------------------


def test_helm_lint_passes_strictly(helm_env):
    out = _helm(helm_env, "lint", "--strict", str(CHART))
    assert out.returncode == 0, out.stdout + out.stderr


def test_default_values_render_the_same_objects_as_config_default(default_render, kustomize_render):
    from_kustomize = {_key(o): o for o in kustomize_render}
    from_helm = {_key(o): _without_helm_labels(o) for o in default_render}
    assert len(from_helm) == len(default_render), "helm rendered an object twice"
    assert set(from_kustomize) >= NOT_IN_CHART
    assert sorted(from_helm) == sorted(set(from_kustomize) - NOT_IN_CHART)
    for key, obj in from_helm.items():
        assert obj == from_kustomize[key], f"{key} differs from config/default"


def test_templated_objects_carry_helms_standard_labels(default_render):
    for obj in default_render:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        labels = obj["metadata"]["labels"]
        assert labels.keys() >= HELM_LABELS, _key(obj)
        assert labels["app.kubernetes.io/instance"] == RELEASE


# --- values --------------------------------------------------------------------------------------


def test_non_default_values_land_in_the_deployment(helm_env, tmp_path):
    values = {
        "replicaCount": 2,
        "image": {"repository": "myacr.azurecr.io/kaito/operator", "tag": "0.2.0"},
        "runtime": {"image": {"repository": "myacr.azurecr.io/kaito/runtime", "tag": "0.2.1"}},
        "nodeProvisioner": "karpenter",
        "cloudProviderName": "aws",
        "featureGates": {"vLLM": False, "enableMIG": "true"},
        "webhook": {"port": 10250},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "podAnnotations": {"example.com/team": "ml"},
        "imagePullSecrets": [{"name": "acr-pull"}],
    }
    objects = _render(helm_env, "-f", _values_file(tmp_path, values))
    deployment = _only(objects, "Deployment")
    pod = deployment["spec"]["template"]
    container = _container(objects)
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "myacr.azurecr.io/kaito/operator:0.2.0"
    assert container["args"] == [
        "operator",
        "--node-provisioner=karpenter",
        "--feature-gates=enableMIG=true,vLLM=false",
    ]
    env = _env(container)
    assert env["CLOUD_PROVIDER"] == "aws"
    assert env["KAITO_RUNTIME_IMAGE"] == "myacr.azurecr.io/kaito/runtime:0.2.1"
    assert env["WEBHOOK_PORT"] == "10250"
    assert {"name": "webhook", "containerPort": 10250, "protocol": "TCP"} in container["ports"]
    assert pod["spec"]["nodeSelector"] == values["nodeSelector"]
    assert pod["spec"]["tolerations"] == values["tolerations"]
    assert pod["spec"]["imagePullSecrets"] == values["imagePullSecrets"]
    assert pod["metadata"]["annotations"] == values["podAnnotations"]
    # The operator's own parser accepts what the chart rendered.
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in container["args"][1:])
    settings = OperatorSettings(
        node_provisioner=flags["node-provisioner"],
        feature_gates=flags["feature-gates"],
        cloud_provider=env["CLOUD_PROVIDER"],
    )
    gates = settings.gates()
    assert gates[constants.FEATURE_VLLM] is False
    assert gates[constants.FEATURE_ENABLE_MIG] is True
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")


def test_set_flags_reach_the_deployment_args(helm_env):
    objects = _render(
        helm_env,
        "--set",
        "nodeProvisioner=byo",
        "--set",
        "featureGates.vLLM=false",
        "--set",
        "image.tag=0.3.0",
    )
    container = _container(objects)
    assert container["args"] == ["operator", "--node-provisioner=byo", "--feature-gates=vLLM=false"]
    assert container["image"] == "ghcr.io/kaito-py/operator:0.3.0"


def test_release_namespace_reaches_every_namespaced_object_and_reference(helm_env):
    text = _render_text(helm_env, namespace="team-ai")
    assert "kaito-system" not in text
    objects = [d for d in yaml.safe_load_all(text) if d]
    cluster_scoped = {
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
    }
    for obj in objects:
        assert obj["metadata"].get("namespace") == (
            None if obj["kind"] in cluster_scoped else "team-ai"
        ), _key(obj)
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        assert [s["namespace"] for s in _only(objects, kind)["subjects"]] == ["team-ai"]
    hooks = _only(objects, "ValidatingWebhookConfiguration")["webhooks"]
    assert len(hooks) == 2  # Workspaces and InferenceSets
    for hook in hooks:
        assert hook["clientConfig"]["service"]["namespace"] == "team-ai"


def test_disabled_webhook_renders_no_service_or_configuration(helm_env):
    objects = _render(helm_env, "--set", "webhook.enabled=false")
    kinds = {o["kind"] for o in objects}
    assert "ValidatingWebhookConfiguration" not in kinds
    assert "Service" not in kinds
    container = _container(objects)
    assert container["args"][-1] == "--no-webhook"
    assert "webhook" not in {p["name"] for p in container["ports"]}
    assert "KAITO_WEBHOOK_CERT_DIR" not in _env(container)
    volumes = _only(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["tmp"]


def test_webhook_certificate_is_an_existing_secret_or_none(helm_env, tmp_path):
    named = _render(helm_env, "--set", "webhook.certificate.secretName=my-cert")
    volumes = _only(named, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {
        "name": "webhook-certs",
        "secret": {"secretName": "my-cert", "optional": True},
    }
    none = _render(
        helm_env, "-f", _values_file(tmp_path, {"webhook": {"certificate": {"secretName": ""}}})
    )
    container = _container(none)
    assert "KAITO_WEBHOOK_CERT_DIR" not in _env(container)
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]
    assert _only(none, "ValidatingWebhookConfiguration")


def test_webhook_ca_bundle_and_annotations_land_on_the_configuration(helm_env, tmp_path):
    values = {
        "webhook": {
            "caBundle": "Q0EgUEVN",
            "annotations": {
                "cert-manager.io/inject-ca-from": "kaito-system/workspace-webhook-cert"
            },
        }
    }
    objects = _render(helm_env, "-f", _values_file(tmp_path, values))
    vwc = _only(objects, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"] == values["webhook"]["annotations"]
    assert [h["clientConfig"]["caBundle"] for h in vwc["webhooks"]] == ["Q0EgUEVN"] * 2


@pytest.mark.parametrize(
    ("setting", "mentions"),
    [
        ("nodeProvisioner=gpu-operator", "nodeProvisioner"),
        ("cloudProviderName=gcp", "cloudProviderName"),
        ("featureGates.vllm=false", "vllm"),
    ],
)
def test_schema_rejects_unknown_values_before_anything_is_installed(helm_env, setting, mentions):
    out = _helm(helm_env, "template", RELEASE, str(CHART), "--set", setting)
    assert out.returncode != 0
    assert mentions in out.stderr

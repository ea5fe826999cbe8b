"""The kustomize install under ``config/``: renders, validates, and RBAC is least-privilege."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kaito.api import constants
from kaito.manifests import render, tuning

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config"
CRD_FILE = CONFIG / "crd" / "bases" / constants.WORKSPACE_CRD_FILE
K8S_VERSION = "1.32.0"
UPDATE = os.environ.get("KAITO_UPDATE_GOLDEN") == "1"
TEMPLATE_HEADER = (
    "# Generated from the package data in src/kaito/api/data/; do not edit.\n"
    "# Regenerate: KAITO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/config\n"
)

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
needs_crd = pytest.mark.skipif(
    not CRD_FILE.exists(), reason=f"{CRD_FILE.relative_to(REPO)} not generated yet (make crds)"
)


def _kustomize(path: Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def installed() -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    if not CRD_FILE.exists():
        pytest.skip(f"{CRD_FILE.relative_to(REPO)} not generated yet (make crds)")
    return _kustomize(CONFIG / "default")


def _by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@needs_kubectl
@needs_crd
def test_default_renders_every_part_in_kaito_system(installed):
    kinds = sorted(o["kind"] for o in installed)
    assert kinds == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "ConfigMap",
            "ConfigMap",
            "Service",
            "Deployment",
            "ValidatingWebhookConfiguration",
        ]
    )
    for obj in installed:
        if obj["kind"] in {
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingWebhookConfiguration",
        }:
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == "kaito-system", obj["kind"]


@needs_kubectl
@needs_crd
def test_every_rendered_object_validates_strictly(installed):
    for obj in installed:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")


def test_the_validator_really_rejects_unknown_fields():
    # Guard for the test above: strict validation must catch a misplaced field.
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"bogus": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@needs_kubectl
@needs_crd
def test_rbac_has_no_wildcards_and_covers_what_the_operator_does(installed):
    rules = [
        r for kind in ("ClusterRole", "Role") for o in _by_kind(installed, kind) for r in o["rules"]
    ]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(field, []), rule
    granted = {
        (group, resource, verb)
        for r in rules
        for group in r["apiGroups"]
        for resource in r["resources"]
        for verb in r["verbs"]
    }
    needed = {
        ("kaito.sh", "workspaces", "watch"),
        ("kaito.sh", "workspaces", "patch"),
        ("kaito.sh", "workspaces/status", "patch"),
        ("kaito.sh", "workspaces/finalizers", "update"),
        ("karpenter.sh", "nodeclaims", "create"),
        ("karpenter.sh", "nodeclaims", "delete"),
        ("karpenter.sh", "nodepools", "create"),
        ("", "nodes", "patch"),
        ("", "services", "create"),
        ("apps", "statefulsets", "create"),
        ("apps", "statefulsets", "patch"),
        ("apps", "controllerrevisions", "delete"),
        ("batch", "jobs", "delete"),
        ("", "configmaps", "create"),
        ("", "pods", "list"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "delete"),
        ("", "events", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
    assert needed <= granted, needed - granted
    # The webhook certificate arrives as a volume: the operator never reads Secrets.
    assert not any(resource == "secrets" for _, resource, _ in granted)
    # Nothing may delete nodes or touch workloads it does not create.
    assert ("", "nodes", "delete") not in granted
    assert ("", "pods", "delete") not in granted
    # StorageClasses are never read; pod logs only read (test_rbac.py checks every grant).
    assert not any(resource == "storageclasses" for _, resource, _ in granted)
    assert {verb for _, resource, verb in granted if resource == "pods/log"} == {"get"}


@needs_kubectl
@needs_crd
def test_operator_deployment_is_hardened(installed):
    (deploy,) = _by_kind(installed, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "kaito-workspace"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081, "webhook": 9443}
    assert container["livenessProbe"]["httpGet"]["port"] == "health"
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    env = {e["name"]: e for e in container["env"]}
    assert env["CLOUD_PROVIDER"]["value"] == "azure"
    assert env["RELEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["webhook-certs"]["secret"]["secretName"] == constants.WEBHOOK_CERT_SECRET
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


@needs_kubectl
@needs_crd
def test_webhook_configuration_points_at_the_operator(installed):
    (vwc,) = _by_kind(installed, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["name"] == constants.WEBHOOK_NAME
    hook, iset_hook = vwc["webhooks"]
    assert iset_hook["name"] == "validation.inferenceset.kaito.sh"
    assert iset_hook["clientConfig"]["service"]["path"] == constants.INFERENCESET_WEBHOOK_PATH
    assert iset_hook["rules"][0]["resources"] == ["inferencesets"]
    assert iset_hook["rules"][0]["apiVersions"] == ["v1beta1"]
    assert hook["name"] == constants.WEBHOOK_NAME
    assert hook["failurePolicy"] == "Fail"
    assert hook["clientConfig"]["service"] == {
        "name": "kaito-workspace-webhook",
        "namespace": "kaito-system",
        "path": constants.WEBHOOK_PATH,
        "port": 443,
    }
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE", "UPDATE"]
    assert rule["resources"] == ["workspaces"]
    assert rule["apiGroups"] == ["kaito.sh"]
    (svc,) = [
        s
        for s in _by_kind(installed, "Service")
        if s["metadata"]["name"] == "kaito-workspace-webhook"
    ]
    (deploy,) = _by_kind(installed, "Deployment")
    assert (
        svc["spec"]["selector"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    )


@needs_kubectl
@needs_crd
def test_installed_tuning_templates_are_the_package_data(installed):
    configmaps = {c["metadata"]["name"]: c for c in _by_kind(installed, "ConfigMap")}
    for method in ("lora", "qlora"):
        expected = tuning.build_default_tuning_configmap(method, "kaito-system")
        assert configmaps[expected["metadata"]["name"]]["data"] == expected["data"]


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_tuning_template_files_are_generated_from_package_data(method):
    cm = tuning.build_default_tuning_configmap(method, None)
    path = CONFIG / "tuning" / f"{cm['metadata']['name']}.yaml"
    expected = TEMPLATE_HEADER + render.dump_yaml([cm])
    if UPDATE:
        path.write_text(expected, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == expected


@needs_kubectl
@needs_crd
def test_cert_manager_component_renders_on_top_of_default(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize refuses absolute paths to other kustomizations.
                "resources": [os.path.relpath(CONFIG / "default", overlay)],
                "components": [os.path.relpath(CONFIG / "certmanager", overlay)],
            }
        )
    )
    objects = _kustomize(overlay)
    (cert,) = _by_kind(objects, "Certificate")
    assert cert["spec"]["secretName"] == constants.WEBHOOK_CERT_SECRET
    (vwc,) = _by_kind(objects, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"kaito-system/{constants.WEBHOOK_CERT_SECRET}"
    }


def _fake_kubectl(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "kubectl.log"
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "ARGS $*" >> {log}\n'
        'case "$*" in *"apply -f -"*) cat >> ' + str(log) + " ;; esac\n"
        'case "$*" in *"create secret"*) echo "kind: Secret" ;; esac\n'
    )
    fake.chmod(0o755)
    return fake, log


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_make_cert_script_issues_a_certificate_for_the_webhook_service(tmp_path):
    fake, log = _fake_kubectl(tmp_path)
    out = tmp_path / "certs"
    env = {**os.environ, "OUT_DIR": str(out), "KUBECTL": str(fake)}
    script = CONFIG / "webhook" / "make-cert.sh"
    result = subprocess.run(
        [str(script), "team-ns"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(out / "ca.crt"), str(out / "tls.crt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    san = subprocess.run(
        ["openssl", "x509", "-in", str(out / "tls.crt"), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:kaito-workspace-webhook.team-ns.svc" in san
    calls = log.read_text()
    assert f"-n team-ns create secret generic {constants.WEBHOOK_CERT_SECRET}" in calls
    assert f"patch validatingwebhookconfiguration {constants.WEBHOOK_NAME}" in calls
    assert "/webhooks/0/clientConfig/caBundle" in calls
    assert "/webhooks/1/clientConfig/caBundle" in calls  # the InferenceSet webhook
    assert "rollout restart deployment/kaito-workspace" in calls

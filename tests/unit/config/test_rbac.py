"""config/rbac grants what the operator's code and its Kopf watches use, and nothing else.

Read straight from the YAML (no kubectl): the calls the controller, operator and client make
(``<call>(... resources.X ...)``) are found in the source, the watches by registering the Kopf
handlers for every node provisioner, and both are checked against the grants.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import kopf
import pytest
import yaml

from kaito.api import constants
from kaito.k8s import resources
from kaito.operator import children, handlers
from kaito.operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[3]
RBAC = REPO / "config" / "rbac"
SRC = REPO / "src" / "kaito"

# Cluster method (or kaito.k8s.apply helper) -> the RBAC verb it sends.
CALL_VERBS = {
    "get": "get",
    "get_or_none": "get",
    "list": "list",
    "patch": "patch",
    "delete": "delete",
    "delete_if_exists": "delete",
    "replace": "update",
    "patch_status": "get",
    "pod_log": "get",
}
CALL = re.compile(r"\.(\w+)\(\s*(?:[\w.]+,\s*)?resources\.([A-Z_]+)\b")

# Objects created from manifests (``apply.create_or_get``/``get_or_create``: create, then get on
# conflict) and Events (core/v1, posted by the operator and by Kopf).
CREATED = {
    ("", "services"),
    ("apps", "statefulsets"),
    ("apps", "controllerrevisions"),
    ("batch", "jobs"),
    ("", "configmaps"),
    ("karpenter.sh", "nodeclaims"),
    ("karpenter.sh", "nodepools"),
}
# Kopf's own discovery (it lists CRDs and, for namespace patterns, namespaces).
# Kopf discovers what it serves through /api and /apis (no CRD or Namespace reads: with scanning
# off and exact namespaces it needs neither; the real API server's audit log confirms it).
KOPF_DISCOVERY: set[tuple[str, str]] = set()
# Subresources: status writes, and owner references with blockOwnerDeletion on our children.
SUBRESOURCES = {
    ("kaito.sh", "workspaces/status"),
    ("kaito.sh", "workspaces/finalizers"),
    ("kaito.sh", "inferencesets/status"),
    ("kaito.sh", "inferencesets/finalizers"),
}


def _grants() -> set[tuple[str, str, str]]:
    granted = set()
    for path in sorted(RBAC.glob("*role.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb))
    return granted


def _calls() -> set[tuple[str, str, str]]:
    used = set()
    for path in SRC.rglob("*.py"):
        if path.name == "resources.py" or "runtime" in path.parts:
            continue
        for call, name in CALL.findall(path.read_text()):
            if call not in CALL_VERBS:
                continue
            kind = getattr(resources, name)
            used.add((kind.group, kind.plural, CALL_VERBS[call]))
            if call == "patch_status":
                used.add((kind.group, f"{kind.plural}/status", "patch"))
    return used


def _watched() -> set[tuple[str, str]]:
    watched: set[tuple[str, str]] = set()
    for provisioner in constants.NODE_PROVISIONERS:
        registry = kopf.OperatorRegistry()
        settings = OperatorSettings(node_provisioner=provisioner, webhook=False)
        handlers.register(registry, types.SimpleNamespace(settings=settings))  # type: ignore[arg-type]
        for handler in registry._watching.get_all_handlers():
            selector = handler.selector
            # Our watching handlers are registered by plural name, each for one resource kind.
            assert selector is not None
            assert selector.plural is not None
            watched.add((selector.group or "", selector.plural))
        # Children are watched by the operator's own caches (kaito.k8s.informer).
        for kind, _ in children.watched_children(provisioner):
            watched.add((kind.group, kind.plural))
    return watched


def test_the_source_scan_finds_the_calls_it_should() -> None:
    # Guard for the tests below: the scan must see calls written across lines and via helpers.
    calls = _calls()
    assert ("apps", "statefulsets", "get") in calls
    assert ("", "nodes", "patch") in calls  # ctx.cluster.patch(\n resources.NODE, ...)
    assert ("apps", "controllerrevisions", "delete") in calls  # apply.delete_if_exists(...)
    assert ("kaito.sh", "workspaces/status", "patch") in calls


def test_every_call_the_operator_makes_is_granted() -> None:
    missing = _calls() - _grants()
    assert not missing, f"calls without an RBAC grant: {sorted(missing)}"


def test_deployment_migration_has_exactly_get_and_delete() -> None:
    granted = {verb for group, res, verb in _grants() if (group, res) == ("apps", "deployments")}
    assert granted == {"get", "delete"}


def test_every_kopf_watch_has_list_and_watch() -> None:
    watched = _watched()
    assert {
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("", "pods"),
        ("", "nodes"),
        ("karpenter.sh", "nodeclaims"),
        ("karpenter.sh", "nodepools"),
        ("kaito.sh", "workspaces"),
    } <= watched
    granted = _grants()
    for group, resource in watched | KOPF_DISCOVERY:
        for verb in ("list", "watch"):
            assert (group, resource, verb) in granted, (group, resource, verb)


def test_created_children_and_events_can_be_created() -> None:
    granted = _grants()
    for group, resource in CREATED | {("", "events")}:
        assert (group, resource, "create") in granted, (group, resource)


def test_no_grant_for_a_resource_nothing_uses() -> None:
    used = (
        {(g, r) for g, r, _ in _calls()}
        | _watched()
        | CREATED
        | KOPF_DISCOVERY
        | SUBRESOURCES
        | {("", "events")}
    )
    unused = {(g, r) for g, r, _ in _grants()} - used
    assert not unused, f"grants nothing in src/ uses: {sorted(unused)}"


@pytest.mark.parametrize(
    ("group", "resource"),
    [
        ("storage.k8s.io", "storageclasses"),  # no NVMe StorageClass lookup
        ("events.k8s.io", "events"),  # Events are core/v1
        ("", "secrets"),  # the webhook certificate is a volume
    ],
)
def test_resources_the_operator_never_reads_are_not_granted(group: str, resource: str) -> None:
    assert not any((g, r) == (group, resource) for g, r, _ in _grants())

"""The operator's RBAC, proven from the API server's audit log (this file runs last).

Every operator in this suite authenticates as the ``kaito-workspace`` ServiceAccount with a
TokenRequest token, so the real API server authorizes each of its calls against
``config/rbac``. The audit policy records every request a service account makes; after the
whole suite has driven the operator through every provisioner, lifecycle, fault and webhook
path, the set of (API group, resource, verb) it used must equal what ``config/rbac`` grants:
nothing forbidden, nothing granted unused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Cluster

RBAC = Path(__file__).resolve().parents[2] / "config" / "rbac"
Grant = tuple[str, str, str]  # (group, resource[/subresource], verb)

# Grants that are needed but that the audit log cannot be relied on to show (never a request of
# their own, or reached only in a race or before a watch cache has listed), each with why. They
# must be granted; whether the suite happened to use them is not asserted.
NOT_REQUESTS: dict[Grant, str] = {
    ("kaito.sh", "workspaces/finalizers", "update"): (
        "checked by the OwnerReferencesPermissionEnforcement admission plugin (enabled in this "
        "control plane) when a child sets blockOwnerDeletion; it is not a request of its own"
    ),
    ("kaito.sh", "inferencesets/finalizers", "update"): (
        "as for workspaces/finalizers: InferenceSet children (Workspaces, ScaledObjects) set "
        "blockOwnerDeletion on their owner reference"
    ),
    ("", "services", "get"): (
        "apply.get_or_create reads a Service only while the operator's Service watch cache has "
        "not listed yet (just after a start) or after a create found the name taken; once listed, "
        "the cache answers, so whether the suite ever reads one depends on timing"
    ),
    ("apps", "statefulsets", "get"): (
        "as for Services: the StatefulSet is read from the watch cache once it has listed; the "
        "API is asked only before that or after a create found the name taken"
    ),
    ("batch", "jobs", "get"): (
        "as for StatefulSets: the tuning Job is read from the watch cache once it has listed (and "
        "not at all while the cache says it is absent); the API is asked only before that"
    ),
    ("apps", "controllerrevisions", "get"): (
        "apply.create_or_get after AlreadyExists: another writer created the same revision "
        "between our list and our create; a race the suite cannot force deterministically"
    ),
}


def granted() -> set[Grant]:
    """Every (group, resource, verb) the operator's ClusterRole and Role allow."""
    grants: set[Grant] = set()
    for path in sorted(RBAC.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("ClusterRole", "Role"):
                continue
            for rule in doc.get("rules") or []:
                for group in rule.get("apiGroups") or []:
                    for resource in rule.get("resources") or []:
                        for verb in rule.get("verbs") or []:
                            grants.add((group, resource, verb))
    return grants


def used(audit_log: Path, username: str) -> tuple[set[Grant], list[str]]:
    """(group, resource, verb) of the user's resource requests, and the requests refused 403."""
    calls: set[Grant] = set()
    forbidden: list[str] = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if (event.get("user") or {}).get("username") != username:
            continue
        ref = event.get("objectRef")
        if ref is None:
            continue  # discovery (/api, /apis): granted to every authenticated user
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        call = (ref.get("apiGroup", ""), resource, event["verb"])
        calls.add(call)
        if (event.get("responseStatus") or {}).get("code") == 403:
            forbidden.append(f"{event['verb']} {event['requestURI']}")
    return calls, forbidden


def _whole_suite_ran(config: pytest.Config) -> bool:
    """Whether every integration test was selected (only then can 'unused' be judged)."""
    if (
        config.getoption("keyword")
        or config.getoption("deselect")
        or config.getoption("lf", default=False)
    ):
        return False
    here = Path(__file__).resolve().parent
    for arg in config.args:
        target = Path(arg.split("::")[0]).resolve()
        if target != here and here in target.parents:
            return False  # one file or test of this folder
    return True


def test_rbac_grants_equal_what_the_operator_used(
    cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    calls, forbidden = used(cluster.cp.audit_log, cluster.install.service_account)
    grants = granted()

    assert calls, "the audit log holds no request of the operator's ServiceAccount"
    assert forbidden == [], "the operator was refused by RBAC"
    assert calls - grants == set(), "used without a grant"
    assert set(NOT_REQUESTS) <= grants
    apiserver_argv = cluster.cp.procs["kube-apiserver"].args
    assert isinstance(apiserver_argv, list)  # started from an argv list
    assert "--enable-admission-plugins=OwnerReferencesPermissionEnforcement" in apiserver_argv
    if not _whole_suite_ran(request.config):
        pytest.skip("only part of the suite ran: unused grants cannot be judged")
    assert grants - calls - set(NOT_REQUESTS) == set(), "granted but never used by the whole suite"

from __future__ import annotations

from kaito.manifests import render, services
from kaito.manifests.plan import ManifestSettings
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws


def _ports(svc):
    return {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}


def test_main_service_routes_port_80_to_the_leader_pod_only(inference_ws):
    svc = services.build_service(inference_ws, "vllm")
    assert svc["metadata"]["name"] == "workspace-phi-4-mini"
    assert svc["metadata"]["namespace"] == "team-a"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == {
        "kaito.sh/workspace": "workspace-phi-4-mini",
        "statefulset.kubernetes.io/pod-name": "workspace-phi-4-mini-0",
    }
    assert _ports(svc) == {
        "http": (80, 5000),
        "ray": (6379, 6379),
        "dashboard": (8265, 8265),
        "kv-events": (5557, 5557),
    }
    assert svc["spec"]["publishNotReadyAddresses"] is True


def test_services_are_owned_by_the_workspace(inference_ws):
    owner = services.build_service(inference_ws, "vllm")["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Workspace"
    assert owner["uid"] == "uid-1234"
    assert owner["controller"] is True


def test_enablelb_true_gives_a_load_balancer_without_kv_events():
    ws = make_ws(INFERENCE_WS, metadata={"annotations": {"kaito.sh/enablelb": "True"}})
    svc = services.build_service(ws, "vllm")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert "kv-events" not in _ports(svc)


def test_enablelb_other_values_keep_cluster_ip():
    ws = make_ws(INFERENCE_WS, metadata={"annotations": {"kaito.sh/enablelb": "true"}})
    assert services.build_service(ws, "vllm")["spec"]["type"] == "ClusterIP"


def test_transformers_runtime_has_no_kv_events_port():
    ws = make_ws(INFERENCE_WS, metadata={"annotations": {"kaito.sh/runtime": "transformers"}})
    runtime = render.plan_workload(ws, ManifestSettings()).runtime
    assert runtime == "transformers"
    assert "kv-events" not in _ports(services.build_service(ws, runtime))


def test_headless_service_selects_every_pod_without_ports(inference_ws):
    svc = services.build_headless_service(inference_ws)
    assert svc["metadata"]["name"] == "workspace-phi-4-mini-headless"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == {"kaito.sh/workspace": "workspace-phi-4-mini"}
    assert "ports" not in svc["spec"]
    assert svc["spec"]["publishNotReadyAddresses"] is True


def test_without_uid_there_is_no_owner_reference():
    ws = make_ws(INFERENCE_WS, metadata={"uid": None})
    assert "ownerReferences" not in services.build_service(ws, "vllm")["metadata"]

"""The InferenceSet controller's host in the operator: settings and the feature gate."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kaito.k8s.client import Cluster, load_config
from kaito.operator.inferenceset import InferenceSetController
from kaito.operator.settings import OperatorSettings


async def _host(settings: OperatorSettings) -> tuple[InferenceSetController, Cluster]:
    cluster = Cluster(load_config(server="http://127.0.0.1:9"))
    op = SimpleNamespace(settings=settings, cluster=cluster)
    return InferenceSetController(op), cluster  # type: ignore[arg-type]


async def test_scaler_address_comes_from_the_operator_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAITO_KEDA_SCALER_NAMESPACE", "keda")
    monkeypatch.setenv("KAITO_KEDA_SCALER_PORT", "9000")
    hosted, cluster = await _host(OperatorSettings(node_provisioner="byo"))
    assert hosted.enabled
    assert hosted.context.byo
    assert hosted.context.scaler.address() == "keda-kaito-scaler-svc.keda.svc.cluster.local:9000"
    assert [i.has_label for i in hosted.informers] == ["inferenceset.kaito.sh/created-by"]
    await cluster.close()


async def test_gate_off_watches_nothing() -> None:
    settings = OperatorSettings(feature_gates="enableInferenceSetController=false")
    hosted, cluster = await _host(settings)
    assert not hosted.enabled
    assert hosted.start() == []
    await hosted.stop()
    await cluster.close()

"""The operator's watch caches: which informers it runs, which child changes enqueue, and the
Workspace a pass starts from (no API server: the reconcile itself is replaced)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.api import constants
from kaito.controller import reconcile as reconcile_mod
from kaito.controller.errors import ReconcileError
from kaito.k8s import resources
from kaito.operator import children
from kaito.operator.runner import Operator
from kaito.operator.settings import OperatorSettings
from tests.fixtures.samples import inference_workspace

Obj = dict[str, Any]


def _operator(**overrides: Any) -> Operator:
    settings = OperatorSettings(server="http://127.0.0.1:9", leader_elect=False, **overrides)
    return Operator(settings, identity="test")


def _ws(rv: int) -> Obj:
    ws = inference_workspace("ws")
    ws["metadata"].update(resourceVersion=str(rv), uid="u1")
    return ws


def test_one_informer_per_child_kind_and_watched_namespace() -> None:
    op = _operator(namespaces=["a", "b"])
    by_kind: dict[str, list[str | None]] = {}
    for informer in op.informers:
        by_kind.setdefault(informer.kind.kind, []).append(informer.namespace)
    assert by_kind["Pod"] == ["a", "b"]
    assert by_kind["Node"] == [None]  # cluster-scoped
    assert set(by_kind) == {
        k.kind for k, _ in children.watched_children(op.settings.node_provisioner)
    }


async def test_relevant_child_changes_enqueue_their_workspace_after_a_delay() -> None:
    op = _operator()
    added: list[tuple[tuple[str, str], float]] = []
    op.queue.add_after = lambda key, delay: added.append((key, delay))  # type: ignore[method-assign]
    labels = {constants.LABEL_WORKSPACE: "ws"}
    sts = {"metadata": {"name": "ws", "namespace": "team", "labels": labels}}
    op.child_changed(resources.STATEFULSET, "ADDED", None, sts)
    pod = {"metadata": {"name": "ws-0", "namespace": "team", "labels": labels}}
    op.child_changed(resources.POD, "ADDED", None, pod)  # no failure: nothing to do
    assert added == [(("team", "ws"), children.CHILD_EVENT_DELAY_S)]


async def test_a_pass_starts_from_the_newest_workspace_seen_or_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = _operator()
    key = ("default", "ws")
    seen: list[str] = []
    written = _ws(12)
    written["metadata"]["finalizers"] = [constants.WORKSPACE_FINALIZER]

    async def fake_reconcile(ctx: Any, body: Obj) -> reconcile_mod.Outcome:
        seen.append(body["metadata"]["resourceVersion"])
        return reconcile_mod.Outcome(reconciled=written, latest=_ws_status(written, 13))

    monkeypatch.setattr(reconcile_mod, "reconcile", fake_reconcile)
    assert op.workspace_changed(key, _ws(10), "ADDED")
    await op._reconcile_key(key)
    assert seen == ["10"]
    # The watch event of our own metadata patch needs no pass, and is older than our status write.
    assert not op.workspace_changed(key, copy.deepcopy(written), "MODIFIED")
    await op._reconcile_key(key)
    assert seen == ["10", "13"]
    # A user's change after that does.
    changed = _ws(14)
    changed["resource"]["count"] = 2
    assert op.workspace_changed(key, changed, "MODIFIED")
    await op._reconcile_key(key)
    assert seen[-1] == "14"


async def test_a_failed_pass_reads_the_workspace_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    op = _operator()
    key = ("default", "ws")

    async def failing(ctx: Any, body: Obj) -> reconcile_mod.Outcome:
        raise ReconcileError("conflict")

    monkeypatch.setattr(reconcile_mod, "reconcile", failing)
    op.workspace_changed(key, _ws(10), "ADDED")
    with pytest.raises(ReconcileError):
        await op._reconcile_key(key)
    assert key not in op._workspaces
    await op.cluster.close()


def _ws_status(ws: Obj, rv: int) -> Obj:
    latest = copy.deepcopy(ws)
    latest["metadata"]["resourceVersion"] = str(rv)
    latest["status"] = {"state": "Pending"}
    return latest


async def test_pass_durations_are_labelled_by_the_requests_the_pass_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = _operator()
    key = ("default", "ws")

    async def ok() -> Obj:
        return {}

    async def fake_reconcile(ctx: Any, body: Obj) -> reconcile_mod.Outcome:
        await ctx.cluster._call("create", resources.NODECLAIM, ok())
        await ctx.cluster._call("patch-status", resources.WORKSPACE, ok())
        return reconcile_mod.Outcome()

    monkeypatch.setattr(reconcile_mod, "reconcile", fake_reconcile)
    op.workspace_changed(key, _ws(10), "ADDED")
    await op._reconcile_key(key)
    text = op.metrics.render().decode()
    assert (
        'kaito_reconcile_pass_duration_seconds_count{calls="create nodeclaims+patch-status '
        'workspaces"} 1.0'
    ) in text
    assert "kaito_reconcile_duration_seconds_count 1.0" in text
    await op.cluster.close()

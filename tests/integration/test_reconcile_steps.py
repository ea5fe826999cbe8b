"""Reconcile steps against the real API server, without the operator's loop around them.

The operator started here only serves the validating webhook (it watches another namespace);
the steps run with our own client as the administrator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kaito.api.workspace import parse_workspace
from kaito.controller import reconcile
from kaito.controller.context import ControllerContext
from kaito.k8s import resources
from kaito.manifests.plan import ManifestSettings
from tests.fixtures.samples import inference_workspace
from tests.integration.api_client import kaito_cluster, serve_admission
from tests.integration.conftest import Harness


@pytest.fixture
async def ctx(harness: Harness) -> AsyncIterator[ControllerContext]:
    await serve_admission(harness)
    async with kaito_cluster(harness.cp.kubeconfig) as cluster:
        yield ControllerContext(cluster, ManifestSettings(node_provisioner="gpu-provisioner"))


async def _apply(ctx: ControllerContext, ns: str, adapters: int) -> dict:
    body = inference_workspace("rev")
    body["metadata"]["namespace"] = ns
    body["inference"]["adapters"] = [
        {"source": {"name": f"a{i}", "image": f"example.com/a{i}:1"}} for i in range(adapters)
    ]
    current = await ctx.cluster.get_or_none(resources.WORKSPACE, "rev", ns)
    if current is None:
        return await ctx.cluster.create(body)
    return await ctx.cluster.patch(resources.WORKSPACE, "rev", {"inference": body["inference"]}, ns)


async def test_revisions_are_numbered_and_history_is_capped_at_ten(
    harness: Harness, ctx: ControllerContext
) -> None:
    numbers = []
    for n in range(12):
        body = await _apply(ctx, harness.ns, n % 11)  # 0..10 adapters: 11 specs, then a repeat
        numbers.append(await reconcile.sync_revision(ctx, body, parse_workspace(body)))
    history = await ctx.cluster.list(resources.CONTROLLER_REVISION, harness.ns)
    assert numbers[:11] == list(range(1, 12))
    # Revision 1's spec again: its record was pruned, so it is recorded anew as revision 12.
    assert numbers[11] == 12
    assert len(history) == 10
    assert sorted(int(r["revision"]) for r in history) == list(range(3, 13))
    ws = await ctx.cluster.get(resources.WORKSPACE, "rev", harness.ns)
    assert ws["metadata"]["annotations"]["workspace.kaito.io/revision"] == str(numbers[-1])


async def test_unchanged_spec_keeps_its_revision_without_listing(
    harness: Harness, ctx: ControllerContext
) -> None:
    body = await _apply(ctx, harness.ns, 1)
    first = await reconcile.sync_revision(ctx, body, parse_workspace(body))
    body = await ctx.cluster.get(resources.WORKSPACE, "rev", harness.ns)
    lists_before = ctx.cluster.calls["list controllerrevisions"]
    again = await reconcile.sync_revision(ctx, body, parse_workspace(body))
    assert again == first == 1
    assert ctx.cluster.calls["list controllerrevisions"] == lists_before

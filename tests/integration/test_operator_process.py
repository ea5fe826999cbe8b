"""Operator-level behaviour: leader election between replicas, metrics and health endpoints."""

from __future__ import annotations

import aiohttp

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness, is_true


async def test_only_the_lease_holder_reconciles_and_a_standby_takes_over(harness: Harness) -> None:
    first = await harness.start_operator(leader_elect=True, leader_lease_seconds=3.0)
    await harness.wait_for(first.is_leader, what="first replica elected")
    second = await harness.start_operator(leader_elect=True, leader_lease_seconds=3.0)
    harness.apply_workspace(inference_workspace("led"))
    await harness.wait_for(lambda: is_true(harness.workspace("led"), "WorkspaceSucceeded"))

    assert first.metrics.durations, "the leader reconciled"
    assert not second.metrics.durations, "the standby must not act"
    assert not second.is_leader()
    lease = harness.existing("leases", "ef60f9b0.io", "kaito-system")
    assert lease["spec"]["holderIdentity"] == first.identity

    await harness.kill_operator(first)  # no graceful release: the lease must expire
    await harness.wait_for(second.is_leader, within=15, what="standby elected")
    harness.apply_workspace(inference_workspace("after-failover"))
    await harness.wait_for(
        lambda: is_true(harness.workspace("after-failover"), "WorkspaceSucceeded")
    )
    assert second.metrics.durations


async def test_metrics_and_health_endpoints_report_workspaces(harness: Harness) -> None:
    op = await harness.start_operator()
    harness.apply_workspace(inference_workspace("measured"))
    await harness.wait_for(lambda: is_true(harness.workspace("measured"), "WorkspaceSucceeded"))
    await harness.wait_for(lambda: b'state="Ready"' in op.metrics.render(), what="gauge updated")

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{op.metrics_port}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        async with session.get(f"http://127.0.0.1:{op.health_port}/healthz") as resp:
            assert resp.status == 200
        async with session.get(f"http://127.0.0.1:{op.health_port}/readyz") as resp:
            assert resp.status == 200

    assert 'kaito_workspaces{preset="phi-4-mini-instruct",state="Ready"} 1.0' in text
    assert "kaito_nodeclaims_created_total 1.0" in text
    assert "kaito_reconcile_duration_seconds_count" in text
    assert "kaito_reconcile_errors_total" in text

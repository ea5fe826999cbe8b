"""Which failures of a pass are the Workspace's (permanent) and which are retried."""

from __future__ import annotations

import pytest

from kaito.controller import reconcile
from kaito.controller.errors import PermanentReconcileError, ReconcileError
from kaito.manifests import render
from tests.fixtures.samples import inference_workspace
from tests.unit.controller.test_pass_writes import FakeAPI, _ctx, _stored


async def test_a_workspace_the_builders_cannot_build_is_a_permanent_failure() -> None:
    api = FakeAPI()
    # gpu-provisioner (the default) needs an instance type to claim nodes.
    body = _stored(api, inference_workspace("ws", instance_type=None))
    with pytest.raises(PermanentReconcileError, match=r"resource\.instanceType is required"):
        await reconcile.reconcile(_ctx(api), body)


async def test_any_other_value_error_is_retried_not_blamed_on_the_workspace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FakeAPI()
    body = _stored(api, inference_workspace("ws"))

    def broken(*args: object, **kwargs: object) -> object:
        raise ValueError("a bug in a builder")

    monkeypatch.setattr(render, "plan_workload", broken)
    with pytest.raises(ReconcileError, match="a bug in a builder") as caught:
        await reconcile.reconcile(_ctx(api), body)
    assert not isinstance(caught.value, PermanentReconcileError)

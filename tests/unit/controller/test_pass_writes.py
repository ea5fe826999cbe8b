"""Which writes a reconcile pass issues together and which in order (an in-memory API whose
every request takes a moment, so overlapping requests show in the log)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from kaito.api import constants
from kaito.api.workspace import parse_workspace, to_v1beta1
from kaito.controller import reconcile
from kaito.controller.context import ControllerContext
from kaito.k8s import errors
from kaito.k8s.resources import Kind, kind_of
from kaito.manifests import naming
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from tests.fixtures.samples import inference_workspace, tuning_workspace

Obj = dict[str, Any]


def _merge(into: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class FakeAPI:
    """Objects in memory; reads of listed kinds are free (a watch cache), requests are logged."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], Obj] = {}
        self.log: list[str] = []
        self.version = 100

    def put(self, obj: Obj) -> Obj:
        kind = kind_of(obj)
        meta = obj["metadata"]
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        self.objects[(kind.plural, meta["name"], meta.get("namespace"))] = obj
        return copy.deepcopy(obj)

    async def _request(self, what: str) -> None:
        self.log.append(f"start {what}")
        await asyncio.sleep(0.01)
        self.log.append(f"end {what}")

    def cached_absent(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        return (kind.plural, name, namespace) not in self.objects

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        await self._request(f"get {kind.plural}")
        obj = self.objects.get((kind.plural, name, namespace))
        if obj is None:
            raise errors.NotFoundError("not found")
        return copy.deepcopy(obj)

    async def get_or_none(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return await self.get(kind, name, namespace)
        except errors.NotFoundError:
            return None

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        return [
            copy.deepcopy(o)
            for (plural, _, ns), o in self.objects.items()
            if plural == kind.plural
            and (namespace is None or ns == namespace)
            and all(
                (o["metadata"].get("labels") or {}).get(k) == v for k, v in (labels or {}).items()
            )
        ]

    async def create(self, obj: Obj) -> Obj:
        kind = kind_of(obj)
        if kind.plural != "events":
            await self._request(f"create {kind.plural}")
        meta = obj["metadata"]
        if (kind.plural, meta["name"], meta.get("namespace")) in self.objects:
            raise errors.AlreadyExistsError("exists")
        return self.put(copy.deepcopy(obj))

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        status: bool = False,
        json_patch: bool = False,
    ) -> Obj:
        await self._request(f"patch{'-status' if status else ''} {kind.plural}")
        obj = copy.deepcopy(self.objects[(kind.plural, name, namespace)])
        patch = copy.deepcopy(patch)
        expected = patch.get("metadata", {}).pop("resourceVersion", None)
        if expected is not None and expected != obj["metadata"]["resourceVersion"]:
            raise errors.ConflictError("conflict")
        _merge(obj, patch)
        return self.put(obj)

    def index(self, entry: str) -> int:
        return self.log.index(entry)


def _ctx(api: FakeAPI) -> ControllerContext:
    return ControllerContext(cluster=api, settings=ManifestSettings())  # type: ignore[arg-type]


def _stored(api: FakeAPI, body: Obj) -> Obj:
    body["metadata"]["uid"] = "uid-1"
    return api.put(body)


async def test_first_pass_creates_the_revision_with_the_finalizer_patch_and_claims_after() -> None:
    api = FakeAPI()
    body = _stored(api, inference_workspace("ws"))
    await reconcile.reconcile(_ctx(api), body)
    # The ControllerRevision and the Workspace patch overlap ...
    assert api.index("start patch workspaces") < api.index("end create controllerrevisions")
    assert api.index("start create controllerrevisions") < api.index("end patch workspaces")
    # ... the NodeClaim waits for the finalizer, the status for the NodeClaim.
    assert api.index("end patch workspaces") < api.index("start create nodeclaims")
    assert api.index("end create nodeclaims") < api.index("start patch-status workspaces")
    ws = api.objects[("workspaces", "ws", "default")]
    assert constants.WORKSPACE_FINALIZER in ws["metadata"]["finalizers"]
    assert ws["metadata"]["annotations"][constants.ANNOTATION_WORKSPACE_REVISION] == "1"
    revisions = [k for k in api.objects if k[0] == "controllerrevisions"]
    assert len(revisions) == 1

    # A second pass changes nothing it already wrote.
    api.log.clear()
    await reconcile.reconcile(_ctx(api), copy.deepcopy(ws))
    assert not [e for e in api.log if "controllerrevisions" in e or "patch workspaces" in e]


async def test_a_revision_the_annotations_name_but_the_cache_lacks_is_recorded_again() -> None:
    api = FakeAPI()
    body = _stored(api, inference_workspace("ws"))
    await reconcile.reconcile(_ctx(api), body)
    ws = copy.deepcopy(api.objects[("workspaces", "ws", "default")])
    digest = ws["metadata"]["annotations"][constants.ANNOTATION_WORKSPACE_HASH]
    # As if the create had failed after the annotations landed.
    del api.objects[
        ("controllerrevisions", naming.controller_revision_name("ws", digest), "default")
    ]
    revision, annotations = await reconcile.record_revision(
        _ctx(api), ws, to_v1beta1(parse_workspace(ws))
    )
    assert revision == 1
    assert annotations[constants.ANNOTATION_WORKSPACE_HASH] == digest
    assert ("controllerrevisions", naming.controller_revision_name("ws", digest), "default") in (
        api.objects
    )


async def test_tuning_reads_its_config_only_while_the_job_is_to_be_created() -> None:
    api = FakeAPI()
    body = _stored(api, tuning_workspace("tune"))
    ws = to_v1beta1(parse_workspace(body))
    plan = WorkloadPlan(node_count=1, revision=1)
    ctx = _ctx(api)
    await reconcile._apply_tuning(ctx, ws, body, plan)
    assert "start get configmaps" in api.log
    assert "start create jobs" in api.log
    assert "start get jobs" not in api.log  # the cache says it is absent
    api.log.clear()
    await reconcile._apply_tuning(ctx, ws, body, plan)
    assert api.log == ["start get jobs", "end get jobs"]


async def test_node_labels_are_patched_together_with_the_workload() -> None:
    api = FakeAPI()
    body = _stored(api, inference_workspace("ws"))
    ctx = _ctx(api)
    await reconcile.reconcile(ctx, body)
    # The provisioner's work: a ready GPU node for the NodeClaim.
    (claim_key,) = [k for k in api.objects if k[0] == "nodeclaims"]
    claim = api.objects[claim_key]
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "node-1",
            "labels": {
                **claim["metadata"]["labels"],
                "apps": "ws",
                constants.LABEL_INSTANCE_TYPE: "Standard_NC24ads_A100_v4",
                constants.LABEL_KARPENTER_NODEPOOL: "kaito",
            },
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "capacity": {constants.RESOURCE_NVIDIA_GPU: "1"},
            "allocatable": {constants.RESOURCE_NVIDIA_GPU: "1"},
        },
    }
    api.put(node)
    claim["status"] = {
        "nodeName": "node-1",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    api.log.clear()
    ws = copy.deepcopy(api.objects[("workspaces", "ws", "default")])
    await reconcile.reconcile(ctx, ws)
    assert api.index("start create statefulsets") < api.index("end patch nodes")
    assert api.index("start patch nodes") < api.index("end create statefulsets")
    assert api.index("start get deployments") < api.index("end create statefulsets")
    assert (
        api.objects[("nodes", "node-1", None)]["metadata"]["labels"][constants.LABEL_ACCELERATOR]
        == constants.ACCELERATOR_NVIDIA
    )

"""The validating admission webhook for Workspaces (§1.5), served through Kopf's webhook support.

The rules are the shared pure validation (``kaito.validation``), the same one ``kaito
validate`` runs. Their cluster lookups are synchronous, so this module first reads what they may
ask about (nodes matching the Workspace's selector, the ConfigMaps it names, the default tuning
templates in the release namespace) and hands them over as a ``StaticClusterLookup`` that knows
it is authoritative. Errors are aggregated into one message, as knative's field errors are.

An UPDATE that changes nothing the rules read (the operator's own finalizer and revision
annotation patches, label-free metadata changes) is allowed at once, without those lookups: the
rules would judge the same Workspace they admitted before.

Kopf's server parses the AdmissionReview with ``json.loads``; a body nested deeper than Python's
recursion limit raises ``RecursionError`` there and aiohttp answers 500. :class:`WebhookServer`
checks the nesting depth of the raw body first and answers 400 for anything deeper than
:data:`MAX_JSON_DEPTH` (Kubernetes objects are a few dozen levels deep at most).
"""

from __future__ import annotations

from typing import Any

import aiohttp.web
import kopf

from kaito import validation as api_validation
from kaito.api import constants
from kaito.api.workspace import AnyWorkspace, WorkspaceParseError, parse_workspace
from kaito.k8s import resources
from kaito.k8s.client import Cluster
from kaito.manifests import naming
from kaito.operator.settings import OperatorSettings
from kaito.presets import catalog
from kaito.presets.errors import PresetError
from kaito.runtime.models.hub_config import HubConfigReader

Obj = dict[str, Any]


def _node_info(node: Obj) -> api_validation.NodeInfo:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )
    meta = node["metadata"]
    return api_validation.NodeInfo(name=meta["name"], labels=meta.get("labels") or {}, ready=ready)


async def build_lookup(
    cluster: Cluster, ws: AnyWorkspace, settings: OperatorSettings
) -> api_validation.StaticClusterLookup:
    """Read from the API everything the rules may look up for ``ws``."""
    namespace = ws.metadata.namespace or "default"
    labels = naming.selector_labels(ws.resource.label_selector)
    nodes = [_node_info(n) for n in await cluster.list(resources.NODE, labels=labels)]
    wanted: list[tuple[str, str]] = []
    if ws.inference is not None and ws.inference.config:
        wanted.append((namespace, ws.inference.config))
    if ws.tuning is not None:
        if ws.tuning.config:
            wanted.append((namespace, ws.tuning.config))
        for template in constants.DEFAULT_TUNING_TEMPLATES.values():
            wanted.append((settings.release_namespace, template))
    configmaps: dict[tuple[str | None, str], dict[str, str]] = {}
    for ns, name in wanted:
        cm = await cluster.get_or_none(resources.CONFIGMAP, name, ns)
        if cm is not None:
            configmaps[(ns, name)] = dict(cm.get("data") or {})
    return api_validation.StaticClusterLookup(
        configmaps,
        nodes=nodes,
        release_namespace=settings.release_namespace,
        include_default_templates=True,
        authoritative=True,
    )


def hub_reader(settings: OperatorSettings) -> HubConfigReader | None:
    """The hub client the webhook keeps for its lifetime (its cache), or None when offline."""
    if settings.hub_offline:
        return None
    return HubConfigReader(endpoint=settings.hub_endpoint)


async def prefetch_hub(ws: AnyWorkspace, hub: HubConfigReader) -> api_validation.StaticHubLookup:
    """Ask the hub, before the synchronous rules run, about an unlisted ``org/repo`` preset."""
    answers: dict[str, Any] = {}
    preset = ws.inference.preset if ws.inference is not None else None
    if preset is not None:
        try:
            spec = catalog.get_model(preset.name)
        except PresetError:
            spec = None
        if spec is not None and spec.best_effort:
            answers[spec.hf_repo] = await hub.prefetch(spec.hf_repo)
    return api_validation.StaticHubLookup(answers)


# Annotations the operator itself writes; the rules never read them.
_OPERATOR_ANNOTATIONS = (
    constants.ANNOTATION_WORKSPACE_HASH,
    constants.ANNOTATION_WORKSPACE_REVISION,
)


def _validated_part(body: Obj) -> tuple[Obj, Any, Obj]:
    meta = body.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _OPERATOR_ANNOTATIONS
    }
    content = {k: v for k, v in body.items() if k not in ("metadata", "status")}
    return content, meta.get("labels") or {}, annotations


def unchanged_for_validation(body: Obj, old: Obj | None) -> bool:
    """Whether an UPDATE leaves everything the rules read as it was.

    That is the spec, the labels, the annotations other than the operator's own, the name and
    the namespace.
    """
    if old is None:
        return False
    same_name = all(
        (body.get("metadata") or {}).get(k) == (old.get("metadata") or {}).get(k)
        for k in ("name", "namespace")
    )
    return same_name and _validated_part(body) == _validated_part(old)


async def review(
    cluster: Cluster,
    settings: OperatorSettings,
    body: Obj,
    old: Obj | None,
    hub: HubConfigReader | None = None,
) -> tuple[list[str], list[str]]:
    """Messages rejecting ``body`` (empty when admitted) and warnings to show the user.

    Warnings are what upstream downgrades from errors (e.g. GPU memory checks under
    ``kaito.sh/bypass-resource-checks``); rules this process cannot check are left out.

    Args:
        cluster: The API, for lookups.
        settings: Operator settings (provisioner mode, gates, cloud, release namespace).
        body: The Workspace under review.
        old: The stored Workspace for an UPDATE, else ``None``.
        hub: Asked about unlisted ``org/repo`` presets on CREATE; None skips that check.
    """
    if unchanged_for_validation(body, old):
        return [], []
    try:
        ws = parse_workspace(body)
        old_ws = parse_workspace(old) if old else None
    except WorkspaceParseError as exc:
        return [str(exc)], []
    ctx = api_validation.ValidationContext(
        lookup=await build_lookup(cluster, ws, settings),
        feature_gates=settings.gates(),
        node_provisioner=settings.node_provisioner,
        cloud_provider=settings.cloud_provider,
        release_namespace=settings.release_namespace,
        default_namespace=ws.metadata.namespace or "default",
        hub=await prefetch_hub(ws, hub) if hub is not None and old_ws is None else None,
    )
    report = api_validation.check_workspace(ws, ctx, old_ws)
    warnings = [str(w) for w in report.warnings if "not checked:" not in w.message]
    return [str(e) for e in report.errors], warnings


MAX_JSON_DEPTH = 200
"""Deepest nesting of arrays and objects accepted in an admission request body."""


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests ``[``/``{`` deeper than ``limit`` (brackets in strings ignored)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class WebhookServer(kopf.WebhookServer):
    """Kopf's webhook server, answering 400 (not 500) for a body nested too deep to parse."""

    @staticmethod
    async def _serve(fn: Any, request: aiohttp.web.Request) -> aiohttp.web.Response:
        text = await request.text()
        if json_depth_exceeds(text):
            raise aiohttp.web.HTTPBadRequest(
                reason=f"request body nests deeper than {MAX_JSON_DEPTH} levels"
            )
        response: aiohttp.web.Response = await kopf.WebhookServer._serve(fn, request)
        return response

"""Pieces every pod KAITO creates shares: scheduling, owner references, registry credentials.

The inference StatefulSet and the tuning Job land on the same kind of node (a GPU node carrying the
Workspace's labels and the ``sku=gpu`` taint), are owned by the Workspace so that the API server
garbage-collects them, and may need registry credentials for ``kaito pull`` / ``kaito push``.
Building these pieces in one place keeps the two workloads scheduling identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kaito.api import constants
from kaito.manifests import naming

JSON = dict[str, Any]

# Registry credentials are projected here, one directory per Secret. Not /root/.docker: the runtime
# image runs as a non-root user, which cannot traverse /root.
REGISTRY_AUTH_DIR = "/etc/kaito/registry-auth"
DOCKER_CONFIG_FILE = "config.json"
DOCKERCONFIGJSON_KEY = ".dockerconfigjson"


def object_meta(
    name: str,
    namespace: str | None,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owner: JSON | None = None,
) -> JSON:
    """Build ``metadata``: sorted labels and annotations, the Workspace owner reference if known."""
    meta: JSON = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = {k: labels[k] for k in sorted(labels)}
    if annotations:
        meta["annotations"] = {k: annotations[k] for k in sorted(annotations)}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return meta


def owner_reference(api_version: str, kind: str, name: str, uid: str | None) -> JSON | None:
    """The controller owner reference to a Workspace, or ``None`` when its uid is not known yet.

    ``kaito render`` runs without a cluster, so the Workspace has no uid; an owner reference without
    one would be rejected by the API server, so it is left out rather than faked.
    """
    if not uid:
        return None
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def gpu_tolerations() -> list[JSON]:
    """Tolerations for KAITO's GPU nodes: device-plugin taint, ``sku=gpu``, Azure spot (§2.6)."""
    return [
        {
            "key": constants.RESOURCE_NVIDIA_GPU,
            "operator": "Exists",
            "effect": constants.TAINT_EFFECT_NO_SCHEDULE,
        },
        {
            "key": constants.TAINT_SKU_KEY,
            "operator": "Equal",
            "value": constants.TAINT_SKU_VALUE,
            "effect": constants.TAINT_EFFECT_NO_SCHEDULE,
        },
        {
            "key": constants.LABEL_AZURE_SCALESET_PRIORITY,
            "operator": "Equal",
            "value": constants.AZURE_SPOT_PRIORITY,
            "effect": constants.TAINT_EFFECT_NO_SCHEDULE,
        },
    ]


def node_affinity(
    user_labels: Mapping[str, str], provisioner_labels: Mapping[str, str]
) -> JSON | None:
    """Required node affinity: the user's labels plus the provisioner's ownership labels (``In``).

    The ownership labels pin the pods to the nodes provisioned for this Workspace, so two Workspaces
    that share user labels never land on each other's GPUs.
    """
    merged = {**user_labels, **provisioner_labels}
    if not merged:
        return None
    expressions = [
        {"key": key, "operator": "In", "values": [merged[key]]} for key in sorted(merged)
    ]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }


def dshm_volume() -> JSON:
    """Shared memory for PyTorch/NCCL; the container default of 64 MiB is far too small."""
    return {"name": constants.VOLUME_DSHM, "emptyDir": {"medium": "Memory"}}


def dshm_mount() -> JSON:
    """Mount of :func:`dshm_volume` at ``/dev/shm``."""
    return {"name": constants.VOLUME_DSHM, "mountPath": constants.PATH_DEV_SHM}


def model_weights_volume() -> JSON:
    """Scratch space for weights downloaded at run time (node disk, sized by the NodeClaim)."""
    return {"name": constants.VOLUME_MODEL_WEIGHTS, "emptyDir": {}}


def model_weights_mount() -> JSON:
    """Mount of :func:`model_weights_volume` at ``/workspace/weights``."""
    return {"name": constants.VOLUME_MODEL_WEIGHTS, "mountPath": constants.PATH_WEIGHTS_DIR}


def registry_auth_volume_name(secret: str) -> str:
    """Name of the volume projecting one registry Secret (a DNS label made from its name)."""
    return naming.container_name("registry-auth-", secret)


def registry_auth_volumes(secrets: Iterable[str]) -> list[JSON]:
    """One volume per dockerconfigjson Secret, exposing ``.dockerconfigjson`` as ``config.json``."""
    return [
        {
            "name": registry_auth_volume_name(secret),
            "secret": {
                "secretName": secret,
                "items": [{"key": DOCKERCONFIGJSON_KEY, "path": DOCKER_CONFIG_FILE}],
            },
        }
        for secret in _unique(secrets)
    ]


def registry_auth_mounts(secrets: Iterable[str]) -> list[JSON]:
    """Read-only mounts of :func:`registry_auth_volumes`, one per Secret under the auth dir."""
    return [
        {
            "name": registry_auth_volume_name(secret),
            "mountPath": f"{REGISTRY_AUTH_DIR}/{secret}",
            "readOnly": True,
        }
        for secret in _unique(secrets)
    ]


def docker_config_args(secrets: Iterable[str]) -> list[str]:
    """``--docker-config <file>`` once per Secret, for ``kaito pull`` / ``kaito push``."""
    args: list[str] = []
    for secret in _unique(secrets):
        args += ["--docker-config", f"{REGISTRY_AUTH_DIR}/{secret}/{DOCKER_CONFIG_FILE}"]
    return args


def gpu_resources(gpu_count: int | None) -> JSON:
    """Resources asking for ``gpu_count`` NVIDIA GPUs (requests = limits); none if unknown."""
    if not gpu_count:
        return {}
    quantity = str(gpu_count)
    return {
        "requests": {constants.RESOURCE_NVIDIA_GPU: quantity},
        "limits": {constants.RESOURCE_NVIDIA_GPU: quantity},
    }


def _unique(items: Iterable[str]) -> Sequence[str]:
    # Keep first-seen order (it is the user's order) but drop repeats and blanks.
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def hf_token_env(secret: str) -> JSON:
    """``HF_TOKEN`` from the ``modelAccessSecret`` Secret (optional: a public model needs none)."""
    return {
        "name": constants.ENV_HF_TOKEN,
        "valueFrom": {
            "secretKeyRef": {"name": secret, "key": constants.SECRET_KEY_HF_TOKEN, "optional": True}
        },
    }

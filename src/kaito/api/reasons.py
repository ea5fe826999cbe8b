"""Condition types, condition reasons and Event reasons: the words of ``status.conditions``.

Clients (``kubectl get workspace`` columns, dashboards, ``kubectl wait --for=condition=...``) match
these strings exactly, so they carry upstream Kaito's spelling, odd capitalisation included
(reference §1.3). Split from :mod:`kaito.api.constants` because they are one vocabulary with one
reader: whoever computes or reads a Workspace's status.
"""

from __future__ import annotations

from typing import Final

CONDITION_TRUE: Final = "True"
CONDITION_FALSE: Final = "False"
CONDITION_UNKNOWN: Final = "Unknown"

CONDITION_NODE_CLAIM_READY: Final = "NodeClaimReady"
CONDITION_NODES_READY: Final = "NodesReady"
CONDITION_RESOURCE_READY: Final = "ResourceReady"
CONDITION_INFERENCE_READY: Final = "InferenceReady"
CONDITION_JOB_STARTED: Final = "JobStarted"
CONDITION_WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
CONDITION_BENCHMARK_COMPLETED: Final = "BenchmarkCompleted"
CONDITION_MODEL_MIRROR_READY: Final = "ModelMirrorReady"
CONDITION_WORKSPACE_DELETING: Final = "WorkspaceDeleting"
CONDITION_SCALING_DOWN_COMPLETED: Final = "ScalingDownCompleted"
# v0.1-v0.2 summary condition, replaced by WorkspaceSucceeded; still shown by old clients.
CONDITION_WORKSPACE_READY: Final = "WorkspaceReady"
CONDITION_MESSAGE_MAX_LEN: Final = 256
LAST_RECONCILE_ERROR_SUFFIX: Final = " (last reconcile error: {error})"

# Reasons: node claims and nodes.
REASON_NODE_CLAIMS_READY: Final = "NodeClaimsReady"
REASON_NODE_CLAIM_NOT_READY: Final = "NodeClaimNotReady"
REASON_NODES_READY: Final = "NodesReady"
REASON_NODE_NOT_READY: Final = "NodeNotReady"
REASON_NODE_PLUGINS_NOT_READY: Final = "NodePluginsNotReady"
# Reasons: resource.
REASON_RESOURCE_STATUS_SUCCESS: Final = "workspaceResourceStatusSuccess"
# Reasons: inference.
REASON_INFERENCE_STATUS_SUCCESS: Final = "WorkspaceInferenceStatusSuccess"
REASON_INFERENCE_STATUS_PENDING: Final = "WorkspaceInferenceStatusPending"
REASON_CONTAINER_OOM_KILLED: Final = "ContainerOOMKilled"
REASON_IMAGE_PULL_ERROR: Final = "ImagePullError"
REASON_CONTAINER_START_ERROR: Final = "ContainerStartError"
REASON_CONTAINER_CRASH_LOOP_BACK_OFF: Final = "ContainerCrashLoopBackOff"
REASON_POD_EVICTED: Final = "PodEvicted"
REASON_NODE_DISK_PRESSURE: Final = "NodeDiskPressure"
REASON_NODE_MEMORY_PRESSURE: Final = "NodeMemoryPressure"
REASON_UNSCHEDULABLE: Final = "Unschedulable"
# Reasons: tuning job.
REASON_TUNING_JOB_STARTED: Final = "WorkspaceTuningJobStatusStarted"
REASON_TUNING_JOB_PENDING: Final = "WorkspaceTuningJobStatusPending"
REASON_TUNING_JOB_FAILED: Final = "WorkspaceTuningJobStatusFailed"
# Reasons: summary, benchmark, mirror, deletion.
REASON_WORKSPACE_SUCCEEDED: Final = "workspaceSucceeded"
REASON_WORKSPACE_PENDING: Final = "workspacePending"
REASON_WORKSPACE_FAILED: Final = "workspaceFailed"
REASON_BENCHMARK_COMPLETED: Final = "BenchmarkCompleted"
REASON_BENCHMARK_FAILED: Final = "BenchmarkFailed"
REASON_WORKSPACE_DELETED: Final = "workspaceDeleted"

# Kubernetes Event reasons emitted by the controller (§2.3, §2.6).
EVENT_NODE_CLAIM_CREATED: Final = "NodeClaimCreated"
EVENT_NODE_CLAIM_CREATION_FAILED: Final = "NodeClaimCreationFailed"
EVENT_WORKLOAD_MIGRATION: Final = "WorkloadMigration"

# Image pull failure waiting reasons classified as ImagePullError (§2.7).
IMAGE_PULL_WAITING_REASONS: Final = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ImageInspectError",
    "RegistryUnavailable",
)

"""The inputs of the manifest builders besides the Workspace: settings and the workload plan.

Builders are pure functions, so everything they would otherwise look up (the runtime image, the
cloud, how many nodes the estimator chose, how many GPUs a node has) arrives in two small frozen
values:

* :class:`ManifestSettings` -- what the operator was started with (image, namespaces, cloud, node
  provisioner). The operator fills it from its settings; ``kaito render`` from flags.
* :class:`WorkloadPlan` -- what the controller decided for this Workspace (node count, GPU facts,
  revision, parallelism flags). The controller fills it from the estimator and the cluster; ``kaito
  render`` from the estimator alone.

:class:`WorkspaceRef` is the identity part of a Workspace every child needs (name, namespace, owner
reference, annotations), taken once so the builders do not each repeat the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import kaito
from kaito.api import constants, gates
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import podspec
from kaito.manifests.errors import ManifestError
from kaito.presets import skus

RUNTIME_IMAGE_REPOSITORY = "ghcr.io/kaito-py/runtime"
DEFAULT_OPERATOR_NAMESPACE = constants.DEFAULT_RELEASE_NAMESPACE
DEFAULT_NAMESPACE = "default"


def default_runtime_image() -> str:
    """The runtime image of this package's version: ``ghcr.io/kaito-py/runtime:<version>``."""
    return f"{RUNTIME_IMAGE_REPOSITORY}:{kaito.__version__}"


@dataclass(frozen=True)
class ManifestSettings:
    """Operator-wide settings that shape every manifest.

    Attributes:
        runtime_image: Image running ``kaito-serve``, ``kaito-tune``, ``kaito fetch-data``, ``kaito
            pull`` and ``kaito push`` in the pods.
        operator_namespace: Namespace of the operator (upstream's release namespace), where the
            default tuning ConfigMaps live.
        cloud: ``azure``, ``aws`` or ``arc``: picks the SKU table and the NodeClaim/NodePool node
            class.
        node_provisioner: ``gpu-provisioner`` (NodeClaims), ``karpenter`` (a NodePool) or ``byo``.
        default_node_image_family: Node OS for gpu-provisioner when the Workspace does not say.
        karpenter_node_class: NodeClass a NodePool references when the Workspace has no
            ``kaito.sh/node-class-name`` annotation; ``None`` means the cloud's default name.
        feature_gates: The operator's ``--feature-gates`` (``vLLM`` picks the default runtime).
    """

    runtime_image: str = field(default_factory=default_runtime_image)
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    cloud: str = constants.DEFAULT_CLOUD_PROVIDER
    node_provisioner: str = constants.NODE_PROVISIONER_GPU_PROVISIONER
    default_node_image_family: str = constants.NODE_IMAGE_FAMILY_UBUNTU
    karpenter_node_class: str | None = None
    feature_gates: Mapping[str, bool] = field(default_factory=dict)

    def gate(self, name: str) -> bool:
        """Whether feature gate ``name`` is on (upstream's default when the operator set none)."""
        return gates.gate_enabled(self.feature_gates, name)

    @property
    def provisioner(self) -> str:
        """The node provisioner with upstream's ``azure-gpu-provisioner`` spelling folded in."""
        if self.node_provisioner == constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER:
            return constants.NODE_PROVISIONER_GPU_PROVISIONER
        return self.node_provisioner


@dataclass(frozen=True)
class WorkloadPlan:
    """What the controller decided for one Workspace; the builders only render it.

    Attributes:
        node_count: ``status.targetNodeCount``: NodeClaims, NodePool replicas, StatefulSet replicas.
        gpu: The GPUs of one node (SKU table, or GPU Feature Discovery labels on BYO nodes);
            ``None`` when unknown (an unlisted SKU), in which case pods request no GPU and bfloat16
            is assumed.
        disk_gib: OS disk each NodeClaim asks for (weights + system files); ``None`` means 1024Gi.
        revision: The Workspace revision stamped on the StatefulSet/Job
            (``workspace.kaito.io/revision``).
        max_model_len: Context length the estimator sized for (the user's ``max-model-len`` or
            2048).
        tuning_output_dir: ``TrainingArguments.output_dir`` of the training config in use.
        engine_args: Engine arguments for ``kaito-serve`` if the controller computed them already;
            ``None`` lets the builder compute them from the preset catalog and ``gpu``.
        weights_storage_class: StorageClass for a per-pod weights volume (upstream: the local NVMe
            class ``kaito-local-nvme-disk``, used when the SKU has NVMe and the class exists);
            ``None`` keeps weights in an ``emptyDir``. The controller does not look StorageClasses
            up (its RBAC has no access to them), so it always plans ``None`` for now.
        runtime: ``vllm`` or ``transformers``, decided once by
            :func:`kaito.api.workspace.workspace_runtime` with the operator's ``vLLM`` gate.
        sizing: Why ``node_count`` is what it is (``kaito validate`` prints it).
    """

    node_count: int = 1
    gpu: skus.GPUConfig | None = None
    disk_gib: int | None = None
    revision: int = 1
    max_model_len: int = constants.DEFAULT_MAX_MODEL_LEN
    tuning_output_dir: str = constants.PATH_RESULTS_DIR
    engine_args: tuple[str, ...] | None = None
    weights_storage_class: str | None = None
    runtime: str = constants.RUNTIME_VLLM
    sizing: str = ""

    @property
    def gpus_per_node(self) -> int | None:
        """GPUs each pod requests (``nvidia.com/gpu``), or ``None`` when unknown."""
        return self.gpu.gpu_count if self.gpu is not None else None

    @property
    def bf16_supported(self) -> bool:
        """Whether bfloat16 works on the node's GPUs (assumed when the GPU is unknown)."""
        return self.gpu.supports_bf16 if self.gpu is not None else True


@dataclass(frozen=True)
class WorkspaceRef:
    """Identity of a Workspace as its children see it."""

    name: str
    namespace: str
    uid: str | None
    api_version: str
    annotations: Mapping[str, str]

    @classmethod
    def of(cls, ws: AnyWorkspace) -> WorkspaceRef:
        """Take the identity of ``ws`` (either version); no namespace means ``default``."""
        meta = ws.metadata
        if not meta.name:
            raise ManifestError("the Workspace has no metadata.name")
        return cls(
            name=meta.name,
            namespace=meta.namespace or DEFAULT_NAMESPACE,
            uid=meta.uid,
            api_version=ws.api_version,
            annotations=dict(meta.annotations or {}),
        )

    def workload_meta(self, labels: Mapping[str, str], revision: int) -> podspec.JSON:
        """``metadata`` of the StatefulSet or Job: labels, the revision stamp, the owner."""
        return podspec.object_meta(
            self.name,
            self.namespace,
            labels=dict(labels),
            annotations={constants.ANNOTATION_WORKSPACE_REVISION: str(revision)},
            owner=self.owner_reference(),
        )

    def owner_reference(self) -> podspec.JSON | None:
        """Controller owner reference to the Workspace; ``None`` without a uid (rendering)."""
        return podspec.owner_reference(
            self.api_version, constants.KIND_WORKSPACE, self.name, self.uid
        )

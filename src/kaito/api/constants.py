"""Every string and number with API meaning, defined exactly once.

Kaito's users, tools (kubectl plugins, dashboards, autoscalers) and our own layers all agree on
these names: the API group and kinds, state values, labels,
annotations, the finalizer, feature gates, ConfigMap names and keys, ports and in-pod paths. Every
other package imports them from here instead of repeating a literal, so a rename is a one-line
change and a typo is an import error rather than a silent mismatch with upstream Kaito.

The values match upstream Kaito (reference §1.1-§1.5, §2.x); the grouping follows those sections.
Condition types, condition reasons and Event reasons live in :mod:`kaito.api.reasons`.
"""

from __future__ import annotations

from typing import Final

# -------------------------------------------------------------------------------------------------
# §1.1 Group, versions, kinds
# -------------------------------------------------------------------------------------------------
GROUP: Final = "kaito.sh"
VERSION_V1ALPHA1: Final = "v1alpha1"
VERSION_V1BETA1: Final = "v1beta1"
API_VERSION_V1ALPHA1: Final = f"{GROUP}/{VERSION_V1ALPHA1}"
API_VERSION_V1BETA1: Final = f"{GROUP}/{VERSION_V1BETA1}"
SERVED_VERSIONS: Final = (VERSION_V1ALPHA1, VERSION_V1BETA1)
STORAGE_VERSION: Final = VERSION_V1BETA1
KIND_WORKSPACE: Final = "Workspace"
KIND_WORKSPACE_LIST: Final = "WorkspaceList"
WORKSPACE_PLURAL: Final = "workspaces"
WORKSPACE_SINGULAR: Final = "workspace"
WORKSPACE_SHORT_NAMES: Final = ("wk", "wks")
WORKSPACE_CATEGORIES: Final = ("workspace",)
WORKSPACE_CRD_NAME: Final = f"{WORKSPACE_PLURAL}.{GROUP}"
WORKSPACE_CRD_FILE: Final = f"{GROUP}_{WORKSPACE_PLURAL}.yaml"

# -------------------------------------------------------------------------------------------------
# §1.2 Field values and defaults
# -------------------------------------------------------------------------------------------------
V1ALPHA1_DEFAULT_INSTANCE_TYPE: Final = "Standard_NC24ads_A100_v4"
DEFAULT_RESOURCE_COUNT: Final = 1

ACCESS_MODE_PUBLIC: Final = "public"
ACCESS_MODE_PRIVATE: Final = "private"

TUNING_METHOD_LORA: Final = "lora"
TUNING_METHOD_QLORA: Final = "qlora"
TUNING_METHODS: Final = (TUNING_METHOD_LORA, TUNING_METHOD_QLORA)

PARTITION_MODE_MIG: Final = "mig"
PARTITION_MODE_ACCELERATOR: Final = "accelerator"

MAX_ADAPTERS: Final = 10
DEFAULT_ADAPTER_STRENGTH: Final = "1.0"

# Workspace states (status.state).
STATE_PENDING: Final = "Pending"
STATE_READY: Final = "Ready"
STATE_NOT_READY: Final = "NotReady"
STATE_RUNNING: Final = "Running"
STATE_SUCCEEDED: Final = "Succeeded"
STATE_FAILED: Final = "Failed"

# status.performance
METRIC_PEAK_TOKENS_PER_MINUTE: Final = "peakTokensPerMinute"
METRIC_UNIT_TOKENS_PER_MINUTE: Final = "tokens/min"
METRIC_DESCRIPTION_STRESS: Final = "stress/high-concurrency"
BENCHMARK_CONFIG_LOG_PREFIX: Final = "KAITO_BENCHMARK_CONFIG"
BENCHMARK_RESULT_LOG_PREFIX: Final = "KAITO_BENCHMARK_RESULT"

# -------------------------------------------------------------------------------------------------
# §1.4 Annotations and labels
# -------------------------------------------------------------------------------------------------
# User-settable Workspace annotations.
ANNOTATION_RUNTIME: Final = "kaito.sh/runtime"
ANNOTATION_ENABLE_LB: Final = "kaito.sh/enablelb"
ANNOTATION_BYPASS_RESOURCE_CHECKS: Final = "kaito.sh/bypass-resource-checks"
ANNOTATION_NODE_IMAGE_FAMILY: Final = "kaito.sh/node-image-family"
ANNOTATION_NODE_CLASS_NAME: Final = "kaito.sh/node-class-name"
ANNOTATION_PERFORMANCE_MODE: Final = "kaito.sh/performance-mode"
ANNOTATION_USE_LOCAL_WEIGHTS: Final = "kaito.sh/use-local-weights"
ANNOTATION_DISABLE_BENCHMARK: Final = "kaito.sh/disable-benchmark"
ANNOTATION_MODEL_STREAMING: Final = "kaito.sh/model-streaming"

RUNTIME_VLLM: Final = "vllm"
RUNTIME_TRANSFORMERS: Final = "transformers"
RUNTIMES: Final = (RUNTIME_VLLM, RUNTIME_TRANSFORMERS)
ENABLE_LB_VALUE: Final = "True"
NODE_IMAGE_FAMILY_UBUNTU: Final = "ubuntu"
NODE_IMAGE_FAMILY_AZURELINUX: Final = "azurelinux"
NODE_IMAGE_FAMILIES: Final = (NODE_IMAGE_FAMILY_AZURELINUX, NODE_IMAGE_FAMILY_UBUNTU)
PERFORMANCE_MODE_BALANCED: Final = "balanced"
PERFORMANCE_MODE_INTERACTIVITY: Final = "interactivity"
PERFORMANCE_MODE_THROUGHPUT: Final = "throughput"
PERFORMANCE_MODES: Final = (
    PERFORMANCE_MODE_BALANCED,
    PERFORMANCE_MODE_INTERACTIVITY,
    PERFORMANCE_MODE_THROUGHPUT,
)
BOOLEAN_ANNOTATION_VALUES: Final = ("true", "false")
MODEL_STREAMING_DISABLED: Final = "disabled"

# Controller-managed annotations, labels and the finalizer.
ANNOTATION_WORKSPACE_HASH: Final = "workspace.kaito.io/hash"
ANNOTATION_WORKSPACE_REVISION: Final = "workspace.kaito.io/revision"
LABEL_WORKSPACE_NAME_REVISION: Final = "workspace.kaito.io/name"
WORKSPACE_FINALIZER: Final = "workspace.finalizer.kaito.sh"
MAX_CONTROLLER_REVISIONS: Final = 10

# Pod / node / NodeClaim labels.
LABEL_WORKSPACE: Final = "kaito.sh/workspace"
LABEL_WORKSPACE_NAMESPACE: Final = "kaito.sh/workspacenamespace"
LABEL_RAGENGINE: Final = "kaito.sh/ragengine"
LABEL_RAGENGINE_NAMESPACE: Final = "kaito.sh/ragenginenamespace"
LABEL_INFERENCESET_CREATED_BY: Final = "inferenceset.kaito.sh/created-by"
LABEL_INFERENCE_ROLE: Final = "kaito.sh/inference-role"
LABEL_KARPENTER_WORKSPACE_NAME: Final = "karpenter.kaito.sh/workspace-name"
LABEL_KARPENTER_WORKSPACE_NAMESPACE: Final = "karpenter.kaito.sh/workspace-namespace"
LABEL_KARPENTER_INFERENCESET: Final = "karpenter.kaito.sh/inferenceset"
LABEL_KARPENTER_INFERENCESET_NAMESPACE: Final = "karpenter.kaito.sh/inferenceset-namespace"
LABEL_KARPENTER_MANAGED_BY: Final = "karpenter.kaito.sh/managed-by"
KARPENTER_MANAGED_BY_VALUE: Final = "kaito"

# Keys KAITO owns on nodes; dropped silently from a user's labelSelector.matchLabels (§1.4).
RESERVED_SELECTOR_KEYS: Final = frozenset(
    {
        LABEL_WORKSPACE,
        LABEL_WORKSPACE_NAMESPACE,
        LABEL_RAGENGINE,
        LABEL_RAGENGINE_NAMESPACE,
        LABEL_KARPENTER_WORKSPACE_NAME,
        LABEL_KARPENTER_WORKSPACE_NAMESPACE,
        LABEL_KARPENTER_INFERENCESET,
        LABEL_KARPENTER_INFERENCESET_NAMESPACE,
    }
)

# Well-known Kubernetes / Karpenter / cloud labels KAITO reads or writes (§2.3, §2.4, §2.5).
LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"
LABEL_OS: Final = "kubernetes.io/os"
LABEL_KARPENTER_NODEPOOL: Final = "karpenter.sh/nodepool"
LABEL_ACCELERATOR: Final = "accelerator"
ACCELERATOR_NVIDIA: Final = "nvidia"
LABEL_AZURE_SKU_NAME: Final = "karpenter.azure.com/sku-name"
LABEL_AZURE_PLACEMENT_SCOPE: Final = "karpenter.azure.com/placement-scope"
AZURE_PLACEMENT_SCOPE_REGIONAL: Final = "regional"
LABEL_AWS_INSTANCE_GPU_COUNT: Final = "karpenter.k8s.aws/instance-gpu-count"
LABEL_AZURE_SCALESET_PRIORITY: Final = "kubernetes.azure.com/scalesetpriority"
AZURE_SPOT_PRIORITY: Final = "spot"
LABEL_STATEFULSET_POD_NAME: Final = "statefulset.kubernetes.io/pod-name"
LABEL_POD_INDEX: Final = "apps.kubernetes.io/pod-index"
ANNOTATION_KARPENTER_DO_NOT_DISRUPT: Final = "karpenter.sh/do-not-disrupt"

# NVIDIA GPU Feature Discovery labels on bring-your-own nodes (§2.3 BYO).
LABEL_GPU_PRODUCT: Final = "nvidia.com/gpu.product"
LABEL_GPU_COUNT: Final = "nvidia.com/gpu.count"
LABEL_GPU_MEMORY: Final = "nvidia.com/gpu.memory"
GFD_REQUIRED_LABELS: Final = (LABEL_GPU_PRODUCT, LABEL_GPU_COUNT, LABEL_GPU_MEMORY)

# Extended resources.
RESOURCE_NVIDIA_GPU: Final = "nvidia.com/gpu"

# -------------------------------------------------------------------------------------------------
# §1.5 / §2.1 Webhook, feature gates, operator settings
# -------------------------------------------------------------------------------------------------
WEBHOOK_NAME: Final = "validation.workspace.kaito.sh"
WEBHOOK_PATH: Final = "/validate/workspace.kaito.sh"
WEBHOOK_CERT_SECRET: Final = "workspace-webhook-cert"
WEBHOOK_PORT: Final = 9443
METRICS_PORT: Final = 8080
HEALTH_PROBE_PORT: Final = 8081
LEADER_ELECTION_ID: Final = "ef60f9b0.io"

FEATURE_VLLM: Final = "vLLM"
FEATURE_DISABLE_NODE_AUTO_PROVISIONING: Final = "disableNodeAutoProvisioning"
FEATURE_GATEWAY_API_INFERENCE_EXTENSION: Final = "gatewayAPIInferenceExtension"
FEATURE_ENABLE_INFERENCE_SET_CONTROLLER: Final = "enableInferenceSetController"
FEATURE_ENABLE_MIG: Final = "enableMIG"
FEATURE_ENABLE_ACCELERATOR: Final = "enableAccelerator"
FEATURE_ENABLE_MULTI_ROLE_INFERENCE_CONTROLLER: Final = "enableMultiRoleInferenceController"
FEATURE_MODEL_MIRROR: Final = "ModelMirror"
FEATURE_MODEL_STREAMING: Final = "ModelStreaming"
FEATURE_ENABLE_BASE_IMAGE_AUTO_UPGRADE: Final = "enableBaseImageAutoUpgrade"
# Upstream defaults (pkg/featuregates); an unknown gate name is a startup error.
DEFAULT_FEATURE_GATES: Final[dict[str, bool]] = {
    FEATURE_VLLM: True,
    FEATURE_DISABLE_NODE_AUTO_PROVISIONING: False,
    FEATURE_GATEWAY_API_INFERENCE_EXTENSION: False,
    FEATURE_ENABLE_INFERENCE_SET_CONTROLLER: True,
    FEATURE_ENABLE_MIG: False,
    FEATURE_ENABLE_ACCELERATOR: False,
    FEATURE_ENABLE_MULTI_ROLE_INFERENCE_CONTROLLER: False,
    FEATURE_MODEL_MIRROR: False,
    FEATURE_MODEL_STREAMING: False,
    FEATURE_ENABLE_BASE_IMAGE_AUTO_UPGRADE: False,
}

NODE_PROVISIONER_AZURE_GPU_PROVISIONER: Final = "azure-gpu-provisioner"
# Accepted spelling of the same provisioner (ARCHITECTURE.md calls it "gpu-provisioner").
NODE_PROVISIONER_GPU_PROVISIONER: Final = "gpu-provisioner"
NODE_PROVISIONER_KARPENTER: Final = "karpenter"
NODE_PROVISIONER_BYO: Final = "byo"
NODE_PROVISIONERS: Final = (
    NODE_PROVISIONER_AZURE_GPU_PROVISIONER,
    NODE_PROVISIONER_GPU_PROVISIONER,
    NODE_PROVISIONER_KARPENTER,
    NODE_PROVISIONER_BYO,
)
DEFAULT_NODE_PROVISIONER: Final = NODE_PROVISIONER_AZURE_GPU_PROVISIONER

CLOUD_AZURE: Final = "azure"
CLOUD_AWS: Final = "aws"
CLOUD_ARC: Final = "arc"
CLOUD_PROVIDERS: Final = (CLOUD_AZURE, CLOUD_AWS, CLOUD_ARC)
DEFAULT_CLOUD_PROVIDER: Final = CLOUD_AZURE
CSI_DRIVER_AZURE_BLOB: Final = "blob.csi.azure.com"

# Environment variables of the upstream controller and pods.
ENV_HF_TOKEN: Final = "HF_TOKEN"
ENV_POD_INDEX: Final = "POD_INDEX"
ENV_INFERENCE_ROLE: Final = "KAITO_INFERENCE_ROLE"
ENV_PYTORCH_CUDA_ALLOC_CONF: Final = "PYTORCH_CUDA_ALLOC_CONF"
ENV_DEFAULT_TARGET_MODULES: Final = "DEFAULT_TARGET_MODULES"
ENV_YAML_FILE_PATH: Final = "YAML_FILE_PATH"
# vLLM switches upstream sets in every vLLM pod (FlashInfer's sampler JIT-compiles with nvcc, which
# the image lacks) and per model (DeepGEMM FP8 kernels only for architectures that need them).
ENV_VLLM_USE_FLASHINFER_SAMPLER: Final = "VLLM_USE_FLASHINFER_SAMPLER"
ENV_VLLM_USE_DEEP_GEMM: Final = "VLLM_USE_DEEP_GEMM"
ENV_CUDA_HOME: Final = "CUDA_HOME"
ENV_DATASET_FOLDER_PATH: Final = "DATASET_FOLDER_PATH"
# Where `kubectl apply -k config/default` installs the operator and its default tuning ConfigMaps
# (upstream's Helm chart uses kaito-workspace; RELEASE_NAMESPACE overrides either).
DEFAULT_RELEASE_NAMESPACE: Final = "kaito-system"

# Secret keys.
SECRET_KEY_HF_TOKEN: Final = "HF_TOKEN"

# -------------------------------------------------------------------------------------------------
# §2.9 ConfigMaps
# -------------------------------------------------------------------------------------------------
CONFIGMAP_LORA_TEMPLATE: Final = "lora-params-template"
CONFIGMAP_QLORA_TEMPLATE: Final = "qlora-params-template"
CONFIGMAP_KEY_INFERENCE: Final = "inference_config.yaml"
CONFIGMAP_KEY_TRAINING: Final = "training_config.yaml"
DEFAULT_TUNING_TEMPLATES: Final[dict[str, str]] = {
    TUNING_METHOD_LORA: CONFIGMAP_LORA_TEMPLATE,
    TUNING_METHOD_QLORA: CONFIGMAP_QLORA_TEMPLATE,
}

# Inference config (inference_config.yaml, §1.5 item 7, §4.2).
INFERENCE_CONFIG_VLLM_SECTION: Final = "vllm"
INFERENCE_CONFIG_MAX_MODEL_LEN: Final = "max-model-len"
DEFAULT_MAX_MODEL_LEN: Final = 2048

# Tuning config (training_config.yaml, §1.5 item 9, §5).
TRAINING_CONFIG_ROOT: Final = "training_config"
TRAINING_SECTION_MODEL: Final = "ModelConfig"
TRAINING_SECTION_QUANTIZATION: Final = "QuantizationConfig"
TRAINING_SECTION_LORA: Final = "LoraConfig"
TRAINING_SECTION_TRAINING_ARGUMENTS: Final = "TrainingArguments"
TRAINING_SECTION_DATASET: Final = "DatasetConfig"
TRAINING_SECTION_DATA_COLLATOR: Final = "DataCollator"
TRAINING_CONFIG_SECTIONS: Final = (
    TRAINING_SECTION_MODEL,
    TRAINING_SECTION_QUANTIZATION,
    TRAINING_SECTION_LORA,
    TRAINING_SECTION_TRAINING_ARGUMENTS,
    TRAINING_SECTION_DATASET,
    TRAINING_SECTION_DATA_COLLATOR,
)
TRAINING_KEY_LOAD_IN_4BIT: Final = "load_in_4bit"
TRAINING_KEY_LOAD_IN_8BIT: Final = "load_in_8bit"
TRAINING_KEY_OUTPUT_DIR: Final = "output_dir"

# -------------------------------------------------------------------------------------------------
# §2.4-§2.6, §2.10, §4.1 Ports, names, paths
# -------------------------------------------------------------------------------------------------
PORT_INFERENCE: Final = 5000
PORT_SERVICE_HTTP: Final = 80
PORT_RAY: Final = 6379
PORT_RAY_DASHBOARD: Final = 8265
PORT_KV_EVENTS: Final = 5557
PORT_NAME_HTTP: Final = "http"
PORT_NAME_RAY: Final = "ray"
PORT_NAME_DASHBOARD: Final = "dashboard"
PORT_NAME_KV_EVENTS: Final = "kv-events"
HEADLESS_SERVICE_SUFFIX: Final = "-headless"
HEALTH_PATH: Final = "/health"

NODECLAIM_NAME_PREFIX: Final = "ws"
NODECLAIM_NAME_PATTERN: Final = r"^[a-z][a-z0-9]{0,11}$"
NODECLAIM_NODEPOOL_VALUE: Final = "kaito"
NODECLAIM_DEFAULT_STORAGE: Final = "1024Gi"
TAINT_SKU_KEY: Final = "sku"
TAINT_SKU_VALUE: Final = "gpu"
TAINT_EFFECT_NO_SCHEDULE: Final = "NoSchedule"
NODE_CLASS_DEFAULT_NAME: Final = "default"
NODE_CLASS_KIND_AZURE: Final = "KaitoNodeClass"
NODE_CLASS_GROUP_AZURE: Final = "kaito.sh"
NODE_CLASS_KIND_AWS: Final = "EC2NodeClass"
NODE_CLASS_GROUP_AWS: Final = "karpenter.k8s.aws"

PATH_CONFIG_DIR: Final = "/mnt/config"
PATH_ADAPTERS_DIR: Final = "/mnt/adapter"
PATH_DATA_DIR: Final = "/mnt/data"
PATH_MNT: Final = "/mnt"
PATH_RESULTS_DIR: Final = "/mnt/results"
PATH_DEV_SHM: Final = "/dev/shm"
PATH_WEIGHTS_DIR: Final = "/workspace/weights"
# Chat templates in the runtime image, where upstream's presets and users' ConfigMaps point.
PATH_CHAT_TEMPLATES: Final = "/workspace/chat_templates"
PATH_LOCAL_MODELS_DIR: Final = "/opt/kaito/models"
TUNING_SENTINEL_FILE: Final = "fine_tuning_completed.txt"
# A PEFT adapter as the tuning Job writes it, the OCI image carries it and the servers load it.
ADAPTER_CONFIG_FILE: Final = "adapter_config.json"
ADAPTER_WEIGHTS_FILE: Final = "adapter_model.safetensors"
ADAPTER_FILES: Final = (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE)

VOLUME_DSHM: Final = "dshm"
VOLUME_MODEL_WEIGHTS: Final = "model-weights-volume"
INIT_CONTAINER_DATA_DOWNLOADER: Final = "data-downloader"
INIT_CONTAINER_ADAPTER_PULLER_PREFIX: Final = "puller-"
INIT_CONTAINER_CUDA_TOOLKIT: Final = "cuda-toolkit-provisioner"
VOLUME_CUDA_TOOLKIT: Final = "cuda-toolkit-hostpath"
# The node folder holding the CUDA 12.9 toolkit for models that JIT-compile kernels (CUDA_HOME).
PATH_CUDA_TOOLKIT: Final = "/opt/kaito/cuda/129"
PATH_CUDA_PROVISION_SCRIPT: Final = "/workspace/cuda-provision.sh"
CONTAINER_PUSHER: Final = "pusher"

# -------------------------------------------------------------------------------------------------
# §1.6 InferenceSet (api/v1beta1/inferenceset_types.go, pkg/inferenceset, keda-kaito-scaler)
# -------------------------------------------------------------------------------------------------
KIND_INFERENCESET: Final = "InferenceSet"
KIND_INFERENCESET_LIST: Final = "InferenceSetList"
INFERENCESET_PLURAL: Final = "inferencesets"
INFERENCESET_SINGULAR: Final = "inferenceset"
INFERENCESET_SHORT_NAMES: Final = ("is", "isets")
INFERENCESET_CATEGORIES: Final = ("inferenceset",)
INFERENCESET_CRD_NAME: Final = f"{INFERENCESET_PLURAL}.{GROUP}"
INFERENCESET_CRD_FILE: Final = f"{GROUP}_{INFERENCESET_PLURAL}.yaml"
INFERENCESET_WEBHOOK_PATH: Final = "/validate/inferenceset.kaito.sh"
CONDITION_INFERENCESET_READY: Final = "InferenceSetReady"
REASON_INFERENCESET_READY: Final = "inferencesetReady"
REASON_INFERENCESET_NOT_READY: Final = "inferencesetNotReady"
REASON_BENCHMARK_PENDING: Final = "BenchmarkPending"
METRIC_AGGREGATED_PEAK_TOKENS_PER_MINUTE: Final = "aggregatedPeakTokensPerMinute"
# Children remember the template they were made from; a different hash marks them outdated.
ANNOTATION_INFERENCESET_TEMPLATE_HASH: Final = "inferenceset.kaito.sh/template-hash"
UPDATE_STRATEGY_ROLLING: Final = "RollingUpdate"
UPDATE_STRATEGY_ON_DELETE: Final = "OnDelete"
AUTO_UPGRADE_STRATEGIES: Final = ("InPlace", "Surge")
DEFAULT_MAINTENANCE_WINDOW_DURATION: Final = "4h"
# KEDA (keda.sh/v1alpha1 ScaledObject) as the keda-kaito-scaler builds it for an InferenceSet.
ANNOTATION_SCALEDOBJECT_AUTO_PROVISION: Final = "scaledobject.kaito.sh/auto-provision"
ANNOTATION_SCALEDOBJECT_MIN_REPLICAS: Final = "scaledobject.kaito.sh/min-replicas"
ANNOTATION_SCALEDOBJECT_MAX_REPLICAS: Final = "scaledobject.kaito.sh/max-replicas"
ANNOTATION_SCALEDOBJECT_METRIC_NAME: Final = "scaledobject.kaito.sh/metricName"
ANNOTATION_SCALEDOBJECT_THRESHOLD: Final = "scaledobject.kaito.sh/threshold"
ANNOTATION_SCALEDOBJECT_MANAGED_BY: Final = "scaledobject.kaito.sh/managed-by"
KEDA_SCALER_NAME: Final = "keda-kaito-scaler"
KEDA_DEFAULT_METRIC: Final = "vllm:num_requests_waiting"
KEDA_POLLING_INTERVAL_S: Final = 15
KEDA_TRIGGER_AUTH_NAME: Final = "keda-kaito-scaler-creds"
KEDA_TRIGGER_AUTH_KIND: Final = "ClusterTriggerAuthentication"
KEDA_SCALEDOBJECT_CRD: Final = "scaledobjects.keda.sh"

"""What every reconcile pass needs: the API, the operator's settings and a few knobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kaito.k8s.client import Cluster
from kaito.manifests.plan import ManifestSettings

DEFAULT_REQUEUE_S = 2.0


@dataclasses.dataclass
class ControllerContext:
    """Shared state of the controller.

    Attributes:
        cluster: The Kubernetes API.
        settings: Operator settings shaping every manifest (image, cloud, provisioner, namespace).
        requeue_s: Delay before looking again while waiting on nodes, pods or jobs (§9: 2 s).
        on_nodeclaim_created: Hook counting created NodeClaims (the operator's metric).
    """

    cluster: Cluster
    settings: ManifestSettings
    requeue_s: float = DEFAULT_REQUEUE_S
    on_nodeclaim_created: Callable[[], None] = lambda: None

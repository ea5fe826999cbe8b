"""What every reconcile pass needs: the API, the operator's settings and a few knobs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from kaito.k8s import events
from kaito.k8s.client import Cluster, Obj
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
        background_events: Post Kubernetes Events without waiting for them (as client-go's
            event recorder does), so a pass does not wait on best-effort writes.
    """

    cluster: Cluster
    settings: ManifestSettings
    requeue_s: float = DEFAULT_REQUEUE_S
    on_nodeclaim_created: Callable[[], None] = lambda: None
    background_events: bool = False
    _posting: set[asyncio.Task[Any]] = dataclasses.field(default_factory=set, repr=False)

    async def event(
        self, involved: Obj, reason: str, message: str, event_type: str = events.EVENT_NORMAL
    ) -> None:
        """Post a Kubernetes Event about ``involved`` (best effort: failures are only logged)."""
        posting = events.post_event(self.cluster, involved, reason, message, event_type)
        if not self.background_events:
            await posting
            return
        task = asyncio.create_task(posting)
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

"""Leader election on a coordination.k8s.io Lease, so two replicas never both act.

Every replica watches and serves the webhook; only the holder of the Lease (upstream's ID
``ef60f9b0.io``, in the release namespace) reconciles. The holder renews every third of the lease
duration; a replica takes over only after the holder's lease expired, with a compare-and-swap
(resourceVersion) write so that two candidates cannot both win. A holder that cannot renew in
time stops acting before anyone else may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable

from kaito.api import constants
from kaito.k8s import errors, resources
from kaito.k8s.client import Cluster, Obj

log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _fmt(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        with contextlib.suppress(ValueError):
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)
    return None


class LeaderElector:
    """Acquire and hold a Lease; ``is_leader`` tells the workers whether to act.

    Args:
        cluster: The API.
        namespace: Namespace of the Lease.
        identity: This replica's name (pod name plus a random suffix).
        lease_seconds: Lease duration; renewals happen every third of it.
        on_elected: Called when this replica becomes the leader (to resync all Workspaces).
    """

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        identity: str,
        lease_seconds: float = 15.0,
        on_elected: Callable[[], None] = lambda: None,
        name: str = constants.LEADER_ELECTION_ID,
    ) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._duration = lease_seconds
        self._on_elected = on_elected
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this replica holds an unexpired lease right now."""
        return time.monotonic() < self._valid_until

    def start(self) -> None:
        """Begin campaigning in the background."""
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Stop campaigning and release the lease if held."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.is_leader:
            self._valid_until = 0.0
            with contextlib.suppress(errors.KubernetesError):
                lease = await self._cluster.get(resources.LEASE, self._name, self._namespace)
                if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                    lease["spec"]["holderIdentity"] = None
                    lease["spec"]["renewTime"] = None
                    await self._cluster.replace(lease)

    async def _run(self) -> None:
        while True:
            was_leader = self.is_leader
            started = time.monotonic()
            try:
                if await self.try_acquire():
                    # Trust the lease a little less than its duration (clock and request skew).
                    self._valid_until = started + self._duration * 0.8
                    if not was_leader:
                        log.info("became the leader (%s)", self.identity)
                        self._on_elected()
            except errors.KubernetesError as exc:
                log.info("leader election: %s", exc)
            await asyncio.sleep(self._duration / 3 if self.is_leader else self._duration / 5)

    def _spec(self, transitions: int) -> Obj:
        now = _fmt(_now())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self._duration),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire(self) -> bool:
        """One campaign step: create, renew or take over the lease; ``True`` when held."""
        lease = await self._cluster.get_or_none(resources.LEASE, self._name, self._namespace)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self._name, "namespace": self._namespace},
                "spec": self._spec(0),
            }
            try:
                await self._cluster.create(body)
            except errors.AlreadyExistsError:
                return False
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or self._duration)
        expired = renewed is None or (_now() - renewed).total_seconds() > duration
        if holder == self.identity:
            lease["spec"] = {**spec, "renewTime": _fmt(_now())}
        elif holder and not expired:
            return False
        else:
            lease["spec"] = self._spec(int(spec.get("leaseTransitions") or 0) + 1)
        try:
            await self._cluster.replace(lease)
        except errors.ConflictError:
            return False
        return True

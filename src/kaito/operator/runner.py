"""Assembles and runs the operator: Kopf, the work queue, leader election, metrics and probes.

``Operator`` is used by ``kaito operator`` / ``python -m kaito.operator`` and, in-process, by the
integration tests and the benchmark: each instance has its own Kopf registry, metrics registry and
API client, so tests can run, kill and restart operators inside one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from kaito.api import constants
from kaito.controller import reconcile as reconcile_mod
from kaito.controller.context import ControllerContext
from kaito.controller.errors import PermanentReconcileError, ReconcileError
from kaito.k8s import resources
from kaito.k8s.client import Cluster, Obj, calls_label, load_config, record_calls
from kaito.k8s.informer import CachedCluster, Informer, newer
from kaito.k8s.resources import Kind
from kaito.operator import children, handlers, webhook
from kaito.operator import inferenceset as inferenceset_host
from kaito.operator.leader import LeaderElector
from kaito.operator.metrics import OperatorMetrics, start_http
from kaito.operator.queue import Key, WorkQueue
from kaito.operator.settings import OperatorSettings, parse_bind_address

log = logging.getLogger(__name__)


class Operator:
    """One operator replica.

    Args:
        settings: What it was told (flags and environment).
        identity: Name for leader election (default: host name plus a random suffix).
    """

    def __init__(self, settings: OperatorSettings, identity: str | None = None) -> None:
        self.settings = settings
        host = settings.pod_name or socket.gethostname()
        self.identity = identity or f"{host}-{secrets.token_hex(3)}"
        kubeconfig = Path(settings.kubeconfig) if settings.kubeconfig else None
        self.cluster = Cluster(load_config(server=settings.server, kubeconfig=kubeconfig))
        self.metrics = OperatorMetrics()
        self.informers = self._informers()
        self.context = ControllerContext(
            cluster=CachedCluster(self.cluster, self.informers),
            settings=settings.manifest_settings(),
            requeue_s=settings.requeue_seconds,
            on_nodeclaim_created=self.metrics.nodeclaims_created.inc,
            background_events=True,
        )
        self.queue = WorkQueue(self._reconcile_key, settings.max_concurrent_reconciles)
        self.leader: LeaderElector | None = None
        if settings.leader_elect:
            self.leader = LeaderElector(
                self.cluster,
                settings.release_namespace,
                self.identity,
                settings.leader_lease_seconds,
                on_elected=self._resync_soon,
            )
        self.inferencesets = inferenceset_host.InferenceSetController(self)
        self.registry = kopf.OperatorRegistry()
        handlers.register(self.registry, self)
        inferenceset_host.register(self.registry, self)
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._runners: list[web.AppRunner] = []
        self.metrics_port = 0
        self.health_port = 0
        self.webhook_port = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fingerprints: dict[Key, str] = {}
        # The newest Workspace objects seen (watch events) or written (our passes): a pass starts
        # from here instead of a GET; compare-and-swap writes catch a stale copy.
        self._workspaces: dict[Key, Obj] = {}

    # ---- children ------------------------------------------------------------------------------

    def _informers(self) -> list[Informer]:
        """One watch cache per child kind (and per watched namespace, for namespaced kinds)."""
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        informers = []
        for kind, label in children.watched_children(self.settings.node_provisioner):
            for ns in namespaces if kind.namespaced else [None]:
                informers.append(
                    Informer(self.cluster, kind, label, namespace=ns, on_event=self.child_changed)
                )
        return informers

    def child_changed(self, kind: Kind, event_type: str, old: Obj | None, new: Obj | None) -> None:
        """A child's change: its Workspace gets a pass soon, when the change can matter."""
        obj = new if new is not None else old
        if obj is None or not children.relevant(kind, old, new):
            return
        meta = obj.get("metadata") or {}
        key = children.workspace_key(meta.get("labels") or {}, meta.get("namespace"))
        if key is not None:
            self.queue.add_after(key, children.CHILD_EVENT_DELAY_S)

    # ---- reconcile -----------------------------------------------------------------------------

    def workspace_changed(self, key: Key, body: Any, event_type: str | None) -> bool:
        """Whether a Workspace event needs a pass: anything but our own status writes does.

        Every status write comes back as a watch event; reconciling again for it would only
        confirm that nothing changed. Deletions and first sightings always count.
        """
        if event_type == "DELETED":
            self._fingerprints.pop(key, None)
            self._workspaces.pop(key, None)
            return True
        if event_type is not None:
            self._remember_workspace(key, copy.deepcopy(dict(body)))
        meta = dict(body.get("metadata") or {})
        for volatile in ("resourceVersion", "managedFields"):
            meta.pop(volatile, None)
        content = {k: v for k, v in dict(body).items() if k not in ("status", "metadata")}
        fingerprint = json.dumps([meta, content], sort_keys=True, default=str)
        if self._fingerprints.get(key) == fingerprint:
            return False
        self._fingerprints[key] = fingerprint
        return True

    def _remember_workspace(self, key: Key, body: Obj | None) -> None:
        if body and newer(body, self._workspaces.get(key)):
            self._workspaces[key] = body

    def is_leader(self) -> bool:
        """Whether this replica may act."""
        return self.leader is None or self.leader.is_leader

    def _resync_soon(self) -> None:
        self._spawn(self.resync())
        self._spawn(self.inferencesets.resync())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resync(self) -> None:
        """Enqueue every Workspace (after winning an election: the watch events went unused)."""
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        for ns in namespaces:
            for ws in await self.cluster.list(resources.WORKSPACE, ns):
                self.queue.add((ws["metadata"]["namespace"], ws["metadata"]["name"]))

    async def _reconcile_key(self, key: Key) -> float | None:
        if not self.is_leader():
            return None
        namespace, name = key
        body = self._workspaces.get(key)
        if body is None:
            body = await self.cluster.get_or_none(resources.WORKSPACE, name, namespace)
        if body is None:
            self.metrics.observe_workspace(key, None, None)
            return None
        started = time.perf_counter()
        calls: list[str] = []
        try:
            with record_calls() as calls:
                outcome = await reconcile_mod.reconcile(self.context, body)
        except PermanentReconcileError as exc:
            self.metrics.reconcile_errors.inc()
            log.warning("Workspace %s/%s cannot be reconciled: %s", namespace, name, exc)
            return None
        except Exception as exc:
            # Perhaps a stale copy (a conflict): the next pass reads the Workspace afresh.
            self._workspaces.pop(key, None)
            if isinstance(exc, ReconcileError):
                self.metrics.reconcile_errors.inc()
            raise
        finally:
            self.metrics.observe_duration(time.perf_counter() - started, calls_label(calls))
        if outcome.done:
            self._workspaces.pop(key, None)
        else:
            if outcome.reconciled is not None:
                # Our own metadata patch: its watch event brings nothing this pass did not see.
                self.workspace_changed(key, outcome.reconciled, None)
            self._remember_workspace(key, outcome.latest)
        preset = _preset_of(body)
        self.metrics.observe_workspace(key, None if outcome.done else outcome.state, preset)
        return outcome.requeue_after

    # ---- lifecycle -----------------------------------------------------------------------------

    def _kopf_settings(self) -> kopf.OperatorSettings:
        ks = kopf.OperatorSettings()
        ks.peering.standalone = True  # our Lease decides who acts; all replicas watch
        ks.posting.enabled = False
        ks.scanning.disabled = True
        ks.watching.server_timeout = 300
        ks.watching.client_timeout = 330
        ks.networking.request_timeout = 30
        ks.networking.error_backoffs = [0.1, 0.5, 1, 2, 5]
        cert_dir = self.settings.webhook_cert_dir
        if self.settings.webhook and cert_dir and not _cert_files_present(cert_dir):
            # The Deployment mounts the certificate Secret as optional (config/webhook/README.md):
            # before `make-cert.sh` or cert-manager has issued it, reconcile without admission
            # rather than crash-looping; the webhook's failurePolicy keeps rejecting until then.
            log.warning(
                "webhook disabled: %s has no tls.crt/tls.key yet; restart once the certificate "
                "Secret workspace-webhook-cert exists",
                cert_dir,
            )
        elif self.settings.webhook:
            ks.admission.server = webhook.WebhookServer(
                addr=self.settings.webhook_host,
                port=self.settings.webhook_port,
                path=constants.WEBHOOK_PATH.rsplit("/", 1)[0],
                insecure=cert_dir is None,
                certfile=os.path.join(cert_dir, "tls.crt") if cert_dir else None,
                pkeyfile=os.path.join(cert_dir, "tls.key") if cert_dir else None,
            )
            ks.admission.managed = None
        return ks

    async def _start_http(self) -> None:
        def metrics() -> tuple[int, bytes, str]:
            return 200, self.metrics.render(), "text/plain; version=0.0.4"

        def healthz() -> tuple[int, bytes, str]:
            return 200, b"ok", "text/plain"

        def readyz() -> tuple[int, bytes, str]:
            ok = self.ready.is_set()
            return (200 if ok else 503), (b"ok" if ok else b"starting"), "text/plain"

        host, port = parse_bind_address(self.settings.metrics_bind_address)
        if host or port:
            runner, self.metrics_port = await start_http(host, port, {"/metrics": metrics})
            self._runners.append(runner)
        host, port = parse_bind_address(self.settings.health_probe_bind_address)
        if host or port:
            runner, self.health_port = await start_http(
                host, port, {"/healthz": healthz, "/readyz": readyz}
            )
            self._runners.append(runner)

    async def run(self) -> None:
        """Run until ``stop()`` (or cancellation)."""
        await self._start_http()
        self.queue.start()
        for informer in [*self.informers, *self.inferencesets.start()]:
            self._spawn(informer.run())
        if self.leader is not None:
            self.leader.start()
        ready_flag = asyncio.Event()
        watcher = asyncio.create_task(self._mark_ready(ready_flag))
        try:
            await kopf.operator(
                registry=self.registry,
                settings=self._kopf_settings(),
                clusterwide=not self.settings.namespaces,
                namespaces=self.settings.namespaces,
                standalone=True,
                stop_flag=self._stop,
                ready_flag=ready_flag,
            )
        finally:
            watcher.cancel()
            await self._shutdown()

    async def _mark_ready(self, ready_flag: asyncio.Event) -> None:
        await ready_flag.wait()
        self.ready.set()

    def stop(self) -> None:
        """Ask the operator to stop (Kopf finishes its watches, then ``run`` returns)."""
        self._stop.set()

    async def _shutdown(self) -> None:
        await self.queue.stop()
        await self.inferencesets.stop()
        if self.leader is not None:
            await self.leader.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runner in self._runners:
            await runner.cleanup()
        with contextlib.suppress(Exception):
            await self.cluster.close()


def _preset_of(body: dict[str, Any]) -> str:
    for section in ("inference", "tuning"):
        preset = (body.get(section) or {}).get("preset") or {}
        if preset.get("name"):
            return str(preset["name"])
    return ""


def run_forever(settings: OperatorSettings) -> None:
    """Blocking entry point for the CLI and ``python -m kaito.operator``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # probes every few seconds
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per API request
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # one line per handled event

    async def main() -> None:
        await Operator(settings).run()

    asyncio.run(main())


def _cert_files_present(cert_dir: str) -> bool:
    """Whether the webhook's serving certificate and key are both mounted."""
    return all(os.path.isfile(os.path.join(cert_dir, f)) for f in ("tls.crt", "tls.key"))

"""Where a hot-loaded adapter may come from (``POST /v1/load_lora_adapter``; issue 16, item 3).

A caller names ``lora_path``; the server must not become a way to read its file system or to
reach the network on the caller's behalf. So:

- a *path* (anything that is not an OCI reference) is looked up inside ``--kaito-adapters-dir``
  only: relative paths from there, absolute ones must lie inside it once symlinks are resolved;
  ``..`` is refused outright, and the folder must hold ``adapter_config.json``;
- an *OCI reference* (its first segment names a registry: it holds a dot or a port, or is
  ``localhost``) is pulled only from a registry listed with ``--kaito-adapter-registry``
  (default: none, so OCI hot-load is off), and only when every address the registry's name
  resolves to passes the same checks as ``kaito fetch-data``: metadata and link-local addresses
  never, loopback and private ones only with ``--kaito-adapter-registry-allow-private``;
- every refusal gets one message, so answers do not tell which paths exist;
- pulls run on their own small thread pool, at most ``--kaito-adapter-pulls`` at a time (more get
  HTTP 429) and each answered within ``--kaito-adapter-pull-timeout`` seconds, so a registry
  that never answers cannot hold the threads that tokenise chat requests.

What stays open: the registry's name is resolved and checked here, then resolved again by the
registry client when it connects; an allowed registry whose DNS answers differently the second
time could still steer the pull (the allow-list is the trust boundary).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import ipaddress
import logging
import shutil
import socket
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kaito.api.constants import ADAPTER_CONFIG_FILE
from kaito.runtime.inference import errors

if TYPE_CHECKING:
    from kaito.runtime.inference.options import ServeOptions

logger = logging.getLogger(__name__)

#: Per-request timeout and tries of a hot-load pull (the whole pull has its own deadline).
PULL_REQUEST_TIMEOUT_S = 30.0
PULL_ATTEMPTS = 2

Resolver = Callable[[str, int], list[str]]


@dataclasses.dataclass(frozen=True)
class HotLoadPolicy:
    """What ``/v1/load_lora_adapter`` may load from."""

    adapters_dir: Path
    """Local adapters must lie inside this folder."""
    registries: frozenset[str] = frozenset()
    """``host`` (any port) or ``host:port`` entries OCI references may name; empty: no pulls."""
    allow_private_registries: bool = False
    """Let allowed registries resolve to loopback or private addresses (metadata: never)."""
    plain_http: bool = False
    """Talk HTTP to the registry."""
    max_pulls: int = 2
    """Pulls running at once; more are refused with 429."""
    pull_timeout_seconds: float = 300.0
    """A pull that takes longer is answered with 400 (its thread finishes on its own)."""

    @classmethod
    def from_options(cls, options: ServeOptions) -> HotLoadPolicy:
        """The policy the command line asked for."""
        return cls(
            adapters_dir=options.adapters_dir,
            registries=frozenset(entry.lower() for entry in options.adapter_registries),
            allow_private_registries=options.adapter_registry_allow_private,
            plain_http=options.registry_plain_http,
            max_pulls=options.max_adapter_pulls,
            pull_timeout_seconds=options.adapter_pull_timeout,
        )


def looks_like_oci_reference(ref: str) -> bool:
    """Whether ``ref`` names a registry in its first segment (docker's rule), not a path."""
    if not ref or ref[0] in "/.~" or "/" not in ref:
        return False
    first = ref.split("/", 1)[0]
    return "." in first or ":" in first or first == "localhost"


def unavailable(lora_path: str) -> errors.AdapterError:
    """The one answer for every refused ``lora_path``: missing, outside, or not allowed."""
    return errors.AdapterError(
        f"adapter {lora_path!r} is not available: give a folder inside the server's adapters "
        f"folder that holds {ADAPTER_CONFIG_FILE}, or an OCI reference to a registry the server "
        "allows",
        param="lora_path",
    )


class _RefusedError(Exception):
    """The registry's address is not allowed (answered as :func:`unavailable`)."""


class AdapterSources:
    """Turns a caller's ``lora_path`` into a local adapter folder, or refuses it."""

    def __init__(self, policy: HotLoadPolicy, *, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._resolve = resolver or _system_resolve
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, policy.max_pulls), thread_name_prefix="kaito-adapter-pull"
        )
        self._in_flight = 0

    @property
    def policy(self) -> HotLoadPolicy:
        """The policy this instance enforces."""
        return self._policy

    async def locate(self, lora_path: str) -> Path:
        """The local folder for ``lora_path`` (pulled first when it is an OCI reference).

        Raises:
            AdapterError: not available (one message for every refusal), or the pull failed.
            QueueFullError: too many pulls are running.
        """
        if looks_like_oci_reference(lora_path):
            return await self._pull(lora_path)
        found = await asyncio.to_thread(self.local_directory, lora_path)
        if found is None:
            raise unavailable(lora_path)
        return found

    def local_directory(self, lora_path: str) -> Path | None:
        """``lora_path`` resolved inside the adapters folder, or ``None`` when refused."""
        if not lora_path or "\0" in lora_path or ".." in PurePosixPath(lora_path).parts:
            return None
        try:
            root = self._policy.adapters_dir.resolve(strict=True)
            candidate = Path(lora_path)
            if not candidate.is_absolute():
                candidate = root / candidate
            real = candidate.resolve(strict=True)
            if real == root or not real.is_relative_to(root):
                return None
            if not (real / ADAPTER_CONFIG_FILE).is_file():
                return None
        except (OSError, RuntimeError, ValueError):
            return None
        return real

    def registry_allowed(self, registry: str) -> bool:
        """Whether ``host[:port]`` matches an allow-list entry (a bare host: any port)."""
        registry = registry.lower()
        if registry in self._policy.registries:
            return True
        host, _ = _split_host_port(registry)
        return host is not None and host in self._policy.registries

    async def _pull(self, ref: str) -> Path:
        policy = self._policy
        if not self.registry_allowed(ref.split("/", 1)[0]):
            raise unavailable(ref)
        if self._in_flight >= policy.max_pulls:
            raise errors.QueueFullError(f"{self._in_flight} adapter pulls are running; retry later")
        loop = asyncio.get_running_loop()
        abandoned = False
        self._in_flight += 1

        def finished(future: asyncio.Future[Path]) -> None:
            self._in_flight -= 1
            if future.cancelled() or future.exception() is not None:
                return
            if abandoned:  # nobody will load it: do not leave the files behind
                shutil.rmtree(future.result(), ignore_errors=True)

        future = loop.run_in_executor(self._executor, self._check_and_pull, ref)
        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), policy.pull_timeout_seconds)
        except TimeoutError:
            abandoned = True
            raise errors.AdapterError(
                f"pulling adapter {ref!r} took longer than {policy.pull_timeout_seconds:g} s",
                param="lora_path",
            ) from None
        except asyncio.CancelledError:
            abandoned = True
            raise
        except _RefusedError as exc:
            logger.warning("hot-load of %s refused: %s", ref, exc)
            raise unavailable(ref) from None
        except errors.InferenceError:
            raise
        except Exception as exc:  # ArtifactError and its kin; their text names the registry
            raise errors.AdapterError(
                f"cannot pull adapter {ref!r}: {exc}", param="lora_path"
            ) from exc

    def _check_and_pull(self, ref: str) -> Path:
        from kaito.runtime import artifacts

        self._check_registry_addresses(ref.split("/", 1)[0])
        auth = artifacts.RegistryAuth(
            plain_http=self._policy.plain_http,
            attempts=PULL_ATTEMPTS,
            timeout_seconds=min(PULL_REQUEST_TIMEOUT_S, self._policy.pull_timeout_seconds),
        )
        return artifacts.pull_adapter_private(ref, auth=auth)

    def _check_registry_addresses(self, registry: str) -> None:
        from kaito.runtime.artifacts.download import forbidden_reason, hostname_reason

        allow_private = self._policy.allow_private_registries
        host, port = _split_host_port(registry)
        if host is None:
            raise _RefusedError(f"{registry!r} is not a host[:port]")
        port = port or (80 if self._policy.plain_http else 443)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            why = hostname_reason(host, allow_private=allow_private)
            if why:
                raise _RefusedError(f"{host}: {why}") from None
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host, port)
                ]
            except (OSError, ValueError) as exc:
                raise _RefusedError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise _RefusedError(f"{host} resolves to no address")
        for address in addresses:
            reason = forbidden_reason(address, allow_private=allow_private)
            if reason:
                raise _RefusedError(f"{host} ({address}) is {reason}")


def _split_host_port(registry: str) -> tuple[str | None, int | None]:
    """``host`` and port of ``host[:port]`` / ``[v6]:port``; ``(None, None)`` when malformed."""
    if registry.startswith("["):
        close = registry.find("]")
        if close < 0:
            return None, None
        host, rest = registry[1:close], registry[close + 1 :]
        if rest and not rest.startswith(":"):
            return None, None
        port_text = rest[1:] if rest else ""
    elif registry.count(":") == 1:
        host, port_text = registry.split(":")
    elif ":" in registry:
        return None, None
    else:
        host, port_text = registry, ""
    if not host:
        return None, None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None, None
    return host, int(port_text)


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))

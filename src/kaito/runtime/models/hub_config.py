"""Read a Hugging Face repo's ``config.json`` to learn its model architectures.

Admission accepts any ``org/repo`` the catalog does not list, provided vLLM supports one of its
architectures (upstream Kaito's preset generator asks the hub the same question). This module is
the hub side of that check, for the webhook (async, prefetched before the synchronous rules run)
and ``kaito validate`` (sync, as a ``HubLookup``). Answers are cached per process for an hour:
admission of many Workspaces on one model costs one request.

Outcomes map onto the validation protocol: a config with ``architectures`` is an answer; a repo
the hub says does not exist (404) is ``LookupError``; anything that leaves the question open
(offline, timeout, gated or private repo without a token, malformed config) is
``LookupUnavailableError`` so that admission reports "not checked" rather than refusing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from kaito.runtime.models.settings import DEFAULT_HF_ENDPOINT
from kaito.validation import LookupUnavailableError

DEFAULT_TIMEOUT_SECONDS = 3.0
CACHE_SECONDS = 3600.0

Answer = tuple[str, ...] | LookupError | LookupUnavailableError


@dataclass
class HubConfigReader:
    """Reads ``<endpoint>/<repo>/resolve/main/config.json``; a ``HubLookup`` for validation."""

    endpoint: str = DEFAULT_HF_ENDPOINT
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    clock: Any = time.monotonic
    _cache: dict[str, tuple[float, Answer]] = field(default_factory=dict)

    def config_url(self, repo: str) -> str:
        """Where the repo's config lives on this hub."""
        return f"{self.endpoint.rstrip('/')}/{repo}/resolve/main/config.json"

    def model_architectures(self, repo: str) -> tuple[str, ...]:
        """The repo's architectures (blocking; for the CLI)."""
        cached = self._cached(repo)
        if cached is None:
            try:
                with httpx.Client(timeout=self.timeout, follow_redirects=True) as client:
                    response = client.get(self.config_url(repo), headers=self._headers())
                cached = self._remember(repo, _interpret(repo, response))
            except httpx.HTTPError as exc:
                cached = self._remember(repo, _unreachable(exc))
        return _unwrap(cached)

    async def prefetch(self, repo: str) -> Answer:
        """The answer for ``repo`` without raising (for the webhook, before the rules run)."""
        cached = self._cached(repo)
        if cached is not None:
            return cached
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
                response = await client.get(self.config_url(repo), headers=self._headers())
            return self._remember(repo, _interpret(repo, response))
        except httpx.HTTPError as exc:
            return self._remember(repo, _unreachable(exc))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _cached(self, repo: str) -> Answer | None:
        hit = self._cache.get(repo)
        if hit is None or self.clock() - hit[0] > CACHE_SECONDS:
            return None
        return hit[1]

    def _remember(self, repo: str, answer: Answer) -> Answer:
        # Transient failures are not cached: the next admission asks again.
        if not isinstance(answer, LookupUnavailableError):
            self._cache[repo] = (self.clock(), answer)
        return answer


def _unwrap(answer: Answer) -> tuple[str, ...]:
    if isinstance(answer, (LookupError, LookupUnavailableError)):
        raise answer
    return answer


def _unreachable(exc: httpx.HTTPError) -> LookupUnavailableError:
    return LookupUnavailableError(f"the Hugging Face hub did not answer: {type(exc).__name__}")


def _interpret(repo: str, response: httpx.Response) -> Answer:
    status = response.status_code
    if status == 404:
        return LookupError(f"model {repo} has no config.json on the Hugging Face hub (HTTP 404)")
    if status in (401, 403):
        return LookupUnavailableError(
            f"the Hugging Face hub refused access to {repo} (HTTP {status}: gated or private)"
        )
    if status != 200:
        return LookupUnavailableError(f"the Hugging Face hub answered HTTP {status} for {repo}")
    try:
        document = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return LookupUnavailableError(f"the config.json of {repo} is not JSON")
    archs = document.get("architectures") if isinstance(document, dict) else None
    if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
        return LookupUnavailableError(f"the config.json of {repo} names no architectures")
    return tuple(archs)

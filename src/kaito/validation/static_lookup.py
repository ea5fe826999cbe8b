"""A :class:`ClusterLookup` over data given up front, for the CLI and tests.

``kaito validate`` has no cluster: it knows the ConfigMaps found in the files it was given (and a
``--configmap-dir``), the default tuning templates shipped with kaito-py, and nothing about nodes.
Whatever it does not know it answers with :class:`LookupUnavailableError`, so validation reports the
rule as "not checked" instead of inventing a verdict. Tests pass ``authoritative=True`` (and nodes)
to make it behave like a small, complete cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kaito.api import constants, default_configs
from kaito.validation.context import LookupUnavailableError, NodeInfo


class StaticClusterLookup:
    """Answers from in-memory ConfigMaps, nodes and CSI drivers.

    Args:
        configmaps: ConfigMap data keyed by ``(namespace, name)``; a namespace of None matches any
            namespace (ConfigMaps read from files often name none).
        nodes: the cluster's nodes; None when unknown (listing raises LookupUnavailableError).
        csi_drivers: names of installed CSI drivers; None when unknown.
        release_namespace: where the default tuning templates are served.
        include_default_templates: serve kaito-py's default tuning templates there.
        authoritative: a ConfigMap not given does not exist (instead of "unknown").
    """

    def __init__(
        self,
        configmaps: Mapping[tuple[str | None, str], Mapping[str, str]] | None = None,
        *,
        nodes: Sequence[NodeInfo] | None = None,
        csi_drivers: Iterable[str] | None = None,
        release_namespace: str = constants.DEFAULT_RELEASE_NAMESPACE,
        include_default_templates: bool = True,
        authoritative: bool = False,
    ) -> None:
        self._configmaps: dict[tuple[str | None, str], dict[str, str]] = {
            key: dict(data) for key, data in (configmaps or {}).items()
        }
        if include_default_templates:
            for name, data in default_configs.default_tuning_configmaps().items():
                self._configmaps.setdefault((release_namespace, name), data)
        self._nodes = None if nodes is None else list(nodes)
        self._csi = None if csi_drivers is None else frozenset(csi_drivers)
        self._authoritative = authoritative

    def list_nodes(self, match_labels: Mapping[str, str]) -> Sequence[NodeInfo]:
        """Nodes carrying all ``match_labels``."""
        if self._nodes is None:
            raise LookupUnavailableError("nodes cannot be listed without a cluster")
        return [
            node
            for node in self._nodes
            if all(node.labels.get(k) == v for k, v in match_labels.items())
        ]

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """ConfigMap data by namespace and name (namespace-less entries match any namespace)."""
        for key in ((namespace, name), (None, name)):
            if key in self._configmaps:
                return self._configmaps[key]
        if self._authoritative:
            return None
        raise LookupUnavailableError(
            f"ConfigMap '{name}' in namespace '{namespace}' was not among the given files"
        )

    def csi_driver_exists(self, name: str) -> bool:
        """Whether the CSI driver was listed."""
        if self._csi is None:
            raise LookupUnavailableError("CSI drivers cannot be listed without a cluster")
        return name in self._csi


class StaticHubLookup:
    """Hub answers fetched beforehand (the webhook prefetches them asynchronously).

    Args:
        answers: repo → architectures, or the exception the lookup ended with
            (``LookupError``: the repo does not exist; ``LookupUnavailableError``: no answer).
            A repo not given is "not available".
    """

    def __init__(self, answers: Mapping[str, Sequence[str] | Exception]) -> None:
        self._answers = dict(answers)

    def model_architectures(self, repo: str) -> Sequence[str]:
        """The prefetched answer for ``repo``."""
        answer = self._answers.get(repo)
        if answer is None:
            raise LookupUnavailableError(f"the hub was not asked about {repo}")
        if isinstance(answer, Exception):
            raise answer
        return answer

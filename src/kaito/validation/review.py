"""The state shared by all rules while one Workspace is being validated.

A :class:`Review` bundles the Workspace (and the old object on update), the context, the report
being filled, and facts several rules need (version, runtime, namespace, node-provisioning mode,
resolved preset), computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kaito.api import constants, v1beta1
from kaito.api.workspace import AnyWorkspace, workspace_runtime
from kaito.presets import catalog
from kaito.validation.context import ValidationContext
from kaito.validation.findings import ValidationReport


@dataclass
class ModelResolution:
    """The outcome of resolving a preset name: the model, or why not."""

    model: catalog.ModelSpec | None
    deprecated: bool = False
    detail: str = ""
    suggestions: tuple[str, ...] = ()


@dataclass
class Review:
    """One validation run over one Workspace."""

    ws: AnyWorkspace
    ctx: ValidationContext
    report: ValidationReport = field(default_factory=ValidationReport)
    old: AnyWorkspace | None = None
    _models: dict[str, ModelResolution] = field(default_factory=dict)
    #: Architectures of unlisted repos read from the hub during this run (repo → names).
    hub_architectures: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def beta(self) -> bool:
        """The Workspace is ``kaito.sh/v1beta1`` (newer rules apply)."""
        return isinstance(self.ws, v1beta1.Workspace)

    @property
    def annotations(self) -> dict[str, str]:
        """The Workspace annotations."""
        return self.ws.metadata.annotations

    @property
    def namespace(self) -> str:
        """The Workspace namespace (the context default when unset)."""
        return self.ws.metadata.namespace or self.ctx.default_namespace

    @property
    def runtime(self) -> str:
        """``vllm`` or ``transformers``."""
        return workspace_runtime(self.ws, self.ctx.gate(constants.FEATURE_VLLM))

    @property
    def bypass_resource_checks(self) -> bool:
        """The bypass annotation is present (any value): GPU-memory errors become warnings."""
        return constants.ANNOTATION_BYPASS_RESOURCE_CHECKS in self.annotations

    @property
    def nap_disabled(self) -> bool:
        """Bring-your-own nodes; when the mode is unknown, inferred from ``instanceType``."""
        known = self.ctx.nap_disabled
        if known is not None:
            return known
        return not self.ws.resource.instance_type

    @property
    def nap_known(self) -> bool:
        """The node-provisioning mode comes from settings rather than inference."""
        return self.ctx.nap_disabled is not None

    def resolve_model(self, name: str) -> ModelResolution:
        """Resolve a preset name through the catalog, once per name."""
        if name in self._models:
            return self._models[name]
        try:
            result = ModelResolution(catalog.get_model(name))
        except ValueError as exc:
            lowered = name.strip().lower()
            deprecated = any(
                m.deprecated
                and lowered in {m.name.lower(), m.hf_repo.lower(), *(a.lower() for a in m.aliases)}
                for m in catalog.list_models(include_deprecated=True)
            )
            suggestions = tuple(getattr(exc, "suggestions", ()) or ())
            result = ModelResolution(None, deprecated, str(exc), suggestions)
        self._models[name] = result
        return result

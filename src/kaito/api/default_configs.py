"""The default tuning ConfigMaps upstream ships in the release namespace, as package data.

When a tuning Workspace names no ``config``, KAITO uses ``lora-params-template`` or
``qlora-params-template`` (§2.9). Validation reads them here when it cannot ask a cluster, the
operator's manifests install them, and local runs use them directly, so all three agree.
"""

from __future__ import annotations

from importlib import resources

from kaito.api import constants

_DATA_PACKAGE = "kaito.api"
_SUFFIX = ".training_config.yaml"


def default_tuning_configmap_name(method: str) -> str | None:
    """The template ConfigMap name for a tuning method (case-insensitive), or None if unknown."""
    return constants.DEFAULT_TUNING_TEMPLATES.get(method.lower())


def load_default_training_config(template_name: str) -> str | None:
    """The ``training_config.yaml`` text of a default template ConfigMap, or None if not one."""
    if template_name not in constants.DEFAULT_TUNING_TEMPLATES.values():
        return None
    path = resources.files(_DATA_PACKAGE).joinpath("data", template_name + _SUFFIX)
    return path.read_text(encoding="utf-8")


def default_tuning_configmaps() -> dict[str, dict[str, str]]:
    """Every default tuning template as ConfigMap ``data``, keyed by ConfigMap name."""
    out: dict[str, dict[str, str]] = {}
    for name in constants.DEFAULT_TUNING_TEMPLATES.values():
        text = load_default_training_config(name)
        assert text is not None
        out[name] = {constants.CONFIGMAP_KEY_TRAINING: text}
    return out

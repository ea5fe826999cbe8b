"""The Workspace API: types for both served versions, constants, validation and CRD generation.

``kaito.api`` is the bottom layer and pure (no I/O beyond package data, no network, no Kubernetes
client). Modules:

- ``constants``: every name with API meaning (group, conditions, labels, annotations, gates, paths).
- ``v1alpha1`` / ``v1beta1``: the Workspace types; ``meta`` (ObjectMeta, LabelSelector, Condition)
  and ``data_sources`` hold shapes both versions share; ``wire`` is their camelCase base class.
- ``workspace``: ``parse_workspace`` (dispatch on apiVersion, errors with paths), conversion to
  the storage version, the runtime a Workspace asks for.
- ``conditions``: set/get conditions with Kubernetes' transition-time rules.
- ``selectors``, ``names``, ``images``, ``addresses``: small pure checks the rules share (label
  selectors as maps, DNS names, image references, the download-source address policy).
- ``documents``: multi-document YAML (Workspaces plus the ConfigMaps they reference).
- ``default_configs``: the default tuning ConfigMaps (package data).
- ``validation``: the admission rules (§1.5), one pure function for the webhook and the CLI.
- ``crd``: the CustomResourceDefinition generated from the types.
"""

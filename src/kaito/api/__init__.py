"""The Workspace API: types for both served versions, constants, validation and CRD generation.

``kaito.api`` is the bottom layer and pure (no I/O beyond package data, no network, no Kubernetes
client). Modules:

- ``constants``: every name with API meaning (group, conditions, labels, annotations, gates, paths).
- ``v1alpha1`` / ``v1beta1``: the Workspace types; ``meta`` and ``data_sources`` hold shared shapes.
- ``workspace``: ``parse_workspace`` (dispatch on apiVersion, errors with paths) and conversion.
- ``conditions``: set/get conditions with Kubernetes' transition-time rules.
- ``selectors``, ``names``, ``images``, ``addresses``: small pure checks the rules share.
- ``validation``: the admission rules (§1.5), one pure function for the webhook and the CLI.
- ``crd``: the CustomResourceDefinition generated from the types.
"""

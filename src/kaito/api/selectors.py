"""Label selectors as KAITO uses them: a plain map of labels, minus the keys KAITO owns.

KAITO turns ``resource.labelSelector`` into node labels (on NodeClaims/NodePools) and node affinity,
so only selectors expressible as a map are usable: ``matchLabels`` plus ``In`` expressions with one
value (Kubernetes' ``LabelSelectorAsMap``). Keys KAITO itself puts on nodes (``kaito.sh/workspace``
…) are dropped so a user selector can never target another Workspace's nodes (§1.4).
"""

from __future__ import annotations

from kaito.api import constants
from kaito.api.meta import LabelSelector


class SelectorError(ValueError):
    """The selector cannot be expressed as a map of labels."""


def label_selector_as_map(selector: LabelSelector | None) -> dict[str, str]:
    """The labels a selector requires, as a map.

    Raises:
        SelectorError: an expression uses an operator other than ``In`` or an ``In`` without
            exactly one value (wording as Kubernetes' ``LabelSelectorAsMap``).
    """
    if selector is None:
        return {}
    labels = dict(selector.match_labels)
    for expr in selector.match_expressions:
        if expr.operator == "In":
            if len(expr.values) != 1:
                raise SelectorError(
                    f'operator "{expr.operator}" without a single value cannot be converted '
                    "into a map"
                )
            labels[expr.key] = expr.values[0]
        elif expr.operator in ("NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f'operator "{expr.operator}" cannot be converted into a map')
        else:
            raise SelectorError(f'"{expr.operator}" is not a valid label selector operator')
    return labels


def is_reserved_selector_key(key: str) -> bool:
    """Whether ``key`` is a label KAITO owns and ignores in user selectors."""
    return key in constants.RESERVED_SELECTOR_KEYS


def sanitized_match_labels(selector: LabelSelector | None) -> dict[str, str]:
    """``matchLabels`` without KAITO-reserved keys."""
    if selector is None:
        return {}
    return {k: v for k, v in selector.match_labels.items() if not is_reserved_selector_key(k)}


def sanitized_selector_labels(selector: LabelSelector | None) -> dict[str, str]:
    """All labels of the selector (``matchLabels`` + single-value ``In``) minus reserved keys.

    Raises:
        SelectorError: as :func:`label_selector_as_map`.
    """
    return {
        k: v for k, v in label_selector_as_map(selector).items() if not is_reserved_selector_key(k)
    }

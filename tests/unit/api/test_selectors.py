"""Label selectors as maps, reserved keys, and Kubernetes name/label syntax."""

from __future__ import annotations

import pytest

from kaito.api import constants, names, selectors
from kaito.api.meta import LabelSelector


def _selector(**kw: object) -> LabelSelector:
    return LabelSelector.model_validate(kw)


def test_match_labels_and_single_value_in_become_a_map() -> None:
    sel = _selector(
        matchLabels={"a": "1"}, matchExpressions=[{"key": "b", "operator": "In", "values": ["2"]}]
    )
    assert selectors.label_selector_as_map(sel) == {"a": "1", "b": "2"}
    assert selectors.label_selector_as_map(None) == {}


@pytest.mark.parametrize(
    ("operator", "values", "message"),
    [
        ("In", ["1", "2"], 'operator "In" without a single value cannot be converted into a map'),
        ("In", [], 'operator "In" without a single value'),
        ("NotIn", ["1"], 'operator "NotIn" cannot be converted into a map'),
        ("Exists", [], 'operator "Exists" cannot be converted into a map'),
        ("DoesNotExist", [], 'operator "DoesNotExist" cannot be converted'),
        ("Equals", ["1"], '"Equals" is not a valid label selector operator'),
    ],
)
def test_set_based_expressions_cannot_be_a_map(
    operator: str, values: list[str], message: str
) -> None:
    sel = _selector(matchExpressions=[{"key": "k", "operator": operator, "values": values}])
    with pytest.raises(selectors.SelectorError, match=message):
        selectors.label_selector_as_map(sel)


def test_reserved_keys_are_dropped() -> None:
    sel = _selector(
        matchLabels={
            "apps": "x",
            constants.LABEL_WORKSPACE: "w",
            constants.LABEL_KARPENTER_WORKSPACE_NAME: "w",
        },
        matchExpressions=[{"key": constants.LABEL_RAGENGINE, "operator": "In", "values": ["r"]}],
    )
    assert selectors.sanitized_match_labels(sel) == {"apps": "x"}
    assert selectors.sanitized_selector_labels(sel) == {"apps": "x"}
    assert all(selectors.is_reserved_selector_key(k) for k in constants.RESERVED_SELECTOR_KEYS)
    assert not selectors.is_reserved_selector_key("apps")
    assert len(constants.RESERVED_SELECTOR_KEYS) == 8


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ws-1", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Ws", False),
        ("-a", False),
        ("a.b", False),
    ],
)
def test_dns1123_label(value: str, ok: bool) -> None:
    assert (names.dns1123_label_errors(value) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"), [("a.b-c", True), ("a" * 254, False), ("A", False), ("a..b", False)]
)
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    assert (names.dns1123_subdomain_errors(value) == []) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("apps", True),
        ("kaito.sh/workspace", True),
        ("a/b/c", False),
        ("/x", False),
        ("Bad_Prefix/x", False),
        ("x" * 64, False),
        ("ok.io/Name_1", True),
    ],
)
def test_label_keys(key: str, ok: bool) -> None:
    assert (names.label_key_errors(key) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("v1.2_x-y", True), ("with space", False), ("-x", False), ("x" * 64, False)],
)
def test_label_values(value: str, ok: bool) -> None:
    assert (names.label_value_errors(value) == []) is ok

"""Kubernetes name and label syntax checks (DNS-1123 labels and subdomains, label keys/values).

The messages follow ``k8s.io/apimachinery/pkg/util/validation`` so users see the same wording as
from the API server; each check returns a list of problems (empty when valid), because one value can
break several rules at once (too long *and* bad characters).
"""

from __future__ import annotations

import re

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile(rf"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(rf"^({_QUALIFIED_NAME_FMT})?$")

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label_errors(value: str) -> list[str]:
    """Problems with ``value`` as a DNS-1123 label (Workspace names, Service names)."""
    errors: list[str] = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(_max_len(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{_DNS1123_LABEL_FMT}')"
        )
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Problems with ``value`` as a DNS-1123 subdomain (adapter names, object names)."""
    errors: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN_FMT}')"
        )
    return errors


def label_key_errors(key: str) -> list[str]:
    """Problems with ``key`` as a label key: an optional DNS subdomain prefix, then a name."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return ["prefix part must be non-empty"]
    errors = [f"prefix part {e}" for e in dns1123_subdomain_errors(prefix)] if prefix else []
    if not name:
        errors.append("name part must be non-empty")
        return errors
    if len(name) > QUALIFIED_NAME_MAX:
        errors.append(f"name part {_max_len(QUALIFIED_NAME_MAX)}")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME_FMT}')"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Problems with ``value`` as a label value (may be empty)."""
    errors: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errors.append(_max_len(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
            f"or 'my_value',  or '12345', regex used for validation is '({_QUALIFIED_NAME_FMT})?')"
        )
    return errors

"""Feature gates: the one parser of ``--feature-gates`` and the one reader of a gate's value.

The operator, ``kaito validate``, ``kaito render`` and ``kaito run`` all take the same
``NAME=true|false,...`` text, so they must accept and refuse the same spellings; a gate that is
not named keeps upstream's default (``constants.DEFAULT_FEATURE_GATES``).
"""

from __future__ import annotations

from collections.abc import Mapping

from kaito.api import constants

LOCAL_FEATURE_GATES: Mapping[str, bool] = {constants.FEATURE_VLLM: False}
"""What ``kaito run`` sets before the user's own gates: one machine rarely has vLLM's GPU, so the
transformers engine is its default runtime (a ``kaito.sh/runtime: vllm`` annotation or
``--feature-gates vLLM=true`` opts in); every other gate keeps upstream's default."""


class FeatureGateError(ValueError):
    """A ``--feature-gates`` item is malformed or names no known gate (the message says which)."""


def parse_feature_gates(text: str) -> dict[str, bool]:
    """The gates ``text`` sets: ``"vLLM=false, enableMIG=true"`` → ``{"vLLM": False, ...}``.

    Only the named gates are returned; :func:`gate_enabled` supplies the defaults.

    Raises:
        FeatureGateError: an item is not ``NAME=true|false`` (a bare ``NAME`` included, as
            Kubernetes' own ``--feature-gates`` refuses it), or ``NAME`` is not a known gate.
    """
    gates: dict[str, bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        name, lowered = key.strip(), value.strip().lower()
        if not sep or lowered not in ("true", "false"):
            raise FeatureGateError(f"expected NAME=true|false, got {item!r}")
        if name not in constants.DEFAULT_FEATURE_GATES:
            known = ", ".join(sorted(constants.DEFAULT_FEATURE_GATES))
            raise FeatureGateError(f"unknown feature gate {name!r}; known: {known}")
        gates[name] = lowered == "true"
    return gates


def gate_enabled(gates: Mapping[str, bool], name: str) -> bool:
    """Whether gate ``name`` is on in ``gates``, upstream's default when ``gates`` omits it."""
    if name in gates:
        return bool(gates[name])
    return constants.DEFAULT_FEATURE_GATES.get(name, False)

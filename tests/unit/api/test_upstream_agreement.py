"""Our admission verdicts against upstream v0.12.0's, on upstream's own documents and test cases.

``upstream/example_verdicts.yaml`` records, for every Workspace document in upstream's examples and
docs, the settings its page assumes and the verdict upstream's webhook gives (read from upstream's
rules). The documents themselves are read from the upstream mirror, so the first test needs it
and is skipped without. ``upstream/validation_cases.yaml`` holds cases from upstream's
``api/v1beta1/workspace_validation_test.go`` rewritten as whole Workspaces with the verdict and
message upstream's test expects; it runs everywhere.

Every disagreement must be a deliberate difference listed in ``docs/compatibility.md``; the
counts printed by ``scripts/upstream_agreement.py`` come from the same functions.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures import upstream, upstream_verdicts
from tests.fixtures.upstream_verdicts import (
    DELIBERATE,
    case_verdicts,
    example_verdicts,
)


@pytest.mark.skipif(upstream.mirror() is None, reason="needs the upstream mirror")
def test_every_upstream_document_gets_upstreams_verdict_or_a_listed_difference() -> None:
    results = example_verdicts()
    table = {row["source"] for row in upstream.load_table("example_verdicts.yaml")}
    assert {r.source for r in results} == table  # the table covers exactly upstream's documents
    disagreements = {r.source: r.ours for r in results if not r.agrees}
    assert disagreements == dict.fromkeys(DELIBERATE["examples"], "reject")


def test_every_upstream_validation_case_gets_upstreams_verdict_or_a_listed_difference() -> None:
    results = case_verdicts()
    assert len(results) >= 40
    disagreements = {r.source for r in results if not r.agrees}
    assert disagreements == set(DELIBERATE["cases"])


def test_rejections_carry_upstreams_message() -> None:
    missing: list[tuple[str, Any]] = [
        (r.source, r.expected_message)
        for r in case_verdicts()
        if r.agrees and r.upstream == "reject" and r.expected_message and not r.message_found
    ]
    assert missing == []


FRACTIONAL_AZURE_SKUS = (
    "Standard_NG8ads_V620_v1",
    "Standard_NG16ads_V620_v1",
    "Standard_NV4as_v4",
    "Standard_NV8as_v4",
    "Standard_NV16as_v4",
)


@pytest.mark.parametrize("sku", FRACTIONAL_AZURE_SKUS)
def test_upstreams_commented_out_fractional_azure_skus_are_admitted_by_the_n_series_rule(
    sku: str,
) -> None:
    # Upstream v0.12.0 lists these only as comments (a fraction of a GPU each); its webhook admits
    # them through the Azure N-series name rule, and so do we, without a SKU table entry.
    from kaito.presets import skus

    assert skus.get_sku(sku, "azure") is None
    doc = upstream_verdicts.case_document("inference", {"resource/instanceType": sku})
    result = upstream_verdicts.judge(sku, doc, {"cloud": "azure"}, "admit")
    assert result.agrees, result.errors

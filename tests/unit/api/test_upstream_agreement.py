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

from tests.fixtures import upstream
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

"""Golden YAML of ``kaito render`` for every Workspace under ``examples/``.

Each example has a golden file ``golden/<example stem>.yaml``; a new example without one fails here.
Regenerate after an intended change with
``KAITO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/manifests`` and review the diff.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KAITO_UPDATE_GOLDEN") == "1"
# A fixed image keeps the goldens independent of the package version.
RUNTIME_IMAGE = "ghcr.io/kaito-py/runtime:golden"
K8S_VERSION = "1.32.0"
# Karpenter kinds have no schema in kubernetes-validate; everything else must validate strictly.
# An InferenceSet renders to Workspaces and a KEDA ScaledObject: custom kinds as well.
CUSTOM_KINDS = {"NodeClaim", "NodePool", "Workspace", "ScaledObject"}


@functools.cache
def _render(example: Path) -> str:
    result = CliRunner().invoke(
        app, ["render", "-f", str(example), "--runtime-image", RUNTIME_IMAGE]
    )
    assert result.exit_code == 0, f"kaito render failed for {example.name}:\n{result.output}"
    return result.stdout


def test_examples_exist():
    assert any(p.name == "seed_workspace_tuning_phi_3.yaml" for p in EXAMPLES)


@pytest.mark.golden
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_render_matches_golden(example: Path):
    rendered = _render(example)
    golden = GOLDEN_DIR / f"{example.stem}.yaml"
    if UPDATE:
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), (
        f"no golden file for examples/{example.name}; run KAITO_UPDATE_GOLDEN=1 pytest "
        "tests/unit/manifests and review the new file"
    )
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_rendered_core_objects_validate_against_kubernetes_schemas(example: Path):
    objects = [o for o in yaml.safe_load_all(_render(example)) if o]
    assert objects
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{example.name}: {obj['kind']} {obj['metadata']['name']}: {exc.message}")


def test_every_golden_file_belongs_to_an_example():
    stems = {p.stem for p in EXAMPLES}
    orphans = sorted(p.name for p in GOLDEN_DIR.glob("*.yaml") if p.stem not in stems)
    assert orphans == [], f"golden files without an example: {orphans}"

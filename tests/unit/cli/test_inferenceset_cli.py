"""``kaito validate``, ``kaito render`` and ``kaito run``'s bundle with InferenceSets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.local import bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_inferencesets"
SET: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1alpha1",
    "kind": "InferenceSet",
    "metadata": {
        "name": "chat",
        "annotations": {
            "scaledobject.kaito.sh/auto-provision": "true",
            "scaledobject.kaito.sh/max-replicas": "4",
            "scaledobject.kaito.sh/threshold": "10",
        },
    },
    "spec": {
        "replicas": 2,
        "labelSelector": {"matchLabels": {"apps": "chat"}},
        "template": {
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    },
}


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_validate_reports_an_inferenceset_with_its_estimate(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "-f", str(_write(tmp_path, SET)), "-o", "json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert (entry["kind"], entry["name"], entry["valid"]) == ("InferenceSet", "chat", True)
    assert entry["estimate"]["replicas"] == 2
    assert entry["estimate"]["nodes"] == 2 * entry["estimate"]["nodesPerReplica"]


def test_validate_upstream_examples_with_node_auto_provisioning() -> None:
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "-f",
            str(EXAMPLES),
            "-o",
            "json",
            "--node-provisioner",
            "azure-gpu-provisioner",
        ],
    )
    assert result.exit_code == 1
    verdicts = {Path(e["file"]).name: e["valid"] for e in json.loads(result.stdout)}
    assert verdicts == {
        "kaito_inferenceset_llama-3.1_8b_instruct.yaml": True,
        "kaito_inferenceset_mig_mixed_strategy.yaml": False,
        "kaito_inferenceset_mig_single_strategy.yaml": False,
        "kaito_inferenceset_mistral_7b-instruct.yaml": True,
        "kaito_inferenceset_phi_4_mini.yaml": True,
    }


def test_validate_reports_template_errors_under_spec_template(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(SET))
    bad["spec"]["template"]["inference"]["preset"]["name"] = "no-such-model-xyz"
    result = CliRunner().invoke(app, ["validate", "-f", str(_write(tmp_path, bad))])
    assert result.exit_code == 1
    assert "InferenceSet chat: INVALID" in result.stdout
    assert "spec.template.inference.preset.name" in result.stdout


def test_render_prints_the_children_and_the_scaled_object(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "-f", str(_write(tmp_path, SET)), "-n", "team"])
    assert result.exit_code == 0, result.output
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert [o["kind"] for o in objects] == ["Workspace", "Workspace", "ScaledObject"]
    child = objects[0]
    assert child["metadata"]["generateName"] == "chat-"
    assert child["metadata"]["namespace"] == "team"
    assert child["metadata"]["labels"]["inferenceset.kaito.sh/created-by"] == "chat"
    assert objects[2]["spec"]["maxReplicaCount"] == 4


def test_kaito_run_bundle_runs_one_replica_named_after_the_set(tmp_path: Path) -> None:
    found = bundle.load_bundle(_write(tmp_path, SET))
    assert found.workspace.metadata.name == "chat"
    assert found.workspace.metadata.generate_name is None
    assert found.workspace.resource.label_selector.match_labels == {"apps": "chat"}
    (note,) = found.notes
    assert "running 1 replica locally" in note
    assert "spec.replicas=2" in note

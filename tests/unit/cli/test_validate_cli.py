"""``kaito validate`` through the real Typer app: exit codes, paths in messages, JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from tests.fixtures.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
SEED = EXAMPLES / "seed_workspace_tuning_phi_3.yaml"
runner = CliRunner()

VALID = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: ok}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {apps: ok}}
inference:
  preset: {name: phi-4-mini-instruct}
"""

INVALID = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: Bad_Name}
resource:
  labelSelector: {matchLabels: {apps: bad}}
  instanceType: Standard_NC24ads_A100_v4
tuning:
  preset: {name: phi-3-mini-4k-instruct}
  method: lora
  input: {urls: ["http://169.254.169.254/latest/"]}
  output: {image: "myacr.io/out:1"}
"""


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["validate", *args], input=stdin)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BYO_EXAMPLES = {"inference_byo_nodes.yaml", "local_cpu_smollm2.yaml"}


def test_every_example_is_valid_with_the_settings_it_is_written_for() -> None:
    result = invoke("-f", str(EXAMPLES), "-o", "json")
    data = json.loads(result.stdout)
    assert len(data) >= 13
    by_file = {Path(entry["file"]).name: entry for entry in data}
    for name, entry in by_file.items():
        if name in BYO_EXAMPLES:
            continue
        assert entry["valid"], entry
        assert entry["errors"] == [], entry
    # Like the webhook with default settings (auto-provisioning on), an empty instanceType fails.
    assert result.exit_code == 1
    for name in BYO_EXAMPLES:
        assert [e["field"] for e in by_file[name]["errors"]] == ["resource.instanceType"]
        byo = invoke("-f", str(EXAMPLES / name), "--node-provisioner", "byo", "-o", "json")
        assert byo.exit_code == 0, byo.output


def test_seed_example_is_valid_and_prints_estimate() -> None:
    result = invoke("-f", str(SEED))
    assert result.exit_code == 0, result.output
    assert "Workspace workspace-tuning-phi-3: valid" in result.stdout
    assert "estimate: 1 node of Standard_NC6s_v3" in result.stdout


def test_invalid_document_exits_1_and_prints_every_error_with_its_path(tmp_path: Path) -> None:
    result = invoke("-f", write(tmp_path, "bad.yaml", INVALID))
    assert result.exit_code == 1
    out = result.stdout
    assert "INVALID" in out
    assert "error: metadata.name: a lowercase RFC 1123 label" in out
    assert (
        "error: tuning.input.urls[0]: data source URL must not target a local or metadata "
        "endpoint (169.254.169.254 is a cloud metadata address)" in out
    )
    assert (
        "error: tuning.output.imagePushSecret: Must specify imagePushSecret with destination image"
        in out
    )
    assert "Traceback" not in result.output


def test_json_output_schema(tmp_path: Path) -> None:
    path = write(tmp_path, "two.yaml", VALID + "---\n" + INVALID)
    result = invoke("-f", path, "-o", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [(d["document"], d["name"], d["valid"]) for d in data] == [
        (1, "ok", True),
        (2, "Bad_Name", False),
    ]
    for entry in data:
        assert set(entry) == {
            "file",
            "document",
            "kind",
            "name",
            "apiVersion",
            "operation",
            "valid",
            "errors",
            "warnings",
            "estimate",
        }
        assert entry["file"] == path
        assert all(set(e) == {"field", "message"} for e in entry["errors"] + entry["warnings"])
    assert data[0]["estimate"]["nodes"] == 1
    assert {
        "field": "tuning.output.imagePushSecret",
        "message": "Must specify imagePushSecret with destination image",
    } in data[1]["errors"]


def test_yaml_output(tmp_path: Path) -> None:
    result = invoke("-f", write(tmp_path, "ok.yaml", VALID), "-o", "yaml")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)[0]["valid"] is True


def test_schema_errors_are_reported_with_paths_not_tracebacks(tmp_path: Path) -> None:
    text = VALID.replace("instanceType:", "instancetype:").replace(
        "phi-4-mini-instruct", "{nme: x}"
    )
    result = invoke("-f", write(tmp_path, "typo.yaml", text), "-o", "json")
    assert result.exit_code == 1
    errors = json.loads(result.stdout)[0]["errors"]
    assert {"field": "resource.instancetype", "message": "unknown field"} in errors
    assert {"field": "inference.preset.name.nme", "message": "unknown field"} not in errors
    assert any(e["field"].startswith("inference.preset") for e in errors)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [unclosed\n", "invalid YAML"),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
            "no Workspace or InferenceSet found",
        ),
        ("- a\n- b\n", "not a Kubernetes object"),
    ],
)
def test_unreadable_or_non_workspace_input_exits_2(tmp_path: Path, text: str, message: str) -> None:
    result = invoke("-f", write(tmp_path, "x.yaml", text))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("-f", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_other_kinds_are_skipped_with_a_note(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" + VALID
    result = invoke("-f", write(tmp_path, "mixed.yaml", text))
    assert result.exit_code == 0
    assert "kind Service skipped" in result.stderr


def test_configmap_in_the_same_file_is_checked(tmp_path: Path) -> None:
    cm = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n"
        "  inference_config.yaml: |\n    vllm:\n      max-model-len: 999999\n"
    )
    text = (
        VALID.replace(
            "preset: {name: phi-4-mini-instruct}",
            "preset: {name: phi-4-mini-instruct}\n  config: cfg",
        )
        + "---\n"
        + cm
    )
    result = invoke("-f", write(tmp_path, "with-cm.yaml", text))
    assert result.exit_code == 1
    assert "max-model-len 999999 exceeds model's maximum supported context window 131072" in (
        result.stdout
    )


def test_configmap_dir_supplies_referenced_configmaps(tmp_path: Path) -> None:
    cms = tmp_path / "cms"
    cms.mkdir()
    (cms / "cfg.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n"
        "  inference_config.yaml: 'vllm: {max-model-len: 4096}'\n"
    )
    text = VALID.replace(
        "preset: {name: phi-4-mini-instruct}", "preset: {name: phi-4-mini-instruct}\n  config: cfg"
    )
    path = write(tmp_path, "ws.yaml", text)
    without = json.loads(invoke("-f", path, "-o", "json").stdout)[0]
    with_dir = json.loads(invoke("-f", path, "--configmap-dir", str(cms), "-o", "json").stdout)[0]
    assert any(
        w["field"] == "inference.config" and w["message"].startswith("not checked")
        for w in without["warnings"]
    )
    assert with_dir["warnings"] == []
    assert with_dir["estimate"]["maxModelLen"] == 4096


def test_node_provisioner_byo_rejects_instance_type(tmp_path: Path) -> None:
    result = invoke("-f", write(tmp_path, "ok.yaml", VALID), "--node-provisioner", "byo")
    assert result.exit_code == 1
    assert "instanceType must be empty when node auto-provisioning is disabled" in result.stdout


def test_cloud_selects_sku_table(tmp_path: Path) -> None:
    result = invoke("-f", write(tmp_path, "ok.yaml", VALID), "--cloud", "aws")
    assert result.exit_code == 1
    assert "Unsupported instance type Standard_NC24ads_A100_v4" in result.stdout


def test_feature_gates_are_parsed_and_unknown_ones_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.yaml", VALID)
    assert invoke("-f", path, "--feature-gates", "vLLM=false").exit_code == 1  # transformers
    bad = invoke("-f", path, "--feature-gates", "warpDrive=true")
    assert bad.exit_code == 2
    assert "unknown feature gate 'warpDrive'" in bad.stderr


def test_stdin_is_read_with_dash() -> None:
    result = invoke("-f", "-", "-o", "json", stdin=VALID)
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["file"] == "-"


def test_several_files_are_all_reported(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", VALID)
    b = write(tmp_path, "b.yaml", INVALID)
    data = json.loads(invoke("-f", a, "-f", b, "-o", "json").stdout)
    assert [d["valid"] for d in data] == [True, False]


def test_old_manifest_turns_validation_into_an_update(tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", VALID)
    changed = VALID.replace("phi-4-mini-instruct", "phi-4").replace(
        "labelSelector: {matchLabels: {apps: ok}}", "labelSelector: {matchLabels: {apps: new}}"
    )
    new = write(tmp_path, "new.yaml", changed)
    create = invoke("-f", new, "-o", "json")
    update = invoke("-f", new, "--old", old, "-o", "json")
    assert create.exit_code == 0
    assert update.exit_code == 1
    data = json.loads(update.stdout)[0]
    assert data["operation"] == "UPDATE"
    assert {(e["field"], e["message"]) for e in data["errors"]} == {
        ("inference.preset", "field is immutable"),
        ("resource.labelSelector", "field is immutable"),
    }


def test_old_manifest_without_matching_name_validates_as_create(tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", VALID.replace("name: ok", "name: other"))
    result = invoke("-f", write(tmp_path, "new.yaml", VALID), "--old", old, "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["operation"] == "CREATE"
    assert "no stored Workspace of that name" in result.stderr


UNLISTED = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {{name: house}}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {{matchLabels: {{apps: house}}}}
inference:
  preset: {{name: {repo}}}
"""


def test_check_hub_rejects_a_repo_whose_architecture_vllm_does_not_serve(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.routes["/org/exotic/resolve/main/config.json"] = (
        200,
        {"architectures": ["ExoticNetForCausalLM"]},
    )
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_cli")
    exotic = write(tmp_path, "exotic.yaml", UNLISTED.format(repo="org/exotic"))
    llama = write(tmp_path, "llama.yaml", UNLISTED.format(repo="org/llama"))

    result = invoke("--check-hub", "-f", exotic)
    assert result.exit_code == 1, result.output
    assert "inference.preset.name" in result.output
    assert "ExoticNetForCausalLM, none of which vLLM supports" in result.output
    assert ("/org/exotic/resolve/main/config.json", "Bearer hf_cli") in fake_hub.requests

    assert invoke("--check-hub", "-f", llama).exit_code == 0
    # Without --check-hub the CLI stays offline and says what it did not check.
    before = len(fake_hub.requests)
    offline = invoke("-f", exotic)
    assert offline.exit_code == 0, offline.output
    assert "not checked: whether vLLM supports the architecture of org/exotic" in offline.output
    assert len(fake_hub.requests) == before

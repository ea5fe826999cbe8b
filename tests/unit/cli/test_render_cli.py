from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.manifests import naming

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed_workspace_tuning_phi_3.yaml"

INFERENCE: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "Workspace",
    "metadata": {"name": "phi"},
    "resource": {
        "instanceType": "Standard_NC24ads_A100_v4",
        "labelSelector": {"matchLabels": {"apps": "phi"}},
    },
    "inference": {"preset": {"name": "llama-3.3-70b-instruct"}},
}


def _invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, ["render", *args], input=stdin)


def _write(tmp_path: Path, *docs, name: str = "ws.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _objects(result):
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def test_seed_example_renders_a_tuning_job():
    result = _invoke("-f", str(SEED))
    assert result.exit_code == 0, result.output
    kinds = [o["kind"] for o in _objects(result)]
    assert kinds == ["ControllerRevision", "ConfigMap", "NodeClaim", "Job"]


def test_nodes_flag_overrides_the_estimator(tmp_path):
    path = _write(tmp_path, INFERENCE)
    estimated = _objects(_invoke("-f", str(path)))
    fixed = _objects(_invoke("-f", str(path), "--nodes", "1"))
    assert [o["kind"] for o in estimated].count("NodeClaim") == 3
    assert [o["kind"] for o in fixed].count("NodeClaim") == 1
    sts = next(o for o in fixed if o["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] == 1


def test_karpenter_and_byo_provisioners(tmp_path):
    path = _write(tmp_path, INFERENCE)
    karpenter = _objects(_invoke("-f", str(path), "--node-provisioner", "karpenter"))
    assert [o["kind"] for o in karpenter].count("NodePool") == 1
    assert "NodeClaim" not in [o["kind"] for o in karpenter]
    byo = _objects(_invoke("-f", str(path), "--node-provisioner", "byo"))
    assert not {"NodeClaim", "NodePool"} & {o["kind"] for o in byo}


def test_workspace_without_instance_type_defaults_to_byo(tmp_path):
    doc = {**INFERENCE, "resource": {"labelSelector": {"matchLabels": {"apps": "phi"}}}}
    result = _invoke("-f", str(_write(tmp_path, doc)))
    assert result.exit_code == 0, result.output
    assert [o["kind"] for o in _objects(result)] == [
        "ControllerRevision",
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_aws_cloud_uses_its_sku_table_and_node_class(tmp_path):
    doc = {**INFERENCE, "resource": {**INFERENCE["resource"], "instanceType": "p5.48xlarge"}}
    result = _invoke("-f", str(_write(tmp_path, doc)), "--cloud", "aws")
    assert result.exit_code == 0, result.output
    claim = next(o for o in _objects(result) if o["kind"] == "NodeClaim")
    assert claim["spec"]["nodeClassRef"]["kind"] == "EC2NodeClass"
    sts = next(o for o in _objects(result) if o["kind"] == "StatefulSet")
    limits = sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": "8"}


def test_namespace_flag_fills_a_missing_namespace_only(tmp_path):
    plain = _write(tmp_path, INFERENCE, name="plain.yaml")
    named = _write(
        tmp_path, {**INFERENCE, "metadata": {"name": "phi", "namespace": "mine"}}, name="named.yaml"
    )
    for obj in _objects(_invoke("-f", str(plain), "-n", "team")):
        if obj["kind"] != "NodePool":
            assert obj["metadata"]["namespace"] == "team"
    claim = next(
        o for o in _objects(_invoke("-f", str(plain), "-n", "team")) if o["kind"] == "NodeClaim"
    )
    assert claim["metadata"]["name"] == naming.nodeclaim_name("team", "phi", 0)
    for obj in _objects(_invoke("-f", str(named), "-n", "team")):
        assert obj["metadata"]["namespace"] == "mine"


def test_multi_document_files_and_stdin(tmp_path):
    second = {**INFERENCE, "metadata": {"name": "other"}}
    path = _write(tmp_path, INFERENCE, second)
    names = {
        o["metadata"]["name"]
        for o in _objects(_invoke("-f", str(path)))
        if o["kind"] == "StatefulSet"
    }
    assert names == {"phi", "other"}
    result = _invoke("-f", "-", stdin=yaml.safe_dump(INFERENCE))
    assert result.exit_code == 0, result.output
    assert any(o["kind"] == "StatefulSet" for o in _objects(result))


def test_output_is_identical_across_runs(tmp_path):
    path = _write(tmp_path, INFERENCE)
    assert _invoke("-f", str(path)).stdout == _invoke("-f", str(path)).stdout


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({**INFERENCE, "inference": {"preset": {"name": "no-such-model"}}}, "no-such-model"),
        ({**INFERENCE, "resource": {**INFERENCE["resource"], "instanceTyp": "x"}}, "instanceTyp"),
        ({**INFERENCE, "inference": {"preset": {"name": "phi-2"}}}, "phi-2"),
    ],
)
def test_invalid_workspaces_exit_1_with_a_message(tmp_path, doc, message):
    result = _invoke("-f", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_unreadable_or_foreign_input_exits_2(tmp_path):
    missing = _invoke("-f", str(tmp_path / "missing.yaml"))
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("a: [unclosed\n")
    assert _invoke("-f", str(bad_yaml)).exit_code == 2
    pod = _write(tmp_path, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
    result = _invoke("-f", str(pod))
    assert result.exit_code == 2
    assert "kind 'Pod' skipped" in result.stderr
    assert "no Workspace found" in result.stderr


def test_other_kinds_next_to_a_workspace_are_skipped_with_a_note(tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}
    result = _invoke("-f", str(_write(tmp_path, INFERENCE, pod)))
    assert result.exit_code == 0
    assert "document 2" in result.stderr
    assert "Pod" not in {o["kind"] for o in _objects(result)}


def test_configmaps_in_the_input_stand_in_for_the_cluster(tmp_path):
    inference_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "long-context"},
        "data": {"inference_config.yaml": "vllm:\n  max-model-len: 131072\n"},
    }
    ws = {**INFERENCE, "inference": {**INFERENCE["inference"], "config": "long-context"}}
    short = _objects(_invoke("-f", str(_write(tmp_path, INFERENCE, name="short.yaml"))))
    long = _objects(_invoke("-f", str(_write(tmp_path, ws, inference_cm, name="long.yaml"))))
    replicas = {
        name: next(o for o in objs if o["kind"] == "StatefulSet")["spec"]["replicas"]
        for name, objs in (("short", short), ("long", long))
    }
    # A 128k context needs far more KV cache than the 2048 default: the estimator adds nodes.
    assert replicas["long"] > replicas["short"]
    assert "ConfigMap" not in {o["kind"] for o in long}

    training_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "train"},
        "data": {
            "training_config.yaml": (
                "training_config:\n  TrainingArguments:\n    output_dir: /mnt/out\n"
            )
        },
    }
    seed = yaml.safe_load(SEED.read_text())
    seed["tuning"]["config"] = "train"
    job = next(
        o
        for o in _objects(_invoke("-f", str(_write(tmp_path, seed, training_cm, name="t.yaml"))))
        if o["kind"] == "Job"
    )
    mounts = {
        m["mountPath"] for m in job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert "/mnt/out" in mounts


def test_bad_flags_exit_2(tmp_path):
    path = _write(tmp_path, INFERENCE)
    assert _invoke("-f", str(path), "--node-provisioner", "magic").exit_code == 2
    assert _invoke("-f", str(path), "--cloud", "gcp").exit_code == 2
    assert _invoke("-f", str(path), "--nodes", "0").exit_code == 2
    assert _invoke().exit_code == 2

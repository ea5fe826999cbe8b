"""``kaito crds``: prints the CRD, or writes it where ``make crds`` expects it."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from kaito.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_prints_the_workspace_and_inferenceset_crds() -> None:
    result = runner.invoke(app, ["crds"])
    assert result.exit_code == 0
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["metadata"]["name"] for d in docs] == [
        "workspaces.kaito.sh",
        "inferencesets.kaito.sh",
    ]
    assert {d["kind"] for d in docs} == {"CustomResourceDefinition"}


def test_output_dir_writes_the_file_make_crds_check_compares(tmp_path: Path) -> None:
    out = tmp_path / "bases"
    result = runner.invoke(app, ["crds", "--output-dir", str(out)])
    assert result.exit_code == 0
    names = ["kaito.sh_workspaces.yaml", "kaito.sh_inferencesets.yaml"]
    assert result.stdout.split() == [str(out / n) for n in names]
    for name in names:
        committed = ROOT / "config" / "crd" / "bases" / name
        assert (out / name).read_text() == committed.read_text()


def test_unwritable_output_dir_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["crds", "--output-dir", str(blocker / "sub")])
    assert result.exit_code == 1
    assert "cannot write CRDs" in result.stderr
    assert "Traceback" not in result.output

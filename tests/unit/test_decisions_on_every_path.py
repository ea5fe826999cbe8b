"""One Workspace, the same decisions on every path: webhook, controller/render, validate, kaito run.

Each path reaches its decisions through its own public entry point (the webhook's ``review``, the
operator's settings and the manifest builders, ``kaito validate -o json``, ``kaito run``'s
``prepare_run``); the assertions compare what they decided: the runtime, the model reference, the
node count and the engine flags that depend on the model only.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kaito import validation as api_validation
from kaito.api import gates
from kaito.api.workspace import parse_workspace
from kaito.cli.main import app
from kaito.local import launch, machine, settings
from kaito.local import store as local_store
from kaito.manifests import inference, render
from kaito.operator import webhook
from kaito.operator.settings import OperatorSettings
from kaito.validation.review import Review

LOCAL = settings.LocalSettings(
    state_dir=Path("/unused"), hf_offline=False, hf_endpoint="https://huggingface.co", device="cpu"
)
# A machine that can run either engine, so only the Workspace and the gates decide.
GPU_MACHINE = machine.MachineFacts(
    memory_gib=4096.0, has_gpu=True, vllm_installed=True, hub_reachable=True
)
# Flags that follow from the model alone (not from the node's GPUs or where files are).
MODEL_FLAGS = (
    "--engine",
    "--model",
    "--served-model-name",
    "--load-format",
    "--config-format",
    "--tokenizer-mode",
    "--tool-call-parser",
    "--reasoning-parser",
    "--trust-remote-code",
    "--enable-lora",
    "--enable-auto-tool-choice",
)


def _doc(preset: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "ws-decide", "namespace": "default", "annotations": annotations or {}},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": "x"}},
        },
        "inference": {"preset": {"name": preset}},
    }


def _webhook(operator: OperatorSettings, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    async def lookup(cluster: object, ws: object, settings: object) -> Any:
        return api_validation.StaticClusterLookup({})

    monkeypatch.setattr(webhook, "build_lookup", lookup)
    return asyncio.run(webhook.review(None, operator, doc, None))  # type: ignore[arg-type]


def _statefulset_command(operator: OperatorSettings, doc: dict[str, Any]) -> list[str]:
    ws = parse_workspace(doc)
    manifest_settings = operator.manifest_settings()
    plan = render.plan_workload(ws, manifest_settings)
    sts = inference.build_statefulset(ws, manifest_settings, plan)
    command = list(sts["spec"]["template"]["spec"]["containers"][0]["command"])
    if command[:2] == ["/bin/sh", "-c"]:  # multi-node: pod 0 execs kaito-serve after Ray starts
        (line,) = [x for x in command[2].splitlines() if x.strip().startswith("exec kaito-serve")]
        return shlex.split(line)[1:]
    return command


def _local_serve_argv(tmp_path: Path, doc: dict[str, Any], gate_text: str) -> list[str]:
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump(doc))
    store = local_store.StateStore(tmp_path / "state")
    request = launch.RunRequest(path=path, feature_gates=gates.parse_feature_gates(gate_text))
    prepared = launch.prepare_run(store, request, local=LOCAL, facts=GPU_MACHINE)
    serve = [step for step in prepared.plan.steps if step.name == "serve"]
    return list(serve[0].argv)


def _flag(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg == name:
            return ""
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _model_flags(argv: list[str]) -> dict[str, str | None]:
    return {name: _flag(argv, name) for name in MODEL_FLAGS}


def test_vllm_gate_off_webhook_statefulset_and_kaito_run_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = OperatorSettings(feature_gates="vLLM=false")

    # A model the transformers runtime cannot serve: the webhook refuses it under the gate...
    errors, _ = _webhook(operator, _doc("phi-4-mini-instruct"), monkeypatch)
    assert any("Huggingface Transformers runtime" in e for e in errors), errors
    assert _webhook(OperatorSettings(), _doc("phi-4-mini-instruct"), monkeypatch)[0] == []
    # ... and so does kaito run under the same gate.
    path = tmp_path / "refused.yaml"
    path.write_text(yaml.safe_dump(_doc("phi-4-mini-instruct")))
    with pytest.raises(launch.RunError, match="Transformers runtime"):
        launch.prepare_run(
            local_store.StateStore(tmp_path / "refused"),
            launch.RunRequest(path=path, feature_gates=gates.parse_feature_gates("vLLM=false")),
            local=LOCAL,
            facts=GPU_MACHINE,
        )

    # A model it can serve: admitted, and the StatefulSet and kaito run both run transformers.
    doc = _doc("phi-3-mini-4k-instruct")
    assert _webhook(operator, doc, monkeypatch)[0] == []
    assert _flag(_statefulset_command(operator, doc), "--engine") == "transformers"
    assert _flag(_local_serve_argv(tmp_path, doc, "vLLM=false"), "--engine") == "transformers"


@pytest.mark.parametrize(
    ("preset", "annotations", "gate_text"),
    [
        ("phi-3-mini-4k-instruct", {}, ""),
        ("phi-3-mini-4k-instruct", {}, "vLLM=false"),
        ("phi-4-mini-instruct", {"kaito.sh/runtime": "vllm"}, "vLLM=false"),
        ("qwen2.5-coder-7b-instruct", {"kaito.sh/runtime": "transformers"}, ""),
        ("mistral-7b-instruct", {}, ""),
        ("qwen2.5-coder-32b-instruct", {}, ""),
    ],
)
def test_the_same_workspace_gets_the_same_decisions_on_every_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    preset: str,
    annotations: dict[str, str],
    gate_text: str,
) -> None:
    doc = _doc(preset, annotations)
    operator = OperatorSettings(feature_gates=gate_text)
    assert _webhook(operator, doc, monkeypatch)[0] == []

    # Runtime: the rules the webhook applied are those of the runtime the pod and kaito run use.
    review = Review(
        parse_workspace(doc),
        api_validation.ValidationContext(
            lookup=api_validation.StaticClusterLookup({}),
            feature_gates=operator.gates(),
        ),
    )
    pod = _statefulset_command(operator, doc)
    # kaito run told the operator's vLLM gate (its own default is off) ...
    vllm_gate = "true" if operator.gates()["vLLM"] else "false"
    local = _local_serve_argv(tmp_path, doc, f"vLLM={vllm_gate}")
    # ... runs the engine whose rules the webhook applied, with the pod's model flags.
    assert _flag(pod, "--engine") == review.runtime
    assert _model_flags(local) == _model_flags(pod)
    assert _flag(local, "--model") is not None

    # Node count: kaito validate, kaito render and the controller's plan agree.
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(doc))
    args = ["-f", str(path), "-o", "json"] + (["--feature-gates", gate_text] if gate_text else [])
    validated = CliRunner().invoke(app, ["validate", *args])
    assert validated.exit_code == 0, validated.output
    estimate = json.loads(validated.stdout)[0]["estimate"]
    rendered = CliRunner().invoke(app, ["render", *args[:2], *args[4:]])
    assert rendered.exit_code == 0, rendered.output
    (sts,) = [o for o in yaml.safe_load_all(rendered.stdout) if o["kind"] == "StatefulSet"]
    plan = render.plan_workload(parse_workspace(doc), operator.manifest_settings())
    assert estimate["nodes"] == sts["spec"]["replicas"] == plan.node_count

"""The ``kaito-serve`` command lines we render are accepted by ``kaito-serve``'s own parser."""

from __future__ import annotations

import shlex

import pytest

from kaito.manifests import engines, inference, render
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from kaito.presets import catalog, skus
from kaito.runtime.inference import options
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws

A100 = skus.get_sku("Standard_NC24ads_A100_v4")


def _serve_argv(ws) -> list[str]:
    settings = ManifestSettings()
    plan = render.plan_workload(ws, settings)
    pod = inference.build_statefulset(ws, settings, plan)["spec"]["template"]["spec"]
    command: list[str] = pod["containers"][0]["command"]
    if command[0] == "kaito-serve":
        return command[1:]
    exec_line = next(line for line in command[2].splitlines() if "exec kaito-serve" in line)
    return shlex.split(exec_line.strip().removeprefix("exec "))[1:]


@pytest.mark.parametrize(
    ("patch", "engine"),
    [
        ({}, "vllm"),
        (
            {
                "inference": {
                    "config": "cfg",
                    "adapters": [{"source": {"name": "a", "image": "r/a:1"}}],
                }
            },
            "vllm",
        ),
        ({"metadata": {"annotations": {"kaito.sh/runtime": "transformers"}}}, "transformers"),
        ({"inference": {"preset": {"name": "llama-3.3-70b-instruct"}}}, "vllm"),
        ({"resource": {"instanceType": "Standard_NC6s_v3"}}, "vllm"),
    ],
    ids=["vllm", "vllm-config-adapters", "transformers", "multi-node", "v100"],
)
def test_rendered_serve_command_parses_with_kaito_serve(patch, engine):
    ws = make_ws(INFERENCE_WS, **patch)
    parsed = options.parse_serve_args(_serve_argv(ws))
    assert parsed.engine == engine
    assert parsed.port == 5000
    assert str(parsed.adapters_dir) == "/mnt/adapter"
    assert ws.inference is not None
    assert ws.inference.preset is not None
    assert parsed.served_model_name == ws.inference.preset.name
    model = catalog.get_model(ws.inference.preset.name)
    assert parsed.model == model.hf_repo
    if ws.inference.config:
        assert str(parsed.config_file) == "/mnt/config/inference_config.yaml"


def test_float16_reaches_kaito_serve_on_gpus_without_bfloat16():
    ws = make_ws(INFERENCE_WS, resource={"instanceType": "Standard_NC6s_v3"})
    assert options.parse_serve_args(_serve_argv(ws)).dtype == "float16"


def test_local_presets_are_served_by_name():
    model = catalog.get_model("smollm2-135m-instruct")
    args = engines.build_serve_args(model, "smollm2", "vllm", WorkloadPlan(gpu=A100))
    assert "--model=smollm2-135m-instruct" in args
    assert not any(a.startswith("--download-dir") for a in args)


def _parse_kaito(argv: list[str]):
    """Parse ``kaito <sub> ...`` with the real Typer app, without running the command."""
    import typer

    from kaito.cli.main import app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)  # kaito has subcommands
    with group.context_class(group) as parent:
        command = group.get_command(parent, argv[0])
        assert command is not None, f"kaito has no command {argv[0]!r}"
        return command.make_context(argv[0], list(argv[1:]), parent=parent).params


def test_tuning_job_commands_parse_with_the_kaito_cli():
    from kaito.manifests import tuning
    from tests.unit.manifests.conftest import TUNING_WS

    ws = make_ws(TUNING_WS, tuning={"input": {"urls": ["https://example.com/a.parquet"]}})
    job = tuning.build_tuning_job(ws, ManifestSettings(), WorkloadPlan(gpu=A100))
    pod = job["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    params = _parse_kaito(fetch["command"][1:])
    assert params["dest"] is not None
    main, pusher = pod["containers"]
    tune_argv = shlex.split(main["command"][2].split(" ||", 1)[0])
    assert tune_argv[0] == "kaito-tune"
    assert _parse_kaito(["tune", *tune_argv[1:]])["model"] == "microsoft/Phi-3-mini-128k-instruct"
    push_line = next(line for line in pusher["command"][2].splitlines() if "kaito push" in line)
    push_argv = shlex.split(push_line.split("exec ", 1)[1].rsplit(";", 1)[0])
    params = _parse_kaito(push_argv[1:])
    assert params["base_model"] == "phi-3-mini-128k-instruct"
    assert str(params["wait_for"]) == "/mnt/results/fine_tuning_completed.txt"


def test_adapter_puller_command_parses_with_the_kaito_cli():
    ws = make_ws(
        INFERENCE_WS,
        inference={
            "adapters": [{"source": {"name": "a", "image": "r.io/a:1", "imagePullSecrets": ["s"]}}]
        },
    )
    sts = inference.build_statefulset(ws, ManifestSettings(), WorkloadPlan(gpu=A100))
    (puller,) = sts["spec"]["template"]["spec"]["initContainers"]
    params = _parse_kaito(puller["command"][1:])
    assert params["ref"] == "r.io/a:1"
    assert str(params["directory"]) == "/mnt/adapter/a"
    assert [str(p) for p in params["docker_config"]] == ["/etc/kaito/registry-auth/s/config.json"]

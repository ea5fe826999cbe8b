from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.api import v1beta1
from kaito.local import plan
from kaito.local import store as local_store

DEFAULT_CONFIG = "training_config:\n  TrainingArguments:\n    output_dir: /mnt/results\n"


def _tuning(input_: dict[str, object], output: dict[str, object]) -> v1beta1.Workspace:
    return v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": "tw"},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "tuning": {
                "preset": {"name": "smollm2-135m-instruct"},
                "method": "qlora",
                "input": input_,
                "output": output,
            },
        }
    )


def _plan(ws: v1beta1.Workspace, store: local_store.StateStore, **kw: object) -> plan.LocalPlan:
    args: dict[str, object] = {
        "config_text": DEFAULT_CONFIG,
        "serve": False,
        "port": 5123,
        "engine": "transformers",
    }
    args.update(kw)
    return plan.plan_tuning(ws, store, **args)  # type: ignore[arg-type]


def test_url_input_fetches_then_tunes_then_pushes_like_the_job(
    store: local_store.StateStore,
) -> None:
    ws = _tuning(
        {"urls": ["https://example.com/a.parquet"]},
        {"image": "registry.example.com/adapter:1", "imagePushSecret": "s"},
    )

    result = _plan(ws, store)

    names = [s.name for s in result.steps]
    assert names == ["fetch-data", "tune", "push"]
    mnt = store.mnt_dir("tw")
    fetch, tune, push = result.steps
    assert fetch.argv[-4:] == (
        "fetch-data",
        "https://example.com/a.parquet",
        "--dest",
        str(mnt / "data"),
    )
    assert tune.argv[0].endswith("kaito-tune") or "kaito.cli.tune" in tune.argv[-1]
    assert "--method" in tune.argv
    assert tune.argv[tune.argv.index("--method") + 1] == "qlora"
    assert tune.argv[tune.argv.index("--model") + 1] == "smollm2-135m-instruct"
    assert tune.env["YAML_FILE_PATH"] == str(mnt / "config" / "training_config.yaml")
    assert tune.env["DATASET_FOLDER_PATH"] == str(mnt / "data")
    assert push.argv[-5:] == (
        "push",
        str(mnt / "results"),
        "registry.example.com/adapter:1",
        "--base-model",
        "smollm2-135m-instruct",
    )
    assert result.output_dir == mnt / "results"
    config = yaml.safe_load(result.files[mnt / "config" / "training_config.yaml"])
    assert config["training_config"]["TrainingArguments"]["output_dir"] == str(mnt / "results")


def test_image_input_is_pulled(store: local_store.StateStore) -> None:
    ws = _tuning(
        {"image": "registry.example.com/data:1"}, {"volumeSource": {"hostPath": {"path": "/o"}}}
    )

    result = _plan(ws, store)

    assert [s.name for s in result.steps] == ["pull-data", "tune"]
    assert result.steps[0].argv[-3:] == (
        "pull",
        "registry.example.com/data:1",
        str(store.mnt_dir("tw") / "data"),
    )
    assert result.copy_output_to == Path("/o")


def test_relative_host_path_is_taken_from_the_workspace_folder(
    store: local_store.StateStore, tmp_path: Path
) -> None:
    ws = _tuning(
        {"volumeSource": {"hostPath": {"path": "data"}}},
        {"volumeSource": {"hostPath": {"path": "/abs/out"}}},
    )

    result = _plan(ws, store, base_dir=tmp_path)

    assert [s.name for s in result.steps] == ["tune"]
    assert result.steps[0].env["DATASET_FOLDER_PATH"] == str(tmp_path / "data")
    assert result.copy_output_to == Path("/abs/out")


def test_a_pvc_volume_has_no_local_meaning(store: local_store.StateStore) -> None:
    ws = _tuning(
        {"volumeSource": {"persistentVolumeClaim": {"claimName": "c"}}},
        {"image": "registry.example.com/adapter:1", "imagePushSecret": "s"},
    )

    with pytest.raises(
        plan.PlanError, match=r"tuning.input.volumeSource: only hostPath .*persistentVolumeClaim"
    ):
        _plan(ws, store)


def test_serve_after_tuning_links_the_adapter_and_serves_it(store: local_store.StateStore) -> None:
    ws = _tuning(
        {"urls": ["https://example.com/a.parquet"]}, {"volumeSource": {"hostPath": {"path": "/o"}}}
    )

    result = _plan(ws, store, serve=True, model_dir=Path("/models/tiny"))

    serve = result.steps[-1]
    assert serve.kind == "server"
    assert "--port=5123" in serve.argv
    assert "--host=127.0.0.1" in serve.argv
    assert "--model=/models/tiny" in serve.argv
    assert "--served-model-name=smollm2-135m-instruct" in serve.argv
    assert f"--kaito-adapters-dir={store.adapters_dir('tw')}" in serve.argv
    assert result.links[0].link == store.adapters_dir("tw") / "tw"
    assert result.links[0].target == store.mnt_dir("tw") / "results"
    assert result.adapter_names == ("tw",)


@pytest.mark.parametrize("output_dir", ["/tmp/results", "/mnt", "/mnt/../etc"])
def test_output_dir_outside_mnt_is_refused(output_dir: str, tmp_path: Path) -> None:
    text = f"training_config:\n  TrainingArguments:\n    output_dir: {output_dir}\n"

    with pytest.raises(plan.PlanError, match="sub-directory of /mnt"):
        plan.rewrite_output_dir(text, tmp_path)


def test_relative_output_dir_lands_under_local_mnt(tmp_path: Path) -> None:
    text = "training_config:\n  TrainingArguments:\n    output_dir: out/adapter\n"

    _, local = plan.rewrite_output_dir(text, tmp_path)

    assert local == tmp_path / "out" / "adapter"


def _inference(adapters: list[dict[str, object]], template: bool = False) -> v1beta1.Workspace:
    inference: dict[str, object] = {"adapters": adapters}
    if template:
        inference["template"] = {"spec": {"containers": []}}
    else:
        inference["preset"] = {"name": "smollm2-135m-instruct"}
    return v1beta1.Workspace.model_validate(
        {
            "metadata": {"name": "iw"},
            "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": inference,
        }
    )


def test_inference_pulls_image_adapters_and_links_volume_ones(
    store: local_store.StateStore,
) -> None:
    ws = _inference(
        [
            {"source": {"name": "from-image", "image": "registry.example.com/a:1"}},
            {
                "source": {
                    "name": "from-disk",
                    "volumeSource": {"hostPath": {"path": "/adapters/x"}},
                }
            },
        ]
    )

    result = plan.plan_inference(
        ws, store, config_text="vllm: {}", port=5555, engine="transformers"
    )

    adapters = store.adapters_dir("iw")
    assert [s.name for s in result.steps] == ["pull-adapter-from-image", "serve"]
    assert result.steps[0].argv[-3:] == (
        "pull",
        "registry.example.com/a:1",
        str(adapters / "from-image"),
    )
    assert result.links[0].link == adapters / "from-disk"
    assert result.links[0].target == Path("/adapters/x")
    assert result.adapter_names == ("from-image", "from-disk")
    config_file = store.mnt_dir("iw") / "config" / "inference_config.yaml"
    assert f"--kaito-config-file={config_file}" in result.steps[-1].argv
    assert result.files[config_file] == "vllm: {}"


def test_a_custom_pod_template_cannot_run_locally(store: local_store.StateStore) -> None:
    with pytest.raises(plan.PlanError, match=r"inference\.template"):
        plan.plan_inference(
            _inference([], template=True), store, config_text=None, port=1, engine="transformers"
        )


@pytest.mark.parametrize(
    ("engine", "annotations", "benchmark"),
    [
        ("vllm", {}, True),
        ("vllm", {"kaito.sh/disable-benchmark": "true"}, False),
        ("transformers", {}, False),
    ],
)
def test_local_vllm_servers_benchmark_as_in_a_cluster(
    store: local_store.StateStore, engine: str, annotations: dict[str, str], benchmark: bool
) -> None:
    ws = _inference([])
    ws.metadata.annotations = annotations
    result = plan.plan_inference(ws, store, config_text=None, port=5555, engine=engine)
    assert result.benchmark is benchmark
    assert ("--kaito-benchmark" in result.steps[-1].argv) is benchmark

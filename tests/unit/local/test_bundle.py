from __future__ import annotations

from pathlib import Path

import pytest

from kaito.local import bundle
from tests.unit.local.conftest import inference_yaml, tuning_yaml

CONFIGMAP = """\
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}}}
data:
  {key}: |
    {body}
"""


def test_configmap_in_the_same_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "ws.yaml"
    path.write_text(
        tuning_yaml(config="my-config")
        + CONFIGMAP.format(name="my-config", key="training_config.yaml", body="training_config: {}")
    )

    found = bundle.load_bundle(path)

    assert bundle.resolve_tuning_config(found).strip() == "training_config: {}"


def test_configmap_in_a_sibling_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(tuning_yaml(config="shared"))
    (tmp_path / "configs.yml").write_text(
        CONFIGMAP.format(name="shared", key="training_config.yaml", body="training_config: {}")
    )
    (tmp_path / "broken.yaml").write_text("{ not: yaml: at all")

    found = bundle.load_bundle(tmp_path / "ws.yaml")

    assert "training_config" in bundle.resolve_tuning_config(found)


def test_missing_configmap_is_named_with_its_field(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(tuning_yaml(config="nowhere"))
    found = bundle.load_bundle(tmp_path / "ws.yaml")

    with pytest.raises(
        bundle.BundleError, match=r"ConfigMap 'nowhere' specified in 'tuning\.config'"
    ):
        bundle.resolve_tuning_config(found)


def test_configmap_without_the_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(
        tuning_yaml(config="wrong-key")
        + CONFIGMAP.format(name="wrong-key", key="other.yaml", body="x: 1")
    )
    found = bundle.load_bundle(tmp_path / "ws.yaml")

    with pytest.raises(bundle.BundleError, match=r"has no key training_config\.yaml"):
        bundle.resolve_tuning_config(found)


@pytest.mark.parametrize(("method", "four_bit"), [("lora", "false"), ("qlora", "true")])
def test_no_config_means_the_upstream_default_for_the_method(
    tmp_path: Path, method: str, four_bit: str
) -> None:
    (tmp_path / "ws.yaml").write_text(tuning_yaml(method=method))
    found = bundle.load_bundle(tmp_path / "ws.yaml")

    text = bundle.resolve_tuning_config(found)

    assert f"load_in_4bit: {four_bit}" in text
    assert 'output_dir: "/mnt/results"' in text


def test_inference_config_is_read_from_its_configmap(tmp_path: Path) -> None:
    doc = inference_yaml().replace(
        "inference:\n", "inference:\n  config: serve-config\n"
    ) + CONFIGMAP.format(name="serve-config", key="inference_config.yaml", body="vllm: {}")
    (tmp_path / "ws.yaml").write_text(doc)

    found = bundle.load_bundle(tmp_path / "ws.yaml")

    assert bundle.resolve_inference_config(found) == "vllm: {}\n"


def test_a_file_without_a_workspace_is_unreadable_input(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")

    with pytest.raises(bundle.BundleError, match="holds no Workspace") as caught:
        bundle.load_bundle(tmp_path / "ws.yaml")
    assert caught.value.exit_code == 2


def test_two_workspaces_in_one_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(inference_yaml("a") + "---\n" + inference_yaml("b"))

    with pytest.raises(bundle.BundleError, match="holds 2 Workspaces"):
        bundle.load_bundle(tmp_path / "ws.yaml")


def test_a_malformed_workspace_lists_the_field(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(inference_yaml().replace("instanceType", "instancetype"))

    with pytest.raises(bundle.BundleError, match="instancetype") as caught:
        bundle.load_bundle(tmp_path / "ws.yaml")
    assert caught.value.exit_code == 1


def test_v1alpha1_is_kept_for_validation_and_converted_for_running(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text(inference_yaml().replace("v1beta1", "v1alpha1"))

    found = bundle.load_bundle(tmp_path / "ws.yaml")

    assert found.original.api_version == "kaito.sh/v1alpha1"
    assert found.workspace.api_version == "kaito.sh/v1beta1"

"""Fixtures for local-mode unit tests: a state store and Workspace files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.local import machine
from kaito.local import store as local_store

TUNING_YAML = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {{apps: local-test}}
tuning:
  preset: {{name: {preset}}}
  method: {method}
{config_line}  input:
{input}
  output:
{output}
"""

INFERENCE_YAML = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
{annotations}resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {{apps: local-test}}
inference:
  preset: {{name: {preset}}}
{adapters}"""


def tuning_yaml(
    name: str = "tune-me",
    preset: str = "smollm2-135m-instruct",
    method: str = "lora",
    config: str | None = None,
    input_block: str = "    name: facts\n    volumeSource: {hostPath: {path: data}}",
    output_block: str = "    volumeSource: {hostPath: {path: out}}",
) -> str:
    """A tuning Workspace document."""
    return TUNING_YAML.format(
        name=name,
        preset=preset,
        method=method,
        config_line=f"  config: {config}\n" if config else "",
        input=input_block,
        output=output_block,
    )


def inference_yaml(
    name: str = "serve-me",
    preset: str = "smollm2-135m-instruct",
    annotations: dict[str, str] | None = None,
    adapters: str = "",
) -> str:
    """An inference Workspace document."""
    ann = ""
    if annotations:
        ann = "  annotations:\n" + "".join(f'    {k}: "{v}"\n' for k, v in annotations.items())
    return INFERENCE_YAML.format(name=name, preset=preset, annotations=ann, adapters=adapters)


@pytest.fixture
def store(tmp_path: Path) -> local_store.StateStore:
    """An empty state directory."""
    return local_store.StateStore(tmp_path / "state")


@pytest.fixture
def roomy_machine() -> machine.MachineFacts:
    """A CPU machine with plenty of memory and the hub reachable."""
    return machine.MachineFacts(
        memory_gib=64.0, has_gpu=False, vllm_installed=False, hub_reachable=True
    )

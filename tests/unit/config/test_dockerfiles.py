"""Static checks of the images under ``docker/`` (no container engine can build them here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[3] / "docker"
ML_PACKAGES = ("torch", "transformers", "vllm", "peft", "trl", "bitsandbytes", "accelerate")


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = _instructions(path)
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


@pytest.mark.parametrize("name", ["operator.Dockerfile", "runtime.Dockerfile"])
def test_images_run_as_a_numeric_non_root_user(name):
    users = [arg for keyword, arg in _final_stage(DOCKER / name) if keyword == "USER"]
    assert users, f"{name}: the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"{name}: USER {users[-1]} must be numeric for runAsNonRoot"
    assert int(uid) != 0


def test_operator_image_installs_only_the_operator_extra():
    runs = " ".join(
        arg for keyword, arg in _instructions(DOCKER / "operator.Dockerfile") if keyword == "RUN"
    )
    extras = re.findall(r"\.\[([a-z,]+)\]", runs)
    assert extras == ["operator"]
    for package in ML_PACKAGES:
        assert not re.search(rf"\b{package}\b", runs), f"operator image installs {package}"


def test_runtime_image_installs_serve_and_tune_with_pinned_torch_and_optional_vllm():
    instructions = _instructions(DOCKER / "runtime.Dockerfile")
    runs = " ".join(arg for keyword, arg in instructions if keyword == "RUN")
    assert ".[serve,tune]" in runs
    assert re.search(r"torch==\$\{TORCH_VERSION\}", runs)
    args = {arg.split("=")[0]: arg for keyword, arg in instructions if keyword == "ARG"}
    assert args["WITH_VLLM"] == "WITH_VLLM=false"
    assert '[ "${WITH_VLLM}" = "true" ]' in runs
    # Multi-node inference runs `ray start`: the vLLM build must bring ray.
    assert re.search(r'\.\[vllm\]" "ray\[default\]', runs)


def test_runtime_torch_pin_matches_the_makefile_pin():
    makefile = (DOCKER.parent / "Makefile").read_text()
    pinned = re.search(r"^TORCH_PIN := torch==(\S+)$", makefile, re.M)
    dockerfile = (DOCKER / "runtime.Dockerfile").read_text()
    declared = re.search(r"^ARG TORCH_VERSION=(\S+)$", dockerfile, re.M)
    assert pinned is not None
    assert declared is not None
    assert declared.group(1) == pinned.group(1)


def test_runtime_image_links_the_chat_templates_at_upstreams_path():
    runs = " ".join(
        arg for keyword, arg in _final_stage(DOCKER / "runtime.Dockerfile") if keyword == "RUN"
    )
    link = re.search(r"ln -s \"\$\(python -c '([^']+)'\)\" (\S+)", runs)
    assert link is not None
    assert link.group(2) == "/workspace/chat_templates"
    assert '"data" / "chat_templates"' in link.group(1)


def test_runtime_image_carries_the_cuda_provision_script_the_init_container_runs():
    from kaito.api import constants

    copies = [
        arg for keyword, arg in _final_stage(DOCKER / "runtime.Dockerfile") if keyword == "COPY"
    ]
    assert any(arg.endswith(f"docker/cuda-provision.sh {constants.PATH_CUDA_PROVISION_SCRIPT}")
               for arg in copies)  # fmt: skip
    script = (DOCKER / "cuda-provision.sh").read_text()
    assert script.startswith("#!/bin/sh")
    assert 'if [ -x "$target/bin/nvcc" ]' in script  # a second pod on the node installs nothing

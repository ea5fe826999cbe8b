"""vLLM kernel switches and the node CUDA toolkit in inference pods, as upstream sets them."""

from __future__ import annotations

import pytest

from kaito.manifests import inference
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from kaito.presets import catalog, skus
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws


def _pod(preset: str, runtime: str = "vllm", sku: str = "Standard_ND96isr_H100_v5") -> dict:
    ws = make_ws(
        INFERENCE_WS,
        metadata={"annotations": {"kaito.sh/runtime": runtime}},
        resource={"instanceType": sku},
        inference={"preset": {"name": preset}},
    )
    plan = WorkloadPlan(gpu=skus.get_sku(sku), node_count=1, runtime=runtime)
    sts = inference.build_statefulset(ws, ManifestSettings(), plan)
    pod: dict = sts["spec"]["template"]["spec"]
    return pod


def _env(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


def test_every_vllm_pod_turns_off_the_flashinfer_sampler_and_deep_gemm():
    pod = _pod("phi-4-mini-instruct")
    env = _env(pod)
    assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    assert env["VLLM_USE_DEEP_GEMM"] == "0"
    assert "CUDA_HOME" not in env
    assert all(c["name"] != "cuda-toolkit-provisioner" for c in pod.get("initContainers", []))


def test_transformers_pods_get_no_vllm_switches():
    env = _env(_pod("phi-4", runtime="transformers", sku="Standard_NC24ads_A100_v4"))
    assert "VLLM_USE_FLASHINFER_SAMPLER" not in env
    assert "VLLM_USE_DEEP_GEMM" not in env


@pytest.mark.parametrize(
    ("preset", "deep_gemm"),
    [("deepseek-ai/DeepSeek-V3.2", "1"), ("mistralai/Mistral-Small-4-119B-2603", "0")],
)
def test_models_that_compile_kernels_get_the_node_toolkit(preset, deep_gemm):
    pod = _pod(preset)
    env = _env(pod)
    assert env["VLLM_USE_DEEP_GEMM"] == deep_gemm
    assert env["CUDA_HOME"] == "/opt/kaito/cuda/129"
    volume = next(v for v in pod["volumes"] if v["name"] == "cuda-toolkit-hostpath")
    assert volume["hostPath"] == {"path": "/opt/kaito/cuda/129", "type": "DirectoryOrCreate"}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    assert mount == {**mount, "mountPath": "/opt/kaito/cuda/129", "readOnly": True}
    first = pod["initContainers"][0]
    assert first["name"] == "cuda-toolkit-provisioner"
    assert first["command"][-1] == "/opt/kaito/cuda/129"  # passed as $1, never in the shell text
    assert "/opt/kaito" not in first["command"][2]


def test_deep_gemm_follows_the_architecture():
    needs = {s.name for s in catalog.list_models() if s.requires_deep_gemm}
    assert {"deepseek-ai/DeepSeek-V3.2", "deepseek-ai/DeepSeek-V4-Pro"} <= needs
    assert "deepseek-v3-0324" not in needs  # DeepseekV3ForCausalLM runs without DeepGEMM

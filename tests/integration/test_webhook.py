"""The validating webhook as users meet it: ``kubectl apply`` against the real API server.

The API server calls the operator's webhook over TLS (``caBundle`` from the test CA) for every
create and update of a Workspace, in either served version; refusals and warnings reach kubectl.
"""

from __future__ import annotations

import yaml

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness


def _apply(harness: Harness, body: dict) -> tuple[int, str, str]:
    body = {**body, "metadata": {**body["metadata"], "namespace": harness.ns}}
    proc = harness.kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    return proc.returncode, proc.stdout, proc.stderr


async def test_kubectl_apply_of_a_workspace_with_neither_inference_nor_tuning_is_refused(
    harness: Harness,
) -> None:
    await harness.start_operator()
    bad = inference_workspace("empty")
    del bad["inference"]

    code, _, err = _apply(harness, bad)

    assert code == 1
    assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in err
    assert "Either Inference or Tuning must be specified, not neither" in err
    assert harness.workspace("empty") is None


async def test_valid_workspace_is_admitted_and_an_immutable_change_is_refused(
    harness: Harness,
) -> None:
    await harness.start_operator()
    code, out, err = _apply(harness, inference_workspace("fine"))
    assert code == 0, err
    assert "workspace.kaito.sh/fine created" in out

    changed = inference_workspace("fine", instance_type="Standard_NC48ads_A100_v4")
    code, _, err = _apply(harness, changed)

    assert code == 1
    assert "instanceType" in err
    stored = harness.workspace("fine")
    assert stored is not None
    assert stored["resource"]["instanceType"] == "Standard_NC24ads_A100_v4"


async def test_v1alpha1_workspace_goes_through_the_same_admission(harness: Harness) -> None:
    await harness.start_operator()
    bad = inference_workspace("old-api")
    bad["apiVersion"] = "kaito.sh/v1alpha1"
    bad["inference"]["preset"]["name"] = "no-such-model-anywhere"

    code, _, err = _apply(harness, bad)

    assert code == 1
    assert "no-such-model-anywhere" in err


async def test_webhook_reads_the_inference_configmap_from_the_cluster(harness: Harness) -> None:
    await harness.start_operator()
    ws = inference_workspace("configured")
    ws["inference"]["config"] = "my-inference-params"

    code, _, err = _apply(harness, ws)
    assert code == 1
    assert (
        f"ConfigMap 'my-inference-params' specified in 'config' not found in namespace "
        f"'{harness.ns}'" in err
    )

    harness.create(
        "configmaps",
        {
            "metadata": {"name": "my-inference-params"},
            "data": {"inference_config.yaml": "vllm:\n  max-model-len: 4096\n"},
        },
    )
    code, _, err = _apply(harness, ws)
    assert code == 0, err


async def test_admission_warnings_are_shown_by_kubectl(harness: Harness) -> None:
    await harness.start_operator()
    ws = inference_workspace(
        "unlisted-sku", instance_type="Standard_NV6ads_A10_v5", preset="mistral-7b-instruct"
    )

    code, _, err = _apply(harness, ws)

    assert code == 0, err
    assert "Warning:" in err
    assert "not in the azure SKU table" in err


async def test_the_crd_schema_rejects_what_the_webhook_never_sees(harness: Harness) -> None:
    """Structural schema validation runs in the API server before admission webhooks."""
    await harness.start_operator()
    ws = inference_workspace("typed")
    ws["resource"]["count"] = "two"

    code, _, err = _apply(harness, ws)

    assert code == 1
    assert "resource.count" in err
    assert "integer" in err
